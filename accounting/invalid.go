package accounting

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	dw "github.com/divinewhispers/dw"
)

// Problem is one thing wrong with an input, keyed by the field it is about. Its message names
// fields as {field} (e.g. "{glob} %q must select files of {dir} itself"), so that each adapter
// shows them by its own names: the gateway by its JSON fields (the domain's names), the CLI by
// its flags (Problem.Render). The values quoted (Args) are never read for {field}s.
type Problem struct {
	Field  string // the field, by the domain's name (= the API's JSON field)
	format string // fmt format; {name} stands for the field name
	args   []any
}

var fieldRef = regexp.MustCompile(`\{([a-z_]+)\}`)

// Render is the problem's message with fields named by name (nil: the domain's names).
func (p Problem) Render(name func(field string) string) string {
	if name == nil {
		name = func(f string) string { return f }
	}
	format := fieldRef.ReplaceAllStringFunc(p.format, func(m string) string {
		return strings.ReplaceAll(name(m[1:len(m)-1]), "%", "%%")
	})
	return fmt.Sprintf(format, p.args...)
}

// String is the message with the domain's field names.
func (p Problem) String() string { return p.Render(nil) }

// Problems collects what is wrong with an input; Err turns them into one invalid error.
type Problems struct {
	list []Problem
	code string // a finer code than invalid (e.g. a refusal by the ingest roots); the first wins
}

// Add records a problem of field; format names fields as {field}.
func (ps *Problems) Add(field, format string, args ...any) {
	ps.list = append(ps.list, Problem{Field: field, format: format, args: args})
}

// AddCoded is Add with a finer error code than invalid (the first one given is the error's).
func (ps *Problems) AddCoded(code, field, format string, args ...any) {
	if ps.code == "" {
		ps.code = code
	}
	ps.Add(field, format, args...)
}

// Merge adds the problems of an error Err returned (other errors are ignored).
func (ps *Problems) Merge(err error) {
	inv, ok := AsInvalid(err)
	if !ok {
		return
	}
	if ps.code == "" {
		ps.code = inv.Code
	}
	ps.list = append(ps.list, inv.Problems...)
}

// Empty reports whether no problem was recorded.
func (ps *Problems) Empty() bool { return len(ps.list) == 0 }

// Err is nil without problems, else a dw.Error of kind invalid (code invalid, or the finer
// one given) whose message lists every problem, and whose cause is an *Invalid that holds them
// (AsInvalid) for adapters that name fields their own way.
func (ps *Problems) Err() error {
	if len(ps.list) == 0 {
		return nil
	}
	inv := &Invalid{Code: ps.code, Problems: append([]Problem(nil), ps.list...)}
	if inv.Code == "" {
		inv.Code = string(dw.KindInvalid)
	}
	fields := map[string]string{}
	for _, p := range inv.Problems {
		if prev, ok := fields[p.Field]; ok {
			fields[p.Field] = prev + "; " + p.String()
		} else {
			fields[p.Field] = p.String()
		}
	}
	return &dw.Error{Kind: dw.KindInvalid, Code: inv.Code, Message: inv.Render(nil, "; "), Err: inv,
		Extensions: map[string]any{dw.FieldsExtension: fields}}
}

// Invalid is every problem of an input (the cause of the error Problems.Err returns).
type Invalid struct {
	Code     string
	Problems []Problem
}

func (e *Invalid) Error() string { return e.Render(nil, "; ") }

// Render joins the problems' messages with sep, fields named by name (nil: the domain's names).
func (e *Invalid) Render(name func(field string) string, sep string) string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Render(name)
	}
	return strings.Join(msgs, sep)
}

// AsInvalid returns the problems err carries, when it is an error Problems.Err returned.
func AsInvalid(err error) (*Invalid, bool) {
	var inv *Invalid
	ok := errors.As(err, &inv)
	return inv, ok
}

// Page is the rule of one list's limit: how many items it answers by default and at most.
// Every list of the domain takes a limit from 1 to its Max (0: Default).
type Page struct{ Default, Max int }

// The lists' pages. The configuration lists (sources, a source's files, mappings, rates,
// quotas) were answered whole before they were paged: their default page is their largest, so a
// caller that never pages still sees all of a list of up to Max items at once.
var (
	PageQuotaEvents  = Page{Default: 100, Max: 1000}
	PageCharges      = Page{Default: 100, Max: 1000}
	PageIngestErrors = Page{Default: 50, Max: 1000}
	PageClusterUsers = Page{Default: 500, Max: 10000}
	PageTop          = Page{Default: 10, Max: 100} // the overview's top lists
	PageSources      = Page{Default: 1000, Max: 1000}
	PageSourceFiles  = Page{Default: 1000, Max: 1000}
	PageMappings     = Page{Default: 1000, Max: 1000}
	PageRates        = Page{Default: 1000, Max: 1000}
	PageQuotas       = Page{Default: 1000, Max: 1000}
)

// PageRequest asks for one page of a list: at most Limit items (0: the list's Page.Default),
// after Cursor, the opaque next cursor the previous page answered ("": the first page). Each
// list is in the order of a unique key (its method's doc names it), so paging through it shows
// every item once, whatever is added or removed meanwhile before or after the cursor.
type PageRequest struct {
	Limit  int
	Cursor string
}

// page checks a request by the list's rule and gives its limit a value. Errors: invalid (limit).
func (p Page) page(r PageRequest) (PageRequest, error) {
	var err error
	r.Limit, err = p.Limit(r.Limit)
	return r, err
}

// Limit returns n, or the default for 0. Errors: invalid (field "limit") outside 1..Max.
func (p Page) Limit(n int) (int, error) {
	if n == 0 {
		return p.Default, nil
	}
	if n < 1 || n > p.Max {
		var ps Problems
		ps.Add("limit", "{limit} must be an integer from 1 to %d", p.Max)
		return 0, ps.Err()
	}
	return n, nil
}
