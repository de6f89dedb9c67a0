// Package account is the core of users and sessions: registration with a personal wallet,
// login, rotating refresh tokens, password changes and the admin's user management. The
// gateway, the CLI and the tests all call it.
package account

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/auth"
	"github.com/divinewhispers/dw/captcha"
	"github.com/divinewhispers/dw/persistence"
)

// Roles.
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
	RoleService  = "service"
	RoleUser     = "user"
)

// Roles lists every role.
var Roles = []string{RoleAdmin, RoleOperator, RoleService, RoleUser}

// Service is the account core.
type Service struct {
	Store      *persistence.Store
	Issuer     *auth.Issuer
	Params     auth.Params   // password hashing cost
	RefreshTTL time.Duration // 0 = 30 days
	Now        func() time.Time
	// Limits are the free rates of login failures and registrations per address (limits.go);
	// Captcha is asked beyond them (nil: never asked, only the hard limits hold).
	Limits  Limits
	Captcha captcha.Provider
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// RegisterInput is a new account.
type RegisterInput struct {
	Email    string
	Password string
	Role     string // "" = user
	IP       string
	ActorID  string // the admin creating it, if any
	Captcha  string // a captcha solution, when the last answer asked for one
}

// Validate joins every problem with the input.
func (in *RegisterInput) Validate() error {
	var errs []error
	in.Email = strings.TrimSpace(in.Email)
	if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email || len(in.Email) > 254 {
		errs = append(errs, errors.New("email must be a plain address such as name@example.com"))
	}
	if err := auth.ValidatePassword(in.Password); err != nil {
		errs = append(errs, errors.New(strings.TrimPrefix(err.Error(), "invalid password: ")))
	}
	if in.Role == "" {
		in.Role = RoleUser
	}
	if !validRole(in.Role) {
		errs = append(errs, errors.New("role must be one of admin, operator, service, user"))
	}
	return invalid(errs)
}

func validRole(r string) bool {
	for _, x := range Roles {
		if r == x {
			return true
		}
	}
	return false
}

func invalid(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return dw.Errorf(dw.KindInvalid, "%s", errors.Join(errs...).Error())
}

// Register creates a user and its personal wallet. Beyond a free rate of registrations from
// one address it asks for a captcha, beyond a hard limit it refuses (see Guard); an admin's
// registrations are not limited. Errors: invalid, conflict (email_taken), forbidden
// (captcha_required, captcha_invalid), rate_limited, unavailable, internal.
func (s *Service) Register(ctx context.Context, in RegisterInput) (persistence.User, error) {
	if err := in.Validate(); err != nil {
		return persistence.User{}, err
	}
	if in.ActorID == "" {
		release, err := s.Guard(ctx, s.registerRule(), Attempt{IP: in.IP, Captcha: in.Captcha})
		if err != nil {
			return persistence.User{}, err
		}
		defer release()
	}
	hash, err := auth.HashPassword(in.Password, s.Params)
	if err != nil {
		return persistence.User{}, dw.Internal(err)
	}
	return s.Store.CreateUser(ctx, in.Email, hash, in.Role, persistence.AuditEntry{
		ActorID: in.ActorID, Action: "user.register", IP: in.IP,
	})
}

// Tokens is what a login or a refresh returns.
type Tokens struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	TokenType    string    `json:"token_type"`
	ExpiresIn    int64     `json:"expires_in"`
	RefreshUntil time.Time `json:"-"`
}

var errBadLogin = dw.Coded(dw.KindUnauthorized, "invalid_credentials", "email or password is wrong")

// dummyHash makes a login for an unknown email cost as much as one for a known email.
var (
	dummyOnce sync.Once
	dummyHash string
)

// LoginInput is one login attempt.
type LoginInput struct {
	Email    string
	Password string
	IP       string // the client's address; "" (a trusted in-process caller) is not limited
	Captcha  string // a captcha solution, when the last answer asked for one
}

// Login checks a password and opens a new session (a new refresh-token family). Failed
// logins are limited per client address and per (address, account), never per account alone:
// beyond a few the address is asked for a captcha, beyond more it is refused for a while
// (see Guard, Limits); the owner from another address is not affected. Errors: unauthorized
// (invalid_credentials, account_suspended), forbidden (captcha_required, captcha_invalid),
// rate_limited, unavailable, internal.
func (s *Service) Login(ctx context.Context, in LoginInput) (Tokens, persistence.User, error) {
	email, password, ip := strings.TrimSpace(in.Email), in.Password, in.IP
	u, err := s.Store.UserByEmail(ctx, email)
	if err != nil && dw.KindOf(err) != dw.KindNotFound {
		return Tokens{}, u, err
	}
	targetType, target := loginTarget(u, email)
	release, gerr := s.Guard(ctx, s.loginRule(), Attempt{IP: ip, TargetType: targetType, TargetID: target, Captcha: in.Captcha})
	if gerr != nil {
		return Tokens{}, u, gerr
	}
	defer release()
	if dw.KindOf(err) == dw.KindNotFound {
		dummyOnce.Do(func() { dummyHash, _ = auth.HashPassword("not a password", s.Params) })
		_, _ = auth.VerifyPassword(password, dummyHash)
		_ = s.Store.Audit(ctx, persistence.AuditEntry{Action: actionLoginFailed, TargetType: targetType, TargetID: target, IP: ip})
		return Tokens{}, u, errBadLogin
	}
	ok, err := auth.VerifyPassword(password, u.PasswordHash)
	if err != nil || !ok {
		_ = s.Store.Audit(ctx, persistence.AuditEntry{ActorID: u.ID, Action: "auth.login_failed", TargetType: "user", TargetID: u.ID, IP: ip})
		return Tokens{}, u, errBadLogin
	}
	if u.Status != "active" {
		_ = s.Store.Audit(ctx, persistence.AuditEntry{ActorID: u.ID, Action: "auth.login_failed", TargetType: "user", TargetID: u.ID, IP: ip, Detail: []byte(`{"reason":"suspended"}`)})
		return Tokens{}, u, dw.Coded(dw.KindUnauthorized, "account_suspended", "this account is suspended")
	}
	t, err := s.issue(ctx, u, uuid.Must(uuid.NewV7()).String())
	if err != nil {
		return Tokens{}, u, err
	}
	_ = s.Store.Audit(ctx, persistence.AuditEntry{ActorID: u.ID, Action: "auth.login", TargetType: "user", TargetID: u.ID, IP: ip})
	return t, u, nil
}

