//go:build !race

// These tests start nodes of their own beside TestGateway's: several protoactor nodes in one
// process race inside protoactor-go and grpc under -race (remote.Start sets grpc's global
// logger while other nodes' gRPC goroutines log; see gateway_test.go and
// cluster/multinode_norace_test.go), so they run in `make test`'s pass without -race.

package gateway_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"net"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/divinewhispers/dw/auth"
	"github.com/divinewhispers/dw/internal/cli"
	"github.com/divinewhispers/dw/internal/smtptest"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence"
)

var resetLink = regexp.MustCompile(`https://dw\.test/reset-password\?token=([A-Za-z0-9_%-]+)`)

func tokenOf(t *testing.T, m smtptest.Mail) string {
	t.Helper()
	sub := resetLink.FindStringSubmatch(m.Body)
	if sub == nil {
		t.Fatalf("no reset link in the mail: %q", m.Body)
	}
	tok, err := url.QueryUnescape(sub[1])
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// mailing configures a node to send through ss.
func mailing(ss *smtptest.Server, addr string) func(*node.Config) {
	return func(c *node.Config) {
		c.PublicURL = "https://dw.test"
		c.SMTPAddr, c.SMTPFrom, c.SMTPUser, c.SMTPPassword = addr, "Divine Whispers <no-reply@dw.test>", smtptest.User, smtptest.Password
		c.SMTPRootCAs = ss.CAs
		c.MailBackoff = 100 * time.Millisecond
	}
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func outboxTo(t *testing.T, store *persistence.Store, email string) []persistence.OutboxMail {
	t.Helper()
	ms, err := store.ListMail(t.Context(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []persistence.OutboxMail
	for _, m := range ms {
		if strings.EqualFold(m.Recipient, email) {
			out = append(out, m)
		}
	}
	return out
}

// TestPasswordReset: over a real node and a real SMTP server (STARTTLS, then PLAIN auth), the
// reset mail arrives in the asker's language; its link's token sets a new password once, and
// the old sessions are refused everywhere after; an unknown email is answered alike and mails
// nothing; an expired token is refused; one account gets at most a few mails an hour; one
// address asking too often is asked for a captcha, then refused.
func TestPasswordReset(t *testing.T) {
	t.Parallel()
	ss := smtptest.Start(t, "127.0.0.1:0")
	tn := startNode(t, mailing(ss, ss.Addr), func(c *node.Config) {
		c.LoginLimits.ResetCaptchaTarget, c.LoginLimits.ResetCaptchaAddress, c.LoginLimits.ResetLimit = 2, 4, 6
	})
	u := tn.newUser("user")

	var accepted []byte
	t.Run("mail arrives and the link works once", func(t *testing.T) {
		tn := tn.with(t)
		a, _ := tn.fromNewAddress()
		r := a.do("POST", "/api/v1/auth/password/reset-request", "", map[string]string{"email": strings.ToUpper(u.Email)}, hdr{"Accept-Language": "zh-TW,zh;q=0.9,en;q=0.5"})
		decodeInto(t, r, 202, nil)
		accepted = r.Body
		m := ss.Next(t)
		if !m.TLS || !m.Authed || m.To != u.Email || m.From != "no-reply@dw.test" {
			t.Fatalf("mail: TLS %v, authenticated %v, to %q, from %q", m.TLS, m.Authed, m.To, m.From)
		}
		if !strings.Contains(m.Subject, "密碼重設") || !strings.Contains(m.Body, "重設") {
			t.Errorf("not the zh-TW template: %q / %q", m.Subject, m.Body)
		}
		token := tokenOf(t, m)

		wantProblem(t, "weak password", a.do("POST", "/api/v1/auth/password/reset", "", map[string]string{"token": token, "new_password": "password"}), 400, "weak_password")
		decodeInto(t, a.do("POST", "/api/v1/auth/password/reset", "", map[string]string{"token": token, "new_password": "violet-harbor-lantern-9"}), 204, nil)
		waitUntil(t, "the old session to be refused", 5*time.Second, func() bool {
			return tn.do("GET", "/api/v1/me", u.Access, nil).code() == "session_revoked"
		})
		wantProblem(t, "old access token", tn.do("GET", "/api/v1/me", u.Access, nil), 401, "session_revoked")
		if r := tn.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": u.Refresh}); r.Status != 401 {
			t.Errorf("old refresh token: %s", r)
		}
		wantProblem(t, "token used twice", a.do("POST", "/api/v1/auth/password/reset", "", map[string]string{"token": token, "new_password": "another-harbor-lantern-8"}), 400, "invalid_reset_token")
		wantProblem(t, "old password", tn.do("POST", "/api/v1/auth/login", "", login(u.Email, u.Password)), 401, "invalid_credentials")
		u.Password = "violet-harbor-lantern-9"
		tn.login(u)
		decodeInto(t, tn.do("GET", "/api/v1/me", u.Access, nil), 200, nil)
	})

	t.Run("unknown email answered alike, no mail", func(t *testing.T) {
		tn := tn.with(t)
		a, _ := tn.fromNewAddress()
		r := a.do("POST", "/api/v1/auth/password/reset-request", "", map[string]string{"email": "nobody-here@example.com"})
		decodeInto(t, r, 202, nil)
		if !bytes.Equal(r.Body, accepted) {
			t.Errorf("body %s, for a known email %s", r.Body, accepted)
		}
		if ms := outboxTo(t, tn.store, "nobody-here@example.com"); len(ms) != 0 {
			t.Errorf("mails to an unknown email: %+v", ms)
		}
		ss.None(t)
	})

	t.Run("expired and unknown tokens", func(t *testing.T) {
		tn := tn.with(t)
		token, hash, err := auth.NewRefreshToken()
		if err != nil {
			t.Fatal(err)
		}
		past := time.Now().Add(-time.Minute)
		if _, err := tn.store.CreateResetToken(t.Context(), persistence.NewResetToken{UserID: u.ID, Hash: hash, Expires: past,
			Since: time.Now(), Max: 1, Audit: persistence.AuditEntry{Action: "test.expired_token"},
			Mail: persistence.OutboxMail{Kind: "password_reset", Recipient: u.Email, Subject: "expired", Body: "expired", ExpiresAt: &past}}); err != nil {
			t.Fatal(err)
		}
		for name, tok := range map[string]string{"expired": token, "unknown": "x" + token, "empty": ""} {
			wantProblem(t, name, tn.do("POST", "/api/v1/auth/password/reset", "", map[string]string{"token": tok, "new_password": "violet-harbor-lantern-7"}), 400, "invalid_reset_token")
		}
	})

	t.Run("at most three mails an hour to one account", func(t *testing.T) {
		tn := tn.with(t)
		v := tn.newUser("user")
		for i := range 4 {
			a, _ := tn.fromNewAddress()
			decodeInto(t, a.do("POST", "/api/v1/auth/password/reset-request", "", map[string]string{"email": v.Email}), 202, nil)
			if i < 3 {
				if m := ss.Next(t); m.To != v.Email || !strings.Contains(m.Subject, "Reset your") {
					t.Fatalf("mail %d: to %q, %q", i+1, m.To, m.Subject)
				}
			}
		}
		if ms := outboxTo(t, tn.store, v.Email); len(ms) != 3 {
			t.Errorf("%d mails, want 3", len(ms))
		}
		ss.None(t)
	})

	t.Run("one address: captcha, then 429", func(t *testing.T) {
		tn := tn.with(t)
		a, _ := tn.fromNewAddress()
		ask := func(email string, captcha ...string) response {
			body := map[string]string{"email": email}
			if len(captcha) > 0 {
				body["captcha"] = captcha[0]
			}
			return a.do("POST", "/api/v1/auth/password/reset-request", "", body)
		}
		// Twice for one email, then a captcha for that email.
		decodeInto(t, ask("x1@example.com"), 202, nil)
		decodeInto(t, ask("x1@example.com"), 202, nil)
		r := ask("x1@example.com")
		wantProblem(t, "third for one email", r, 403, "captcha_required")
		decodeInto(t, ask("x1@example.com", solve(t, r)), 202, nil)
		// From four in all every request needs a captcha; from six they are refused.
		decodeInto(t, ask("x2@example.com"), 202, nil)
		for _, email := range []string{"x3@example.com", "x4@example.com"} {
			r = ask(email)
			wantProblem(t, email, r, 403, "captcha_required")
			decodeInto(t, ask(email, solve(t, r)), 202, nil)
		}
		r = ask("x5@example.com")
		wantProblem(t, "beyond the limit", r, 429, "rate_limited")
		if r.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		b, _ := tn.fromNewAddress()
		decodeInto(t, b.do("POST", "/api/v1/auth/password/reset-request", "", map[string]string{"email": "x5@example.com"}), 202, nil)
	})
}

// TestMailOutboxSurvivesRestart: a reset mail asked for while the SMTP server is down stays in
// the outbox (listed by `dw mail outbox`, each failed attempt recorded) across a restart of the
// node, and is delivered once the server is up; its link works.
func TestMailOutboxSurvivesRestart(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String() // nothing listens there until the server starts below
	ln.Close()
	down := &smtptest.Server{CAs: x509.NewCertPool()}
	first := startNode(t, mailing(down, addr))
	u := first.newUser("user")
	decodeInto(t, first.do("POST", "/api/v1/auth/password/reset-request", "", map[string]string{"email": u.Email}), 202, nil)
	waitUntil(t, "a failed attempt", 20*time.Second, func() bool {
		ms := outboxTo(t, first.store, u.Email)
		return len(ms) == 1 && ms[0].Attempts >= 1 && ms[0].LastError != ""
	})

	var out, errOut bytes.Buffer
	if code := cli.Main(t.Context(), []string{"mail", "outbox", "--database-url", first.cfg.DatabaseURL}, &out, &errOut); code != 0 {
		t.Fatalf("dw mail outbox: %d %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), u.Email) || !strings.Contains(out.String(), "queued") || !strings.Contains(out.String(), "password_reset") {
		t.Errorf("dw mail outbox:\n%s", out.String())
	}
	if strings.Contains(out.String(), "token=") {
		t.Errorf("dw mail outbox shows a link:\n%s", out.String())
	}

	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := first.n.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	ss := smtptest.Start(t, addr)
	second := startNode(t, mailing(ss, addr), func(c *node.Config) { c.DatabaseURL = first.cfg.DatabaseURL })
	m := ss.Next(t)
	if m.To != u.Email || !m.TLS {
		t.Fatalf("mail to %q, TLS %v", m.To, m.TLS)
	}
	decodeInto(t, second.do("POST", "/api/v1/auth/password/reset", "", map[string]string{"token": tokenOf(t, m), "new_password": "violet-harbor-lantern-6"}), 204, nil)
	waitUntil(t, "the mail to be marked sent", 10*time.Second, func() bool {
		ms := outboxTo(t, second.store, u.Email)
		return len(ms) == 1 && ms[0].Status == "sent"
	})
	var attempts int
	if err := second.store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM mail_attempts`).Scan(&attempts); err != nil || attempts < 2 {
		t.Errorf("attempts recorded: %d, %v", attempts, err)
	}
}
