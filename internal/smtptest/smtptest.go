// Package smtptest runs a real SMTP server for tests (emersion/go-smtp on loopback): STARTTLS
// with a certificate of a CA of the test's own, AUTH PLAIN once under TLS, every accepted mail
// decoded and handed to the test.
package smtptest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/divinewhispers/dw/internal/testcert"
)

// User and Password are the credentials the server accepts.
const User, Password = "dw-mailer", "smtp-secret-0123"

// Mail is one mail the server accepted.
type Mail struct {
	From, To, Subject, MessageID, Body string
	TLS, Authed                        bool
}

// Server is a running SMTP server.
type Server struct {
	Addr  string
	CAs   *x509.CertPool // trusts the server's certificate
	mails chan Mail
}

// Start serves on addr ("127.0.0.1:0" for any port) until t ends.
func Start(t testing.TB, addr string) *Server {
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
	ss := &Server{CAs: pool, mails: make(chan Mail, 1000)}
	srv := smtp.NewServer(backend{ss})
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

// Next waits up to 30 s for the next mail.
func (ss *Server) Next(t testing.TB) Mail {
	t.Helper()
	select {
	case m := <-ss.mails:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no mail arrived within 30 s")
	}
	return Mail{}
}

// None checks that no mail is waiting.
func (ss *Server) None(t testing.TB) {
	t.Helper()
	select {
	case m := <-ss.mails:
		t.Fatalf("unexpected mail to %s: %q", m.To, m.Subject)
	default:
	}
}

type backend struct{ srv *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{srv: b.srv, conn: c}, nil
}

type session struct {
	srv    *Server
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if user != User || password != Password {
			return errors.New("invalid credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }

func (s *session) Data(r io.Reader) error {
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
	s.srv.mails <- Mail{From: s.from, To: strings.Join(s.to, ","), Subject: subject, MessageID: msg.Header.Get("Message-Id"),
		Body: string(body), TLS: isTLS, Authed: s.authed}
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
