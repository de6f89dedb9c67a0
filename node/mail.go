package node

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/mail"
)

// validateMail checks the public URL and the SMTP settings.
func (c *Config) validateMail() []error {
	var errs []error
	l := c.LoginLimits
	for flag, v := range map[string]int{"--reset-captcha-after": l.ResetCaptchaTarget, "--reset-address-captcha-after": l.ResetCaptchaAddress,
		"--reset-limit": l.ResetLimit, "--reset-mails-per-email": l.ResetMailsPerEmail} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1", flag))
		}
	}
	if l.ResetWindow < time.Second || l.ResetWindow > 7*24*time.Hour {
		errs = append(errs, errors.New("--reset-window must be between 1s and 168h"))
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, errors.New("--public-url (DW_PUBLIC_URL) must be an http(s) URL such as https://dw.example.com"))
		}
	}
	if c.SMTPAddr != "" {
		if _, err := mail.NewSMTP(c.smtpConfig()); err != nil {
			errs = append(errs, errors.New(dw.MessageOf(err)))
		}
	} else if c.SMTPFrom != "" || c.SMTPUser != "" || c.SMTPPassword != "" {
		errs = append(errs, errors.New("--smtp-from, --smtp-user and --smtp-password need --smtp-addr (DW_SMTP_ADDR)"))
	}
	return errs
}

func (c *Config) smtpConfig() mail.SMTPConfig {
	return mail.SMTPConfig{Addr: c.SMTPAddr, From: c.SMTPFrom, User: c.SMTPUser, Password: c.SMTPPassword, RootCAs: c.SMTPRootCAs}
}

// publicURL is --public-url, or the gateway's own address when it is not set.
func (c *Config) publicURL() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	host, port, err := net.SplitHostPort(c.HTTP)
	if err != nil {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// outbox is the node's mail outbox, sending through SMTP when --smtp-addr is set.
func (n *Node) outbox() (*mail.Outbox, error) {
	o := &mail.Outbox{Store: n.db.Store, Node: n.cfg.NodeName, Log: n.log, Backoff: n.cfg.MailBackoff}
	if n.cfg.SMTPAddr == "" {
		n.log.Info("no --smtp-addr: mails stay in the outbox (dw mail outbox)")
		return o, nil
	}
	s, err := mail.NewSMTP(n.cfg.smtpConfig())
	if err != nil {
		return nil, err
	}
	o.Sender = s
	return o, nil
}
