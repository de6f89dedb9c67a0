// Package account is the core of users and sessions: registration with a personal wallet,
// login, rotating refresh tokens, password changes and the admin's user management. The
// gateway, the CLI and the tests all call it.
package account

import (
	"context"
	"errors"
	"net/mail"
	"strings"
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
	Hasher     *auth.Hasher  // every argon2id runs through it, bounded
	RefreshTTL time.Duration // 0 = 30 days
	Now        func() time.Time
	// Limits are the free rates of login failures and registrations per address (limits.go);
	// Captcha is asked beyond them (nil: never asked, only the hard limits hold).
	Limits  Limits
	Captcha captcha.Provider
	// PublicURL is where browsers reach the system: a reset mail links to
	// <PublicURL>/reset-password?token=…; ResetTTL is how long that link works (0 = 1 h).
	PublicURL string
	ResetTTL  time.Duration
	// Jobs cancels a deleted user's open jobs (profile.go); nil: the deletion cancels them in
	// the database and the nodes' recovery releases their holds.
	Jobs JobCanceller
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
	Language string // the account's language, zh-TW or en; "" = not chosen
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
	if in.Language != "" && in.Language != "zh-TW" && in.Language != "en" {
		errs = append(errs, errors.New("language must be zh-TW or en"))
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

// Registering a taken email says so (409 email_taken): as long as a new account can log in at
// once, with no mail to confirm it, an attacker learns whether an email is taken anyway by
// registering it and logging in with the password just given, so a feigned success would hide
// nothing and only mislead the owner who forgot an account. The answer is limited instead: an
// address that got MaxTakenEmailAnswers of them within TakenEmailWindow is refused (429) until
// the window has passed. Each is audited (user.register_taken).
const (
	MaxTakenEmailAnswers = 5
	TakenEmailWindow     = time.Hour
)

// Register creates a user and its personal wallet. Beyond a free rate of registrations from
// one address it asks for a captcha, beyond a hard limit it refuses (see Guard); an admin's
// registrations are not limited. Errors: invalid (weak_password among others), conflict
// (email_taken), forbidden (captcha_required, captcha_invalid), rate_limited (also after too
// many taken emails from the address), unavailable (busy: password hashing at capacity, with a
// retry time), internal.
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
	if in.IP != "" {
		n, oldest, err := s.Store.RecentAuditsFromIP(ctx, "user.register_taken", in.IP, s.now().Add(-TakenEmailWindow))
		if err != nil {
			return persistence.User{}, err
		}
		if n >= MaxTakenEmailAnswers {
			e := dw.Coded(dw.KindRateLimited, "rate_limited", "too many registrations of emails already in use from this address; try again later")
			e.RetryAfter = max(time.Second, oldest.Add(TakenEmailWindow).Sub(s.now()))
			return persistence.User{}, e
		}
	}
	hash, err := s.Hasher.HashNew(ctx, in.Password, in.Email)
	if err != nil {
		return persistence.User{}, passwordError(err, "")
	}
	u, err := s.Store.CreateUserIn(ctx, in.Email, hash, in.Role, in.Language, persistence.AuditEntry{
		ActorID: in.ActorID, Action: "user.register", IP: in.IP,
	})
	if dw.CodeOf(err) == "email_taken" {
		_ = s.Store.Audit(ctx, persistence.AuditEntry{ActorID: in.ActorID, Action: "user.register_taken", TargetType: "email",
			TargetID: in.Email, IP: in.IP})
	}
	return u, err
}

// hasherRefused says whether the Hasher refused to check a password (at capacity, or the caller
// gave up while queued), rather than checking it.
func hasherRefused(err error) bool {
	var busy *auth.BusyError
	return errors.As(err, &busy) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// passwordError turns the errors of the Hasher into the account core's: a weak password is
// invalid (weak_password, field names the input), a Hasher at capacity is unavailable (busy)
// with its retry advice.
func passwordError(err error, field string) error {
	var busy *auth.BusyError
	switch {
	case errors.As(err, &busy):
		return &dw.Error{Kind: dw.KindUnavailable, Code: "busy", Message: "too many password checks in progress; try again shortly",
			RetryAfter: busy.RetryAfter, Err: err}
	case errors.Is(err, auth.ErrWeakPassword):
		return dw.Coded(dw.KindInvalid, "weak_password", "%s%s", field, strings.TrimPrefix(err.Error(), auth.ErrWeakPassword.Error()+": "))
	}
	return dw.Internal(err)
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
// rate_limited, unavailable (busy), internal. An unknown email costs one argon2id, as a known
// one does, under the same bound.
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
		if _, herr := s.Hasher.Verify(ctx, password, ""); herr != nil {
			return Tokens{}, u, passwordError(herr, "")
		}
		_ = s.Store.Audit(ctx, persistence.AuditEntry{Action: actionLoginFailed, TargetType: targetType, TargetID: target, IP: ip})
		return Tokens{}, u, errBadLogin
	}
	ok, err := s.Hasher.Verify(ctx, password, u.PasswordHash)
	if hasherRefused(err) {
		return Tokens{}, u, passwordError(err, "")
	}
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

// issue opens a session's first pair of tokens: an access token of the session family and a
// refresh token stored in that family.
func (s *Service) issue(ctx context.Context, u persistence.User, family string) (Tokens, error) {
	t, err := s.access(u, family)
	if err != nil {
		return Tokens{}, err
	}
	refresh, hash, err := auth.NewRefreshToken()
	if err != nil {
		return Tokens{}, dw.Internal(err)
	}
	until := s.now().Add(s.refreshTTL())
	if err := s.Store.CreateRefreshToken(ctx, u.ID, family, hash, until); err != nil {
		return Tokens{}, err
	}
	t.RefreshToken, t.RefreshUntil = refresh, until
	return t, nil
}

// access signs an access token of session family for u at u's current token version.
func (s *Service) access(u persistence.User, family string) (Tokens, error) {
	access, exp, err := s.Issuer.Issue(auth.Subject{UserID: u.ID, Role: u.Role, WalletID: u.WalletID,
		SessionID: family, Version: u.TokenVersion}, s.now())
	if err != nil {
		return Tokens{}, dw.Internal(err)
	}
	return Tokens{AccessToken: access, TokenType: "Bearer",
		ExpiresIn: int64(exp.Sub(s.now()).Round(time.Second) / time.Second)}, nil
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
	u, family, err := s.Store.RotateRefreshToken(ctx, auth.HashRefreshToken(refreshToken), nextHash, until)
	if err != nil {
		return Tokens{}, err
	}
	t, err := s.access(u, family)
	if err != nil {
		return Tokens{}, err
	}
	t.RefreshToken, t.RefreshUntil = next, until
	return t, nil
}

// Logout ends the caller's session: the refresh-token family of its access token (sessionID)
// and, when given, the family of refreshToken if that token is the caller's own (a token of
// another user is ignored: logging out cannot end someone else's session). Every node refuses
// the session's access tokens within a second. Errors: internal.
func (s *Service) Logout(ctx context.Context, userID, sessionID, refreshToken, ip string) error {
	var hash []byte
	if refreshToken != "" {
		hash = auth.HashRefreshToken(refreshToken)
	}
	return s.Store.RevokeSession(ctx, userID, sessionID, hash,
		persistence.AuditEntry{ActorID: userID, Action: "auth.logout", TargetType: "user", TargetID: userID, IP: ip})
}

// ChangePassword checks the current password, sets the new one and ends every session.
// Errors: invalid (weak_password among others), unauthorized (invalid_credentials),
// not_found, unavailable (busy), internal.
func (s *Service) ChangePassword(ctx context.Context, userID, current, next, ip string) error {
	if err := auth.ValidatePassword(next); err != nil {
		return dw.Errorf(dw.KindInvalid, "new_password: %s", strings.TrimPrefix(err.Error(), "invalid password: "))
	}
	u, err := s.Store.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	ok, err := s.Hasher.Verify(ctx, current, u.PasswordHash)
	if hasherRefused(err) {
		return passwordError(err, "")
	}
	if err != nil || !ok {
		return dw.Coded(dw.KindUnauthorized, "invalid_credentials", "current_password is wrong")
	}
	hash, err := s.Hasher.HashNew(ctx, next, u.Email)
	if err != nil {
		return passwordError(err, "new_password: ")
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

// Update changes a user's role and/or status, audited. The last active admin can be neither
// demoted nor suspended. Errors: invalid, not_found, conflict (last_admin), internal.
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
