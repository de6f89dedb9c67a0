package accounting

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxExcerpt is the most bytes of a log line an error message carries: errors are stored and
// shown to operators, and a file read by mistake must not be copied into them whole.
const MaxExcerpt = 200

// Excerpt makes s fit to store and show in an error message: invalid UTF-8 and control
// characters (NUL among them; tab is kept) become U+FFFD, and the text is cut on a character
// boundary to at most MaxExcerpt bytes, ending in "…" when cut.
func Excerpt(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || r != '\t' && unicode.IsControl(r) {
			clean = false
			break
		}
	}
	if !clean {
		s = strings.Map(func(r rune) rune {
			if r != '\t' && unicode.IsControl(r) {
				return utf8.RuneError
			}
			return r
		}, strings.ToValidUTF8(s, string(utf8.RuneError)))
	}
	if len(s) <= MaxExcerpt {
		return s
	}
	const more = "…"
	cut := MaxExcerpt - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}
