package gateway_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/divinewhispers/dw/auth"
	"github.com/divinewhispers/dw/internal/cli"
	"github.com/divinewhispers/dw/internal/testcert"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence"
)

// received is one mail the test's SMTP server accepted.
type received struct {
	From, To, Subject, Body string
	TLS, Authed             bool
}

// smtpServer is a real SMTP server on loopback offering STARTTLS (with a certificate of a CA
// of the test's own) and PLAIN authentication once under TLS.
type smtpServer struct {
	Addr  string
	CAs   *x509.CertPool
	mails chan received
}

const smtpUser, smtpPassword = "dw-mailer", "smtp-secret-0123"

// startSMTP serves on addr ("127.0.0.1:0" for any port) until t ends.
func startSMTP(t *testing.T, addr string) *smtpServer {
	t.Helper()
	dir := t.TempDir()
	ca := testcert.NewCA(t, dir, "mail-ca")
	pair := ca.Issue(t, "mail")
	cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pemCA, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	ss := &smtpServer{CAs: pool, mails: make(chan received, 100)}
	srv := smtp.NewServer(ss)
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	var ln net.Listener
	deadline := time.Now().Add(10 * time.Second)
	for { // a port given back by a test may take a moment to be free again
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ss.Addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			t.Errorf("smtp serve: %v", err)
		}
	})
	return ss
}

func (ss *smtpServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{srv: ss, conn: c}, nil
}

type smtpSession struct {
	srv    *smtpServer
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if user != smtpUser || password != smtpPassword {
			return errors.New("invalid credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }

func (s *smtpSession) Data(r io.Reader) error {
	msg, err := netmail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return err
	}
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		if body, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body))); err != nil {
			return err
		}
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.mails <- received{From: s.from, To: strings.Join(s.to, ","), Subject: subject, Body: string(body), TLS: isTLS, Authed: s.authed}
	return nil
}

func (s *smtpSession) Reset()        { s.from, s.to = "", nil }
func (s *smtpSession) Logout() error { return nil }

// next waits for the next mail.
func (ss *smtpServer) next(t *testing.T) received {
	t.Helper()
	select {
	case m := <-ss.mails:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no mail arrived within 30 s")
	}
	return received{}
}

// none checks that no mail is waiting.
func (ss *smtpServer) none(t *testing.T) {
	t.Helper()
	select {
	case m := <-ss.mails:
		t.Fatalf("unexpected mail to %s: %q", m.To, m.Subject)
	default:
	}
}

var resetLink = regexp.MustCompile(`https://dw\.test/reset-password\?token=([A-Za-z0-9_%-]+)`)

func tokenOf(t *testing.T, m received) string {
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
func mailing(ss *smtpServer, addr string) func(*node.Config) {
	return func(c *node.Config) {
		c.PublicURL = "https://dw.test"
		c.SMTPAddr, c.SMTPFrom, c.SMTPUser, c.SMTPPassword = addr, "Divine Whispers <no-reply@dw.test>", smtpUser, smtpPassword
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
	ss := startSMTP(t, "127.0.0.1:0")
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
		m := ss.next(t)
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
		ss.none(t)
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
				if m := ss.next(t); m.To != v.Email || !strings.Contains(m.Subject, "Reset your") {
					t.Fatalf("mail %d: to %q, %q", i+1, m.To, m.Subject)
				}
			}
		}
		if ms := outboxTo(t, tn.store, v.Email); len(ms) != 3 {
			t.Errorf("%d mails, want 3", len(ms))
		}
		ss.none(t)
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
	down := &smtpServer{CAs: x509.NewCertPool()}
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
	ss := startSMTP(t, addr)
	second := startNode(t, mailing(ss, addr), func(c *node.Config) { c.DatabaseURL = first.cfg.DatabaseURL })
	m := ss.next(t)
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