func (s *Service) refreshTTL() time.Duration {
	if s.RefreshTTL == 0 {
		return 30 * 24 * time.Hour
	}
	return s.RefreshTTL
}

func (s *Service) issue(ctx context.Context, u persistence.User, family string) (Tokens, error) {
	access, exp, err := s.Issuer.Issue(u.ID, u.Role, u.WalletID, s.now())
	if err != nil {
		return Tokens{}, dw.Internal(err)
	}
	refresh, hash, err := auth.NewRefreshToken()
	if err != nil {
		return Tokens{}, dw.Internal(err)
	}
	until := s.now().Add(s.refreshTTL())
	if family != "" {
		if err := s.Store.CreateRefreshToken(ctx, u.ID, family, hash, until); err != nil {
			return Tokens{}, err
		}
	}
	return Tokens{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer",
		ExpiresIn: int64(exp.Sub(s.now()).Round(time.Second) / time.Second), RefreshUntil: until}, nil
}

// Refresh spends a refresh token and returns a new pair. Reusing a spent token revokes every
// token of its login. Errors: unauthorized (invalid_refresh_token, refresh_token_reused,
// account_suspended), internal.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	if refreshToken == "" || len(refreshToken) > 200 {
		return Tokens{}, dw.Coded(dw.KindUnauthorized, "invalid_refresh_token", "the refresh token is invalid, expired or revoked")
	}
	next, nextHash, err := auth.NewRefreshToken()
	if err != nil {
		return Tokens{}, dw.Internal(err)
	}
	until := s.now().Add(s.refreshTTL())
	u, err := s.Store.RotateRefreshToken(ctx, auth.HashRefreshToken(refreshToken), nextHash, until)
	if err != nil {
		return Tokens{}, err
	}
	t, err := s.issue(ctx, u, "")
	if err != nil {
		return Tokens{}, err
	}
	t.RefreshToken, t.RefreshUntil = next, until
	return t, nil
}

// Logout revokes the session of a refresh token and audits it.
func (s *Service) Logout(ctx context.Context, userID, refreshToken, ip string) error {
	if refreshToken != "" {
		if err := s.Store.RevokeRefreshFamily(ctx, auth.HashRefreshToken(refreshToken)); err != nil {
			return err
		}
	}
	return s.Store.Audit(ctx, persistence.AuditEntry{ActorID: userID, Action: "auth.logout", TargetType: "user", TargetID: userID, IP: ip})
}

// ChangePassword checks the current password, sets the new one and ends every session.
// Errors: invalid, unauthorized (invalid_credentials), not_found, internal.
func (s *Service) ChangePassword(ctx context.Context, userID, current, next, ip string) error {
	if err := auth.ValidatePassword(next); err != nil {
		return dw.Errorf(dw.KindInvalid, "new_password: %s", strings.TrimPrefix(err.Error(), "invalid password: "))
	}
	u, err := s.Store.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	if ok, err := auth.VerifyPassword(current, u.PasswordHash); err != nil || !ok {
		return dw.Coded(dw.KindUnauthorized, "invalid_credentials", "current_password is wrong")
	}
	hash, err := auth.HashPassword(next, s.Params)
	if err != nil {
		return dw.Internal(err)
	}
	return s.Store.SetPassword(ctx, userID, hash, persistence.AuditEntry{ActorID: userID, Action: "user.password_changed", IP: ip})
}

// UpdateInput changes a user's role or status.
type UpdateInput struct {
	Role    *string
	Status  *string
	ActorID string
	IP      string
}

// Validate joins every problem with the input.
func (in UpdateInput) Validate() error {
	var errs []error
	if in.Role == nil && in.Status == nil {
		errs = append(errs, errors.New("give role and/or status"))
	}
	if in.Role != nil && !validRole(*in.Role) {
		errs = append(errs, errors.New("role must be one of admin, operator, service, user"))
	}
	if in.Status != nil && *in.Status != "active" && *in.Status != "suspended" {
		errs = append(errs, errors.New("status must be active or suspended"))
	}
	return invalid(errs)
}

// Update changes a user's role and/or status, audited. Errors: invalid, not_found, internal.
func (s *Service) Update(ctx context.Context, userID string, in UpdateInput) (persistence.User, error) {
	if err := in.Validate(); err != nil {
		return persistence.User{}, err
	}
	if _, err := uuid.Parse(userID); err != nil {
		return persistence.User{}, dw.Errorf(dw.KindNotFound, "user not found")
	}
	var role, status string
	if in.Role != nil {
		role = *in.Role
	}
	if in.Status != nil {
		status = *in.Status
	}
	return s.Store.UpdateUser(ctx, userID, role, status, persistence.AuditEntry{ActorID: in.ActorID, Action: "user.update", IP: in.IP})
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
