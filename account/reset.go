package account

import (
	"context"
	"net/mail"
	"net/url"
	"strings"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/auth"
	dwmail "github.com/divinewhispers/dw/mail"
	"github.com/divinewhispers/dw/persistence"
)

const (
	actionResetRequested = "auth.reset_requested"
	actionPasswordReset  = "user.password_reset"
)

func (s *Service) resetRule() Rule {
	l := s.Limits.orDefaults()
	return Rule{Action: actionResetRequested, Window: l.ResetWindow, CaptchaTarget: l.ResetCaptchaTarget,
		CaptchaAddress: l.ResetCaptchaAddress, Limit: l.ResetLimit}
}

func (s *Service) resetTTL() time.Duration {
	if s.ResetTTL <= 0 {
		return time.Hour
	}
	return s.ResetTTL
}

// ResetRequestInput asks for a password-reset mail.
type ResetRequestInput struct {
	Email   string
	IP      string // the client's address; "" (a trusted in-process caller) is not limited
	Lang    string // the mail's language: mail.LangZhTW or mail.LangEnglish ("" = English)
	Captcha string // a captcha solution, when the last answer asked for one
}

// RequestReset mails a single-use link to set a new password, valid for ResetTTL, to the
// account of an email, if there is one, it is active and it has not had ResetMailsPerEmail
// reset mails within ResetWindow. The answer is the same whether or not a mail goes (nil): it
// tells nobody whether an email has an account. Requests are limited per client address as
// logins are (see Guard): a captcha beyond a few for one email or more in all, refused beyond a
// hard limit. Each is audited (auth.reset_requested, against the email in lower case, without
// the token). The mail waits in the outbox until a node sends it. Errors: invalid (not an
// email address), forbidden (captcha_required, captcha_invalid), rate_limited, unavailable,
// internal.
func (s *Service) RequestReset(ctx context.Context, in ResetRequestInput) error {
	email := strings.TrimSpace(in.Email)
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		return dw.Coded(dw.KindInvalid, "invalid", "email must be a plain address such as name@example.com")
	}
	target := strings.ToLower(email)
	release, err := s.Guard(ctx, s.resetRule(), Attempt{IP: in.IP, TargetType: "email", TargetID: target, Captcha: in.Captcha})
	if err != nil {
		return err
	}
	defer release()
	audit := persistence.AuditEntry{Action: actionResetRequested, TargetType: "email", TargetID: target, IP: in.IP}
	u, err := s.Store.UserByEmail(ctx, email)
	if dw.KindOf(err) == dw.KindNotFound || err == nil && u.Status != "active" {
		return s.Store.Audit(ctx, audit)
	}
	if err != nil {
		return err
	}
	token, hash, err := auth.NewRefreshToken()
	if err != nil {
		return dw.Internal(err)
	}
	ttl := s.resetTTL()
	expires := s.now().Add(ttl)
	lang := in.Lang
	if lang != dwmail.LangZhTW {
		lang = dwmail.LangEnglish
	}
	link := strings.TrimRight(s.PublicURL, "/") + "/reset-password?token=" + url.QueryEscape(token)
	subject, body := dwmail.PasswordReset(lang, link, ttl)
	l := s.Limits.orDefaults()
	_, err = s.Store.CreateResetToken(ctx, persistence.NewResetToken{UserID: u.ID, Hash: hash, Expires: expires,
		Since: s.now().Add(-l.ResetWindow), Max: l.ResetMailsPerEmail, Audit: audit,
		Mail: persistence.OutboxMail{Kind: dwmail.KindPasswordReset, Recipient: u.Email, Lang: lang, Subject: subject, Body: body, ExpiresAt: &expires}})
	return err
}

// ResetInput sets a new password with a reset token.
type ResetInput struct {
	Token       string
	NewPassword string
	IP          string
}

// ResetPassword spends a reset token (once) and sets the new password, which must pass the
// strength check; every session of the user ends on every node, and it is audited
// (user.password_reset). A token that is unknown, spent or expired is refused alike; a weak
// password leaves the token unspent. Errors: invalid (invalid_reset_token, weak_password),
// unavailable (busy), internal.
func (s *Service) ResetPassword(ctx context.Context, in ResetInput) error {
	if in.Token == "" || len(in.Token) > 200 {
		return persistence.ErrResetTokenInvalid
	}
	hash := auth.HashRefreshToken(in.Token)
	u, err := s.Store.ResetTokenUser(ctx, hash)
	if err != nil {
		return err
	}
	if err := auth.ValidatePassword(in.NewPassword); err != nil {
		return dw.Errorf(dw.KindInvalid, "new_password: %s", strings.TrimPrefix(err.Error(), "invalid password: "))
	}
	pw, err := s.Hasher.HashNew(ctx, in.NewPassword, u.Email)
	if err != nil {
		return passwordError(err, "new_password: ")
	}
	return s.Store.ResetPassword(ctx, hash, u.ID, pw, persistence.AuditEntry{ActorID: u.ID, Action: actionPasswordReset, IP: in.IP})
}
