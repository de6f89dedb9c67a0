package interpret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/divinewhispers/dw/fortune"
)

// maxCandidates bounds how many '{' the parser tries as the start of the answer, so that prose
// full of braces costs linear time.
const maxCandidates = 16

// parseResult reads a model's answer: one JSON object with the Result fields, alone or inside
// ```json fences, after a <think> block, wrapped in an outer object, or between prose. It is
// lenient about shape (a string where a list is due, aspects as a name → guidance object, poem
// lines with stray punctuation or numbering) and strict about substance: the result must
// Validate against p.
func parseResult(content string, p fortune.Poem, lang, model string) (Result, error) {
	if i := strings.LastIndex(content, "</think>"); i >= 0 {
		content = content[i+len("</think>"):]
	}
	w, err := findObject(content)
	if err != nil {
		return Result{}, err
	}
	r := Result{
		Summary:   strings.TrimSpace(w.Summary),
		Aspects:   w.Aspects,
		Advice:    w.Advice,
		Cautions:  w.Cautions,
		PoemLines: canonicalLines(append(w.PoemLines, w.PoemLinesCamel...), p),
		Language:  lang,
		Model:     model,
	}
	if err := r.Validate(p); err != nil {
		return Result{}, err
	}
	return r, nil
}

// wireResult is the answer as models write it.
type wireResult struct {
	Summary        string     `json:"summary"`
	Aspects        aspectList `json:"aspects"`
	Advice         stringList `json:"advice"`
	Cautions       stringList `json:"cautions"`
	PoemLines      stringList `json:"poem_lines"`
	PoemLinesCamel stringList `json:"poemLines"`
}

// findObject decodes the first JSON object in s that has a summary. Failing that it returns
// what the first '{' held, so that the error says what was wrong with the most likely answer:
// either why it does not decode, or (from validation) what it lacks.
func findObject(s string) (wireResult, error) {
	var first wireResult
	var firstErr error
	from := 0
	for n := 0; n < maxCandidates; n++ {
		i := strings.IndexByte(s[from:], '{')
		if i < 0 {
			if n == 0 {
				return wireResult{}, errors.New("no JSON object in the answer")
			}
			break
		}
		from += i
		var w wireResult
		err := json.NewDecoder(strings.NewReader(s[from:])).Decode(&w)
		from++
		if err == nil && strings.TrimSpace(w.Summary) != "" {
			return w, nil
		}
		if n == 0 {
			first, firstErr = w, err
		}
	}
	if firstErr != nil {
		return wireResult{}, fmt.Errorf("no valid JSON object in the answer: %w", firstErr)
	}
	return first, nil
}

// stringList is a list of non-empty trimmed strings, also accepted as a single string.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*l = nil
		return nil
	}
	var list []string
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		list = []string{s}
	} else if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	out := (*l)[:0]
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	*l = out
	return nil
}

// aspectList is a list of {name, guidance}, also accepted as an object of name → guidance in
// document order.
type aspectList []Aspect

func (l *aspectList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	var out []Aspect
	switch {
	case bytes.Equal(b, []byte("null")):
	case len(b) > 0 && b[0] == '{':
		dec := json.NewDecoder(bytes.NewReader(b))
		if _, err := dec.Token(); err != nil {
			return err
		}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			var v string
			if err := dec.Decode(&v); err != nil {
				return err
			}
			name, _ := k.(string)
			out = append(out, Aspect{Name: name, Guidance: v})
		}
	default:
		if err := json.Unmarshal(b, (*[]Aspect)(&out)); err != nil {
			return err
		}
	}
	*l = (*l)[:0]
	for _, a := range out {
		a.Name, a.Guidance = strings.TrimSpace(a.Name), strings.TrimSpace(a.Guidance)
		if a.Name != "" || a.Guidance != "" {
			*l = append(*l, a)
		}
	}
	return nil
}

// canonicalLines maps each line a model quoted to the poem's own wording when they differ only
// in spaces, punctuation, numbering or quotes, and drops repeats. Lines that match none are kept
// as given, for Validate to reject.
func canonicalLines(lines []string, p fortune.Poem) []string {
	var out []string
	for _, l := range lines {
		key := lineKey(l)
		for _, pl := range p.Lines {
			if key != "" && lineKey(pl) == key {
				l = pl
				break
			}
		}
		dup := false
		for _, o := range out {
			dup = dup || o == l
		}
		if !dup {
			out = append(out, l)
		}
	}
	return out
}

func lineKey(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || ('0' <= r && r <= '9') {
			return -1
		}
		return r
	}, s)
}
