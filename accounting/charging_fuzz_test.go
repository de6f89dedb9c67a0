package accounting

import (
	"regexp"
	"strings"
	"testing"
)

var decimal = regexp.MustCompile(`^([0-9]+(\.[0-9]{0,3})?|\.[0-9]{1,3})$`)

// FuzzParseMilli: the decimals of rates, quotas and hours (from the API and the CLI) are
// accepted exactly when they are non-negative decimals with at most 3 decimals, and what is
// accepted formats back to the same value.
func FuzzParseMilli(f *testing.F) {
	for _, s := range []string{"0", "1.5", ".125", "12.", "  7 ", "-1", "1e3", "1.2345", "9223372036854775.807", "99999999999999999999", "", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseMilli(s, "x")
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("ParseMilli(%q) = %d < 0", s, v)
		}
		if !decimal.MatchString(strings.TrimSpace(s)) {
			t.Fatalf("ParseMilli accepted %q", s)
		}
		back, err := ParseMilli(FormatMilli(v), "x")
		if err != nil || back != v {
			t.Fatalf("ParseMilli(%q) = %d; FormatMilli → %q → %d, %v", s, v, FormatMilli(v), back, err)
		}
	})
}
