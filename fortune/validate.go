package fortune

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	dw "github.com/divinewhispers/dw"
)

// Limits on a set. They keep an imported set small enough to hold in memory and show on a
// screen; a real temple set has 28 to 100 poems of four short lines.
const (
	MaxPoems            = 1000
	MaxSlugLen          = 64   // bytes; a slug is ASCII
	MaxNameRunes        = 100  // set name
	MaxDescriptionRunes = 4000 // set description
	MaxLanguageLen      = 35   // a BCP 47 tag
	MaxTitleRunes       = 32   // poem title, e.g. a 干支
	MaxLineRunes        = 64   // one line of a poem
	MaxMeaningRunes     = 500  // one topic's meaning
	MaxStoryRunes       = 2000
	MaxNoteRunes        = 1000
	LinesPerPoem        = 4
)

// maxProblems caps how many problems Validate and the parsers report: enough to fix a file in
// one pass, not so many that a garbage file yields megabytes of errors.
const maxProblems = 50

var (
	slugRE     = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	languageRE = regexp.MustCompile(`^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$`)
)

// ValidSlug says whether s is a set's slug: 1 to MaxSlugLen lowercase ASCII letters, digits and '-'.
func ValidSlug(s string) bool { return slugRE.MatchString(s) }

// problems collects located problems, up to maxProblems.
type problems struct {
	list []error
	more bool
}

func (p *problems) addf(format string, args ...any) {
	if len(p.list) >= maxProblems {
		p.more = true
		return
	}
	p.list = append(p.list, fmt.Errorf(format, args...))
}

func (p *problems) full() bool { return p.more }

// err is nil without problems, else an invalid error whose message lists every problem, one a
// line (errors.Join).
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	list := p.list
	if p.more {
		list = append(slices.Clip(list), fmt.Errorf("… more problems not shown (stopped after %d)", maxProblems))
	}
	return &dw.Error{Kind: dw.KindInvalid, Code: "invalid_poem_set", Message: errors.Join(list...).Error()}
}

// fieldProblem is one problem with one field of a poem or set. field names the JSON field,
// column the CSV column it comes from; sub names the element of field at fault (e.g. `line 3 `),
// which a CSV column already says.
type fieldProblem struct {
	field, column, sub, msg string
}

func (fp fieldProblem) jsonMsg() string { return fp.sub + fp.msg }

// Validate checks the set: slug, name and language; poems numbered 1..N without gaps or
// duplicates (in any order); each poem's title, four lines, level, meanings (overall required,
// keys from Topics) and text lengths; valid UTF-8 without control characters throughout.
// Errors: invalid, listing every problem (up to 50) with its location, e.g.
// `poem 12: field "lines": want 4 lines, got 3`.
func (s *Set) Validate() error {
	var ps problems
	for _, fp := range s.checkHeader() {
		ps.addf("set: field %q: %s", fp.field, fp.jsonMsg())
	}
	for i, p := range s.Poems {
		loc := fmt.Sprintf("poem %d", p.Number)
		if p.Number < 1 || p.Number > len(s.Poems) {
			loc = fmt.Sprintf("poem at index %d", i)
		}
		for _, fp := range p.check() {
			ps.addf("%s: field %q: %s", loc, fp.field, fp.jsonMsg())
		}
		if ps.full() {
			break
		}
	}
	atIndex := func(i int) string { return fmt.Sprintf("the poem at index %d", i) }
	for _, np := range checkNumbers(numbersOf(s.Poems), atIndex) {
		if np.index >= 0 {
			ps.addf("poem at index %d: field \"number\": %s", np.index, np.msg)
		} else {
			ps.addf("poems: %s", np.msg)
		}
	}
	return ps.err()
}

func (s *Set) checkHeader() []fieldProblem {
	var out []fieldProblem
	add := func(field, column, msg string) {
		out = append(out, fieldProblem{field: field, column: column, msg: msg})
	}
	if !slugRE.MatchString(s.Slug) {
		add("slug", "set_slug", fmt.Sprintf("%q is not a slug (1 to %d lowercase letters, digits and '-')", clip(s.Slug), MaxSlugLen))
	}
	if msg := checkText(s.Name, true, MaxNameRunes, false); msg != "" {
		add("name", "set_name", msg)
	}
	if msg := checkText(s.Description, false, MaxDescriptionRunes, true); msg != "" {
		add("description", "set_description", msg)
	}
	if len(s.Language) > MaxLanguageLen || !languageRE.MatchString(s.Language) {
		add("language", "language", fmt.Sprintf("%q is not a BCP 47 language tag such as \"zh-TW\"", clip(s.Language)))
	}
	if len(s.Poems) == 0 {
		add("poems", "", "the set has no poems")
	} else if len(s.Poems) > MaxPoems {
		add("poems", "", fmt.Sprintf("the set has %d poems, at most %d", len(s.Poems), MaxPoems))
	}
	return out
}

