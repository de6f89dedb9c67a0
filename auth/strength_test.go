package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestCheckStrength(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		pw, email string
		weak      bool
		why       string // part of the explanation of a weak password
	}{
		{"password", "a@example.com", true, "top-10 common password"},
		{"12345678", "a@example.com", true, "top-10 common password"},
		{"Password", "a@example.com", true, "Capitalization doesn't help"},
		{"asdfghjkl;", "a@example.com", true, "Straight rows of keys"},
		{"aaaaaaaaaaaa", "a@example.com", true, `Repeats like "aaa"`},
		{"abcdefghijkl", "a@example.com", true, "Sequences like abc"},
		{"password-123", "a@example.com", true, "Add another word"},
		{"margaret.hopkins1", "margaret.hopkins@example.com", true, "your email address"},
		{"quintarzorblax", "zorblax.quintar@example.com", true, "your email address"},
		{"divinewhispers2026", "a@example.com", true, "name of this site"},
		// The demo passwords of the README and those the tests use stay acceptable.
		{"demo-admin-pass", "admin@example.com", false, ""},
		{"demo-operator-pass", "operator@example.com", false, ""},
		{"demo-service-pass", "service@example.com", false, ""},
		{"demo-user-pass", "user@example.com", false, ""},
		{"admin-password-1", "admin-1@example.com", false, ""},
		{"user-pass-123", "seeker@e2e.test", false, ""},
		{"correct horse battery staple", "a@example.com", false, ""},
		{"kq7#vLm2!pZx9@Rt", "", false, ""},
	} {
		err := CheckStrength(c.pw, c.email)
		if c.weak != (err != nil) {
			t.Errorf("%q (%s): %v, want weak %v", c.pw, c.email, err, c.weak)
			continue
		}
		if err != nil && (!errors.Is(err, ErrWeakPassword) || !strings.Contains(err.Error(), c.why) || !strings.Contains(err.Error(), "too easy to guess")) {
			t.Errorf("%q: %v, want ErrWeakPassword saying %q", c.pw, err, c.why)
		}
	}
}

// FuzzStrength feeds arbitrary passwords and emails to CheckStrength: it must not panic, never
// call a password of fewer than 6 characters strong, and answer within a second for any password
// the policy lets through (at most MaxPasswordLen characters; the seed slow_l33t_128_runes took
// 2 s before only a prefix was scored).
func FuzzStrength(f *testing.F) {
	f.Add("password", "a@example.com")
	f.Add("correct horse battery staple", "x.y@example.org")
	f.Add(strings.Repeat("ab1!", 32), "")
	f.Add("19901231 4815162342 qazwsx", "user@example.com")
	f.Fuzz(func(t *testing.T, pw, email string) {
		if utf8.RuneCountInString(pw) > MaxPasswordLen {
			pw = string([]rune(pw)[:MaxPasswordLen])
		}
		start := time.Now()
		err := CheckStrength(pw, email)
		if err == nil && len(pw) < 6 {
			t.Fatalf("%q called strong", pw)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("%q took %v", pw, d)
		}
	})
}
