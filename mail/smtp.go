package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"

	dw "github.com/divinewhispers/dw"
)

// SMTPConfig is where and as whom mails are sent.
type SMTPConfig struct {
	Addr     string // host:port
	From     string
	User     string // "" = no authentication
	Password string
	RootCAs  *x509.CertPool // nil: the system's
	Timeout  time.Duration  // 0 = 30 s
}

// SMTP sends through an SMTP server, upgrading to TLS with STARTTLS whenever the server offers
// it (and authenticating only then, with the mechanism the server offers).
type SMTP struct {
	client *gomail.Client
	from   string
}

// NewSMTP checks cfg and builds the sender; it connects at each Send. Errors: invalid.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	host, portText, err := net.SplitHostPort(cfg.Addr)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil || host == "" || port <= 0 || port > 65535 {
		return nil, dw.Errorf(dw.KindInvalid, "--smtp-addr %q must be host:port", cfg.Addr)
	}
	if cfg.From == "" {
		return nil, dw.Errorf(dw.KindInvalid, "--smtp-from is required with --smtp-addr")
	}
	if err := gomail.NewMsg().From(cfg.From); err != nil {
		return nil, dw.Errorf(dw.KindInvalid, "--smtp-from %q is not a mail address", cfg.From)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	opts := []gomail.Option{
		gomail.WithTLSPolicy(gomail.TLSOpportunistic),
		gomail.WithTLSConfig(&tls.Config{ServerName: host, RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}),
		gomail.WithTimeout(timeout),
		gomail.WithPort(port),
	}
	if cfg.User != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.User), gomail.WithPassword(cfg.Password))
	}
	c, err := gomail.NewClient(host, opts...)
	if err != nil {
		return nil, dw.Errorf(dw.KindInvalid, "SMTP settings: %v", err)
	}
	return &SMTP{client: c, from: cfg.From}, nil
}

// Send delivers one message. Errors: unavailable (the server refused or could not be reached),
// invalid (a message that cannot be built).
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return dw.Errorf(dw.KindInvalid, "from: %v", err)
	}
	if err := msg.To(m.To); err != nil {
		return dw.Errorf(dw.KindInvalid, "to: %v", err)
	}
	msg.Subject(m.Subject)
	if m.ID != "" {
		msg.SetMessageIDWithValue(m.ID + "@divinewhispers")
	}
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Body)
	if err := s.client.DialAndSendWithContext(ctx, msg); err != nil {
		return &dw.Error{Kind: dw.KindUnavailable, Code: "smtp_failed", Message: fmt.Sprintf("sending mail: %v", err), Err: err}
	}
	return nil
}
