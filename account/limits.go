package account

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/persistence"
)

// Limits are the free rates of login failures and registrations per client address. Nothing
// locks an account: beyond a free rate the address is asked for a captcha, beyond a hard limit
// it is refused for a while, and every other address (the owner's) is untouched. The counts
// are the audit log's rows, so they hold across the cluster. Zero fields take the defaults of
// DefaultLimits.
type Limits struct {
	LoginWindow         time.Duration // how long a failed login counts
	LoginCaptchaAfter   int           // failures of one address against one account before it needs a captcha for it
	AddressCaptchaAfter int           // failures of one address in all before its every login needs a captcha
	AddressLimit        int           // failures of one address in all before its logins are refused
	RegisterWindow      time.Duration // how long a registration counts
	RegisterFree        int           // registrations of one address before the next needs a captcha
	RegisterLimit       int           // registrations of one address before the next is refused
	// Password-reset requests (reset.go): of one address, for one email and in all, before a
	// captcha is asked, and in all before they are refused; and the reset mails one account
	// gets within ResetWindow, whoever asks (requests beyond are answered alike, mailing nothing).
	ResetWindow         time.Duration
	ResetCaptchaTarget  int
	ResetCaptchaAddress int
	ResetLimit          int
	ResetMailsPerEmail  int
}

// DefaultLimits are the limits of a node that sets none.
var DefaultLimits = Limits{
	LoginWindow: 15 * time.Minute, LoginCaptchaAfter: 3, AddressCaptchaAfter: 10, AddressLimit: 50,
	RegisterWindow: time.Hour, RegisterFree: 5, RegisterLimit: 50,
	ResetWindow: time.Hour, ResetCaptchaTarget: 2, ResetCaptchaAddress: 5, ResetLimit: 20, ResetMailsPerEmail: 3,
}

func (l Limits) orDefaults() Limits {
	d := DefaultLimits
	pick := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&l.LoginCaptchaAfter, d.LoginCaptchaAfter)
	pick(&l.AddressCaptchaAfter, d.AddressCaptchaAfter)
	pick(&l.AddressLimit, d.AddressLimit)
	pick(&l.RegisterFree, d.RegisterFree)
	pick(&l.RegisterLimit, d.RegisterLimit)
	pick(&l.ResetCaptchaTarget, d.ResetCaptchaTarget)
	pick(&l.ResetCaptchaAddress, d.ResetCaptchaAddress)
	pick(&l.ResetLimit, d.ResetLimit)
	pick(&l.ResetMailsPerEmail, d.ResetMailsPerEmail)
	if l.ResetWindow <= 0 {
		l.ResetWindow = d.ResetWindow
	}
	if l.LoginWindow <= 0 {
		l.LoginWindow = d.LoginWindow
	}
	if l.RegisterWindow <= 0 {
		l.RegisterWindow = d.RegisterWindow
	}
	return l
}

// Rule is a free rate of one audited action per client address: the reusable piece behind
// the login and registration limits (and, later, password-reset requests). Counts are of the
// audit rows of Action recorded from the address within Window, plus its attempts in flight;
// the caller writes the Action row for an attempt that counts (a failed login, a registration,
// a reset request) before it releases the attempt (see Guard).
type Rule struct {
	Action         string
	Window         time.Duration
	CaptchaTarget  int // rows of the address against the attempt's target from which a captcha is asked; 0 = never
	CaptchaAddress int // rows of the address in all from which a captcha is asked; 0 = never
	Limit          int // rows of the address in all from which the attempt is refused (rate_limited); 0 = never
}

// Attempt is one request under a Rule.
type Attempt struct {
	IP         string // the client's address; "" (a trusted in-process caller) is never limited
	TargetType string // what it is aimed at, as its audit rows name it: "user", "email" or ""
	TargetID   string // a user id, or an unknown email in lower case (see loginTarget)
	Captcha    string // the client's captcha solution, if it sent one
}

func (s *Service) loginRule() Rule {
	l := s.Limits.orDefaults()
	return Rule{Action: actionLoginFailed, Window: l.LoginWindow,
		CaptchaTarget: l.LoginCaptchaAfter, CaptchaAddress: l.AddressCaptchaAfter, Limit: l.AddressLimit}
}

func (s *Service) registerRule() Rule {
	l := s.Limits.orDefaults()
	return Rule{Action: actionRegister, Window: l.RegisterWindow, CaptchaAddress: l.RegisterFree, Limit: l.RegisterLimit}
}

const (
	actionLoginFailed = "auth.login_failed"
	actionRegister    = "user.register"
)

