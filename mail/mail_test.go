package mail_test

import (
	"strings"
	"testing"
	"time"

	"github.com/divinewhispers/dw/mail"
)

func TestLanguage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ header, want string }{
		{"", "en"},
		{"en-US,en;q=0.9", "en"},
		{"zh-TW,zh;q=0.9,en;q=0.5", "zh-TW"},
		{"zh-Hant", "zh-TW"},
		{"zh-CN", "zh-TW"},
		{"fr-FR, de;q=0.5", "en"},
		{"de, zh-TW;q=0.8", "zh-TW"},
		{"\x00garbage;;;q=x", "en"},
	} {
		if got := mail.Language(tc.header); got != tc.want {
			t.Errorf("Language(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

// TestPreferredLanguage: a header that names neither language gives none (a new account's
// language then stays unchosen), where Language falls back to English.
func TestPreferredLanguage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ header, want string }{
		{"", ""},
		{"*", ""},
		{"fr-FR, de;q=0.5", ""},
		{"\x00garbage;;;q=x", ""},
		{"en-GB", "en"},
		{"zh-TW,zh;q=0.9,en;q=0.5", "zh-TW"},
		{"zh-Hant", "zh-TW"},
		{"de, zh-TW;q=0.8", "zh-TW"},
	} {
		if got := mail.PreferredLanguage(tc.header); got != tc.want {
			t.Errorf("PreferredLanguage(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	for _, lang := range []string{mail.LangEnglish, mail.LangZhTW} {
		subject, body := mail.PasswordReset(lang, "https://dw.example/reset-password?token=abc", time.Hour)
		if subject == "" || !strings.Contains(body, "https://dw.example/reset-password?token=abc") || !strings.Contains(body, "60") {
			t.Errorf("%s: %q %q", lang, subject, body)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{1, 30 * time.Second}, {2, time.Minute}, {3, 2 * time.Minute}, {8, time.Hour}, {30, time.Hour}} {
		if got := mail.Backoff(30*time.Second, tc.n); got != tc.want {
			t.Errorf("Backoff(30s, %d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}
