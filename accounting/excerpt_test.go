package accounting_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/divinewhispers/dw/accounting"
)

func TestExcerpt(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 300)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"short", "bad job id \"x\"", "bad job id \"x\""},
		{"exactly the cap", long[:accounting.MaxExcerpt], long[:accounting.MaxExcerpt]},
		{"long", long, long[:accounting.MaxExcerpt-len("…")] + "…"},
		// 199 ASCII bytes then a 3-byte rune: the cut falls inside it and moves before it.
		{"cut inside a rune", long[:accounting.MaxExcerpt-len("…")-1] + "€€€", long[:accounting.MaxExcerpt-len("…")-1] + "…"},
		{"NUL", "a\x00b", "a\uFFFDb"},
		{"invalid UTF-8", "a\xffb\xc3", "a\uFFFDb\uFFFD"},
		{"control characters", "a\nb\rc\x1bd\te", "a\uFFFDb\uFFFDc\uFFFDd\te"},
	} {
		got := accounting.Excerpt(tc.in)
		if got != tc.want {
			t.Errorf("%s: Excerpt = %q; want %q", tc.name, got, tc.want)
		}
		if len(got) > accounting.MaxExcerpt || !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
			t.Errorf("%s: Excerpt = %q: %d bytes, valid UTF-8 %t", tc.name, got, len(got), utf8.ValidString(got))
		}
	}
}

// A bad line is quoted in its error, never more than MaxExcerpt bytes of it, and never with a
// NUL or invalid UTF-8: the first line of a key file read by mistake is not copied whole.
func TestLineErrorsAreExcerpts(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("k", 500) + "\x00\xff"
	for _, format := range []string{accounting.FormatSacct, accounting.FormatJobcomp, accounting.FormatPBS} {
		in := "JobID|State|End\n" + secret + "|COMPLETED|" + secret + "\n"
		if format != accounting.FormatSacct {
			in = "JobId=" + secret + " UserId=a(1) StartTime=" + secret + "\n" + secret + "\n"
		}
		res, err := accounting.Parse(format, strings.NewReader(in), accounting.Options{File: "f", Final: true})
		if err != nil {
			if msg := err.Error(); strings.Contains(msg, strings.Repeat("k", accounting.MaxExcerpt)) || !utf8.ValidString(msg) {
				t.Errorf("%s: error %q quotes more than an excerpt", format, msg)
			}
			continue
		}
		if len(res.Errors) == 0 {
			t.Errorf("%s: no line error for %q", format, in)
		}
		for _, e := range res.Errors {
			if len(e.Err) > accounting.MaxExcerpt || !utf8.ValidString(e.Err) || strings.ContainsRune(e.Err, 0) {
				t.Errorf("%s: line error %q: %d bytes", format, e.Err, len(e.Err))
			}
		}
	}
	// An unusable header is refused with an excerpt of it.
	_, err := accounting.Parse(accounting.FormatSacct, strings.NewReader(secret+"\n"), accounting.Options{File: "jwt.key", Final: true})
	if err == nil || strings.Contains(err.Error(), strings.Repeat("k", accounting.MaxExcerpt)) {
		t.Errorf("unusable header: %v", err)
	}
}