// Guard checks an attempt against a rule before the work the rule protects. Beyond the
// rule's limit it refuses with rate_limited and a Retry-After (when the oldest counted row
// leaves the window). Beyond a free rate, when a captcha provider is configured, it asks for
// a captcha: forbidden captcha_required with a challenge in the problem member "captcha" when
// the attempt has no solution, captcha_invalid (with a new challenge) when the solution is
// refused; a good solution is spent and lets the attempt through. Every refusal and every ask
// is audited (security.rate_limited, security.captcha_required, security.captcha_refused).
//
// An attempt let through is reserved (counted as one more until release is called, which the
// caller must do once its work is done and audited), so that attempts sent at once cannot all
// pass a count taken before any of them was recorded. Errors: rate_limited, forbidden
// (captcha_required, captcha_invalid), unavailable, internal.
func (s *Service) Guard(ctx context.Context, r Rule, a Attempt) (release func(), err error) {
	release = func() {}
	if a.IP == "" {
		return release, nil
	}
	c, err := s.Store.CountAudit(ctx, r.Action, a.IP, a.TargetID, r.Window)
	if err != nil {
		return release, err
	}
	passed, err := s.check(ctx, r, a, c, false)
	if err != nil {
		return release, err
	}
	// Reserve, then count again: of attempts sent at once, each sees at least those reserved
	// before it, so no more than the rule allows get through.
	id, err := s.Store.Reserve(ctx, r.Action, a.IP, a.TargetID)
	if err != nil {
		return release, err
	}
	release = func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.Store.Release(rctx, id) // left behind, it only counts until the window passes
	}
	c, err = s.Store.CountAudit(ctx, r.Action, a.IP, a.TargetID, r.Window)
	if err == nil {
		c.All, c.Target = c.All-1, c.Target-1 // not this attempt itself
		_, err = s.check(ctx, r, a, c, passed)
	}
	if err != nil {
		release()
		return func() {}, err
	}
	return release, nil
}

// check applies a rule to a count: nil to go ahead, else the refusal or the captcha ask.
// passed says the attempt's captcha was verified already; check answers whether it is now.
func (s *Service) check(ctx context.Context, r Rule, a Attempt, c persistence.AuditCount, passed bool) (bool, error) {
	if r.Limit > 0 && c.All >= r.Limit {
		wait := c.OldestAll.Add(r.Window).Sub(c.Now)
		if wait < time.Second {
			wait = time.Second
		}
		s.auditSecurity(ctx, "security.rate_limited", r, a, c)
		return passed, &dw.Error{Kind: dw.KindRateLimited, Code: "rate_limited", RetryAfter: wait,
			Message: "too many attempts from this address; try again in " + wait.Round(time.Second).String()}
	}
	need := r.CaptchaAddress > 0 && c.All >= r.CaptchaAddress ||
		r.CaptchaTarget > 0 && a.TargetID != "" && c.Target >= r.CaptchaTarget
	if !need || s.Captcha == nil || passed {
		return passed, nil
	}
	if a.Captcha == "" {
		s.auditSecurity(ctx, "security.captcha_required", r, a, c)
		return false, s.askCaptcha(ctx, dw.Coded(dw.KindForbidden, "captcha_required",
			"solve the captcha and send its solution with the request (body member \"captcha\" or header X-Captcha)"))
	}
	if err := s.Captcha.Verify(ctx, a.Captcha, a.IP); err != nil {
		if dw.KindOf(err) != dw.KindForbidden {
			return false, err
		}
		s.auditSecurity(ctx, "security.captcha_refused", r, a, c)
		return false, s.askCaptcha(ctx, err)
	}
	return true, nil
}

// askCaptcha attaches a fresh challenge to err (a forbidden dw.Error).
func (s *Service) askCaptcha(ctx context.Context, err error) error {
	ch, cerr := s.Captcha.Challenge(ctx)
	if cerr != nil {
		return cerr
	}
	var de *dw.Error
	if !errors.As(err, &de) {
		return dw.Internal(err)
	}
	e := *de
	e.Extensions = map[string]any{"captcha": ch}
	return &e
}

// auditSecurity records a security event of the guard; a failure to record it does not
// change the answer.
func (s *Service) auditSecurity(ctx context.Context, action string, r Rule, a Attempt, c persistence.AuditCount) {
	detail, _ := json.Marshal(map[string]any{"rule": r.Action, "from_address": c.All, "against_target": c.Target})
	_ = s.Store.Audit(ctx, persistence.AuditEntry{Action: action, TargetType: a.TargetType,
		TargetID: a.TargetID, IP: a.IP, Detail: detail})
}

// loginTarget is what a login attempt is counted against: the user's id, or for an unknown
// email the email in lower case, so that case variants count as one account either way.
func loginTarget(u persistence.User, email string) (targetType, targetID string) {
	if u.ID != "" {
		return "user", u.ID
	}
	return "email", truncate(strings.ToLower(strings.TrimSpace(email)), 254)
}