// check reports the problems of one poem apart from its number's place in the set.
func (p *Poem) check() []fieldProblem {
	var out []fieldProblem
	add := func(field, column, msg string) {
		out = append(out, fieldProblem{field: field, column: column, msg: msg})
	}
	if msg := checkText(p.Title, true, MaxTitleRunes, false); msg != "" {
		add("title", "title", msg)
	}
	if len(p.Lines) != LinesPerPoem {
		add("lines", "", fmt.Sprintf("want %d lines, got %d", LinesPerPoem, len(p.Lines)))
	}
	for i, l := range p.Lines {
		if i >= LinesPerPoem {
			break
		}
		if msg := checkText(l, true, MaxLineRunes, false); msg != "" {
			out = append(out, fieldProblem{"lines", fmt.Sprintf("line%d", i+1), fmt.Sprintf("line %d ", i+1), msg})
		}
	}
	if !slices.Contains(Levels, p.Level) {
		add("level", "level", fmt.Sprintf("%q is not a fortune level (one of %s)", clip(p.Level), strings.Join(Levels, ", ")))
	}
	if _, ok := p.Meanings["overall"]; !ok {
		add("meanings", "overall", `the "overall" meaning is required`)
	}
	for _, k := range sortedKeys(p.Meanings) {
		if !knownTopic(k) {
			add("meanings", "", fmt.Sprintf("%q is not a topic (one of %s)", clip(k), topicSlugs()))
			continue
		}
		if msg := checkText(p.Meanings[k], true, MaxMeaningRunes, true); msg != "" {
			out = append(out, fieldProblem{"meanings", k, fmt.Sprintf("%q ", k), msg})
		}
	}
	if msg := checkText(p.Story, false, MaxStoryRunes, true); msg != "" {
		add("story", "story", msg)
	}
	if msg := checkText(p.Note, false, MaxNoteRunes, true); msg != "" {
		add("note", "note", msg)
	}
	if p.Uncertain && p.Note == "" {
		add("note", "note", "an uncertain poem needs a note saying what is uncertain")
	}
	return out
}

type numberProblem struct {
	index int // the poem's index, or -1 for a problem of the whole set
	msg   string
}

func numbersOf(ps []Poem) []int {
	ns := make([]int, len(ps))
	for i, p := range ps {
		ns[i] = p.Number
	}
	return ns
}

// checkNumbers reports numbers outside 1..N and duplicates; N distinct numbers in 1..N leave
// no gap. When there are problems it also names the missing numbers, so the fix is evident.
// where describes the poem at an index, for the message about a duplicate.
func checkNumbers(ns []int, where func(int) string) []numberProblem {
	var out []numberProblem
	n := len(ns)
	if n == 0 || n > MaxPoems {
		return nil // reported with the set header
	}
	first := make(map[int]int, n)
	for i, num := range ns {
		switch j, dup := first[num]; {
		case num < 1 || num > n:
			out = append(out, numberProblem{i, fmt.Sprintf("%d is not in 1..%d (poems are numbered 1 to the number of poems)", num, n)})
		case dup:
			out = append(out, numberProblem{i, fmt.Sprintf("%d is already the number of %s", num, where(j))})
		default:
			first[num] = i
		}
	}
	if len(out) > 0 {
		var missing []string
		for num := 1; num <= n && len(missing) < 10; num++ {
			if _, ok := first[num]; !ok {
				missing = append(missing, fmt.Sprint(num))
			}
		}
		if len(missing) > 0 {
			out = append(out, numberProblem{-1, "missing numbers: " + strings.Join(missing, ", ")})
		}
	}
	return out
}

// checkText returns what is wrong with a text field, or "". Single-line fields must not start
// or end with white space; multi-line ones may hold '\n' and '\t' but no other control
// character ('\r' would not survive CSV).
func checkText(s string, required bool, maxRunes int, multiline bool) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	if s == "" {
		if required {
			return "is empty"
		}
		return ""
	}
	if required && strings.TrimSpace(s) == "" {
		return "is blank"
	}
	if n := utf8.RuneCountInString(s); n > maxRunes {
		return fmt.Sprintf("has %d characters, at most %d", n, maxRunes)
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t')) {
			return fmt.Sprintf("contains the control character %U", r)
		}
	}
	if !multiline && strings.TrimSpace(s) != s {
		return "starts or ends with white space"
	}
	return ""
}

func knownTopic(slug string) bool {
	return slices.ContainsFunc(Topics, func(t Topic) bool { return t.Slug == slug })
}

func topicSlugs() string {
	s := make([]string, len(Topics))
	for i, t := range Topics {
		s[i] = t.Slug
	}
	return strings.Join(s, ", ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// clip shortens a value quoted in an error message.
func clip(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max]) + "…"
}
