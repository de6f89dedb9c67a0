package interpret

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/divinewhispers/dw/fortune"
)

// Languages a reading can be written in.
const (
	LangZhTW = "zh-TW" // Traditional Chinese, the default
	LangEn   = "en"
)

// Limits on a request, the same as the job parameters'.
const (
	MaxQuestionRunes = 2000
	MaxContextRunes  = 4000
)

// Limits on a result, so that a rambling model cannot fill the database.
const (
	maxSummaryRunes = 4000
	maxItemRunes    = 2000
	maxItems        = 12
)

// Request is one poem drawn (or brought from a temple) and the person's own situation.
type Request struct {
	SetName  string       // e.g. "六十甲子籤"
	Poem     fortune.Poem // the poem drawn: four lines, its level, meanings and story
	Question string       // the person's own situation, 1 to MaxQuestionRunes runes
	Topic    string       // a fortune.Topics slug; "" means "overall"
	Context  string       // optional extra background, at most MaxContextRunes runes
	Language string       // LangZhTW (default when "") or LangEn
}

// Validate checks the request and fills its defaults (topic "overall", language zh-TW). The
// question is required: the reading is personal. Errors: an *Error with code "invalid_request"
// (permanent, kind invalid) joining every problem.
func (r *Request) Validate() error {
	var errs []error
	r.Question = strings.TrimSpace(r.Question)
	r.Context = strings.TrimSpace(r.Context)
	if n := utf8.RuneCountInString(r.Question); n == 0 || n > MaxQuestionRunes || !utf8.ValidString(r.Question) {
		errs = append(errs, fmt.Errorf("question must be 1 to %d characters of your own situation", MaxQuestionRunes))
	}
	if utf8.RuneCountInString(r.Context) > MaxContextRunes || !utf8.ValidString(r.Context) {
		errs = append(errs, fmt.Errorf("context must be at most %d characters", MaxContextRunes))
	}
	if r.Topic == "" {
		r.Topic = "overall"
	}
	if topicIndex(r.Topic) < 0 {
		errs = append(errs, fmt.Errorf("topic %q is not a known topic", r.Topic))
	}
	switch {
	case r.Language == "" || strings.EqualFold(r.Language, LangZhTW):
		r.Language = LangZhTW
	case strings.EqualFold(r.Language, LangEn):
		r.Language = LangEn
	default:
		errs = append(errs, fmt.Errorf(`language must be %q or %q`, LangZhTW, LangEn))
	}
	if len(r.Poem.Lines) != 4 {
		errs = append(errs, fmt.Errorf("poem must have 4 lines, has %d", len(r.Poem.Lines)))
	} else {
		for i, l := range r.Poem.Lines {
			if strings.TrimSpace(l) == "" {
				errs = append(errs, fmt.Errorf("poem line %d is empty", i+1))
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &Error{Code: CodeInvalidRequest, Message: errors.Join(errs...).Error()}
}

// Aspect is guidance on one side of the person's situation, e.g. the topic asked about, timing,
// or the people involved.
type Aspect struct {
	Name     string `json:"name"`
	Guidance string `json:"guidance"`
}

// Result is a personal interpretation.
type Result struct {
	Summary   string   `json:"summary"`
	Aspects   []Aspect `json:"aspects"`    // per-aspect guidance (≥ 1)
	Advice    []string `json:"advice"`     // what to do (≥ 1)
	Cautions  []string `json:"cautions"`   // what to watch out for (≥ 1)
	PoemLines []string `json:"poem_lines"` // the poem lines the reading rests on, each one of the poem's lines
	Language  string   `json:"language"`
	Model     string   `json:"model"` // "builtin" or the LLM model name
}

// Validate checks that r is a complete reading of poem p: a summary, at least one aspect, piece
// of advice and caution, all within size limits, and poem lines that are lines of p, each at
// most once. It returns an error joining every problem, or nil.
func (r Result) Validate(p fortune.Poem) error {
	var errs []error
	text := func(field, s string, max int) {
		switch {
		case strings.TrimSpace(s) == "":
			errs = append(errs, fmt.Errorf("%s is empty", field))
		case utf8.RuneCountInString(s) > max:
			errs = append(errs, fmt.Errorf("%s is longer than %d characters", field, max))
		}
	}
	count := func(field string, n int) bool {
		switch {
		case n == 0:
			errs = append(errs, fmt.Errorf("%s: none given", field))
		case n > maxItems:
			errs = append(errs, fmt.Errorf("%s: more than %d", field, maxItems))
		default:
			return true
		}
		return false
	}
	text("summary", r.Summary, maxSummaryRunes)
	if count("aspects", len(r.Aspects)) {
		for i, a := range r.Aspects {
			text(fmt.Sprintf("aspects[%d].name", i), a.Name, 100)
			text(fmt.Sprintf("aspects[%d].guidance", i), a.Guidance, maxItemRunes)
		}
	}
	if count("advice", len(r.Advice)) {
		for i, s := range r.Advice {
			text(fmt.Sprintf("advice[%d]", i), s, maxItemRunes)
		}
	}
	if count("cautions", len(r.Cautions)) {
		for i, s := range r.Cautions {
			text(fmt.Sprintf("cautions[%d]", i), s, maxItemRunes)
		}
	}
	if count("poem_lines", len(r.PoemLines)) {
		seen := make(map[string]bool, len(r.PoemLines))
		for i, l := range r.PoemLines {
			switch {
			case !isLineOf(l, p):
				errs = append(errs, fmt.Errorf("poem_lines[%d] %q is not a line of the poem", i, truncateRunes(l, 40)))
			case seen[l]:
				errs = append(errs, fmt.Errorf("poem_lines[%d] %q is given twice", i, l))
			}
			seen[l] = true
		}
	}
	if r.Language != LangZhTW && r.Language != LangEn {
		errs = append(errs, fmt.Errorf("language %q is not %q or %q", truncateRunes(r.Language, 20), LangZhTW, LangEn))
	}
	if strings.TrimSpace(r.Model) == "" {
		errs = append(errs, errors.New("model is empty"))
	}
	return errors.Join(errs...)
}

// Progress receives streamed output (text deltas) as it arrives. It is called from the
// goroutine that runs Interpret, never concurrently.
type Progress func(delta string)

// Interpreter turns a request into a personal reading. Interpret makes one attempt; retrying is
// the caller's business, guided by the *Error it returns (see ErrRetryable, ErrPermanent).
type Interpreter interface {
	Interpret(ctx context.Context, req Request, progress Progress) (Result, error)
	// Name identifies the interpreter in logs and metrics, e.g. "builtin".
	Name() string
}

func isLineOf(s string, p fortune.Poem) bool {
	for _, l := range p.Lines {
		if s == l && s != "" {
			return true
		}
	}
	return false
}

func topicIndex(slug string) int {
	for i, t := range fortune.Topics {
		if t.Slug == slug {
			return i
		}
	}
	return -1
}

// truncateRunes cuts s to at most n runes, marking a cut with "…".
func truncateRunes(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j] + "…"
		}
		i++
	}
	return s
}
