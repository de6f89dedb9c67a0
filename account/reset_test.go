package account_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/auth"
	"github.com/divinewhispers/dw/persistence"
)

// resetService is an account core with a cheap password hash and no captcha (only the hard
// limits hold), linking to https://dw.example.
func resetService(t *testing.T) *account.Service {
	t.Helper()
	s := newService(t)
	h, err := auth.NewHasher(auth.HasherOptions{Params: auth.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}})
	if err != nil {
		t.Fatal(err)
	}
	s.Hasher, s.Captcha, s.PublicURL = h, nil, "https://dw.example/"
	return s
}

var resetIPSeq atomic.Int64

func nextIP() string { return fmt.Sprintf("192.0.2.%d", resetIPSeq.Add(1)%250+1) }

var tokenInBody = regexp.MustCompile(`https://dw\.example/reset-password\?token=([A-Za-z0-9_%-]+)`)

// queuedResetMails returns the tokens of the reset mails queued to email, oldest first.
func queuedResetMails(t *testing.T, s *account.Service, email string) []string {
	t.Helper()
	rows, err := s.Store.Pool().Query(t.Context(), `SELECT body FROM mail_outbox WHERE recipient = $1 AND kind = 'password_reset' ORDER BY created_at`, email)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var tokens []string
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			t.Fatal(err)
		}
		m := tokenInBody.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no link in %q", body)
		}
		tok, _ := url.QueryUnescape(m[1])
		tokens = append(tokens, tok)
	}
	return tokens
}

func register(t *testing.T, s *account.Service, email string) persistence.User {
	t.Helper()
	u, err := s.Register(t.Context(), account.RegisterInput{Email: email, Password: "first-secret-word-1"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestRequestReset: a known email gets a mail with a link, an unknown one the same answer and
// no mail; one account gets at most ResetMailsPerEmail mails per window, whoever asks; the
// token is in no audit row.
func TestRequestReset(t *testing.T) {
	t.Parallel()
	s := resetService(t)
	ctx := t.Context()
	register(t, s, "known@example.com")
	for _, tc := range []struct {
		email string
		lang  string
		mails int
		want  string // a word of the body
	}{
		{"nobody@example.com", "en", 0, ""},
		{"Known@Example.com", "en", 1, "Open this link"},
		{"known@example.com", "zh-TW", 2, "重設"},
		{"known@example.com", "en", 3, "Open this link"},
		{"known@example.com", "en", 3, ""}, // the account's third mail this hour was the last
		{"nobody@example.com", "en", 3, ""},
	} {
		if err := s.RequestReset(ctx, account.ResetRequestInput{Email: tc.email, IP: nextIP(), Lang: tc.lang}); err != nil {
			t.Fatalf("%s: %v", tc.email, err)
		}
		tokens := queuedResetMails(t, s, "known@example.com")
		if len(tokens) != tc.mails {
			t.Fatalf("%s: %d mails, want %d", tc.email, len(tokens), tc.mails)
		}
	}
	var body string
	if err := s.Store.Pool().QueryRow(ctx, `SELECT body FROM mail_outbox WHERE lang = 'zh-TW'`).Scan(&body); err != nil || !strings.Contains(body, "重設") {
		t.Errorf("zh-TW body %q, %v", body, err)
	}
	var leaks int
	for _, tok := range queuedResetMails(t, s, "known@example.com") {
		var n int
		if err := s.Store.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_logs WHERE detail::text LIKE '%' || $1 || '%' OR target_id = $1`, tok).Scan(&n); err != nil {
			t.Fatal(err)
		}
		leaks += n
	}
	if leaks != 0 {
		t.Errorf("the token is in %d audit rows", leaks)
	}
	if err := s.RequestReset(ctx, account.ResetRequestInput{Email: "not an email", IP: nextIP()}); dw.KindOf(err) != dw.KindInvalid {
		t.Errorf("bad email: %v", err)
	}
}

// TestRequestResetConcurrent: requests for one account sent at once from many addresses make
// no more mails than the per-account cap.
func TestRequestResetConcurrent(t *testing.T) {
	t.Parallel()
	s := resetService(t)
	register(t, s, "busy@example.com")
	errs := make(chan error, 12)
	for range 12 {
		go func() {
			errs <- s.RequestReset(t.Context(), account.ResetRequestInput{Email: "busy@example.com", IP: nextIP()})
		}()
	}
	for range 12 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := len(queuedResetMails(t, s, "busy@example.com")); got != 3 {
		t.Errorf("%d mails, want 3", got)
	}
}

// TestRequestResetAddressLimit: one address asking for many emails is refused beyond the hard
// limit (no captcha provider: only the limit holds), known and unknown emails alike.
func TestRequestResetAddressLimit(t *testing.T) {
	t.Parallel()
	s := resetService(t)
	s.Limits = account.Limits{ResetLimit: 3, ResetCaptchaTarget: 100, ResetCaptchaAddress: 100}
	register(t, s, "a@example.com")
	ip := "198.51.100.7"
	for i, email := range []string{"a@example.com", "b@example.com", "c@example.com", "a@example.com"} {
		err := s.RequestReset(t.Context(), account.ResetRequestInput{Email: email, IP: ip})
		if want := i == 3; (dw.CodeOf(err) == "rate_limited") != want || !want && err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	if err := s.RequestReset(t.Context(), account.ResetRequestInput{Email: "a@example.com", IP: "198.51.100.8"}); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

// TestResetPassword: a token sets a password once; a weak password leaves it unspent; an
// unknown, spent or expired token is refused alike; the reset ends the old sessions.
func TestResetPassword(t *testing.T) {
	t.Parallel()
	s := resetService(t)
	ctx := t.Context()
	u := register(t, s, "reset@example.com")
	if err := s.RequestReset(ctx, account.ResetRequestInput{Email: u.Email, IP: nextIP()}); err != nil {
		t.Fatal(err)
	}
	token := queuedResetMails(t, s, u.Email)[0]

	// An expired token: made by a core whose clock is two hours behind.
	past := *s
	past.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	if err := past.RequestReset(ctx, account.ResetRequestInput{Email: u.Email, IP: nextIP()}); err != nil {
		t.Fatal(err)
	}
	expired := queuedResetMails(t, s, u.Email)[1]

	for _, tc := range []struct {
		name, token, password, want string
	}{
		{"unknown", "no-such-token", "a-new-secret-phrase-7", "invalid_reset_token"},
		{"empty", "", "a-new-secret-phrase-7", "invalid_reset_token"},
		{"expired", expired, "a-new-secret-phrase-7", "invalid_reset_token"},
		{"weak", token, "password", "weak_password"},
		{"good", token, "a-new-secret-phrase-7", ""},
		{"spent", token, "another-secret-phrase-8", "invalid_reset_token"},
	} {
		err := s.ResetPassword(ctx, account.ResetInput{Token: tc.token, NewPassword: tc.password, IP: "192.0.2.200"})
		if got := dw.CodeOf(err); err != nil && got != tc.want || err == nil && tc.want != "" {
			t.Fatalf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	after, err := s.Store.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.TokenVersion != u.TokenVersion+1 {
		t.Errorf("token version %d, want %d", after.TokenVersion, u.TokenVersion+1)
	}
	if ok, _ := s.Hasher.Verify(ctx, "a-new-secret-phrase-7", after.PasswordHash); !ok {
		t.Error("the new password does not verify")
	}
	var audited int
	if err := s.Store.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_logs WHERE action = 'user.password_reset' AND target_id = $1`, u.ID).Scan(&audited); err != nil || audited != 1 {
		t.Errorf("audit rows %d, %v", audited, err)
	}
}
