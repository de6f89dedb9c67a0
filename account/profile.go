package account

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/persistence"
)

// Languages a user may choose (the web app's and the mails').
var Languages = []string{"zh-TW", "en"}

// MaxDisplayName is the longest display name, in characters.
const MaxDisplayName = 64

// ProfileInput changes the caller's profile; a nil field is left as it is.
type ProfileInput struct {
	DisplayName *string
	Language    *string
	IP          string
}

// Validate trims the display name and checks both fields. The error is invalid, with one
// message per bad field in its "errors" extension ({"display_name": "...", "language": "..."}).
func (in *ProfileInput) Validate() error {
	bad := map[string]string{}
	if in.DisplayName == nil && in.Language == nil {
		bad["display_name"] = "give display_name and/or language"
	}
	if in.DisplayName != nil {
		name := strings.TrimSpace(*in.DisplayName)
		in.DisplayName = &name
		if msg := checkDisplayName(name); msg != "" {
			bad["display_name"] = msg
		}
	}
	if in.Language != nil && !validLanguage(*in.Language) {
		bad["language"] = "must be one of " + strings.Join(Languages, ", ")
	}
	return FieldErrors(bad)
}

func checkDisplayName(name string) string {
	if !utf8.ValidString(name) {
		return "must be UTF-8 text"
	}
	if utf8.RuneCountInString(name) > MaxDisplayName {
		return "must be at most 64 characters"
	}
	for _, r := range name {
		// Control characters, and the invisible format characters (bidi overrides, zero-width
		// joiners) that make one name look like another.
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return "must not hold control or invisible formatting characters"
		}
	}
	return ""
}

func validLanguage(l string) bool {
	for _, x := range Languages {
		if l == x {
			return true
		}
	}
	return false
}

// FieldErrors is dw.FieldErrors (kept for the callers of this package).
func FieldErrors(bad map[string]string) error { return dw.FieldErrors(bad) }

// UpdateProfile sets the caller's display name and/or language, audited
// (user.profile_updated). Errors: invalid (errors keyed by field), not_found, internal.
func (s *Service) UpdateProfile(ctx context.Context, userID string, in ProfileInput) (persistence.User, error) {
	if err := in.Validate(); err != nil {
		return persistence.User{}, err
	}
	return s.Store.UpdateProfile(ctx, userID, in.DisplayName, in.Language,
		persistence.AuditEntry{ActorID: userID, IP: in.IP})
}

// JobCanceller cancels a user's unfinished job, its hold released (actors.Jobs does).
type JobCanceller interface {
	Cancel(ctx context.Context, userID, id string) (persistence.Job, error)
}

var errWrongPassword = dw.Coded(dw.KindForbidden, "invalid_credentials", "password is wrong")

// DeleteSelf deletes the caller's account after checking its current password (see Delete).
// Errors: forbidden (invalid_credentials: a wrong password), conflict (last_admin), not_found,
// unavailable (busy), internal.
func (s *Service) DeleteSelf(ctx context.Context, userID, password, ip string) error {
	u, err := s.Store.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	if u.Status == persistence.StatusDeleted || u.PasswordHash == "" {
		return dw.Errorf(dw.KindNotFound, "user not found")
	}
	ok, err := s.Hasher.Verify(ctx, password, u.PasswordHash)
	if hasherRefused(err) {
		return passwordError(err, "")
	}
	if err != nil || !ok {
		_ = s.Store.Audit(ctx, persistence.AuditEntry{ActorID: userID, Action: "user.delete_refused", TargetType: "user", TargetID: userID, IP: ip})
		return errWrongPassword
	}
	return s.Delete(ctx, userID, userID, ip)
}

// Delete deletes a user (an admin's action, or DeleteSelf's): its open jobs are cancelled
// first through Jobs (holds released at once; without Jobs the deletion cancels them in the
// database and the nodes' recovery releases the holds), then its personal data is removed or
// anonymised in one transaction while the ledger, its wallet and the audit log stay (see
// persistence.Store.DeleteUser). Every session of the user ends on every node; its email is
// free to register again. Audited (user.deleted). Errors: not_found, conflict (last_admin),
// internal.
func (s *Service) Delete(ctx context.Context, userID, actorID, ip string) error {
	if _, err := uuid.Parse(userID); err != nil {
		return dw.Errorf(dw.KindNotFound, "user not found")
	}
	u, err := s.Store.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	if u.Status == persistence.StatusDeleted {
		return dw.Errorf(dw.KindNotFound, "user not found")
	}
	if u.Role == RoleAdmin && u.Status == "active" {
		n, err := s.Store.ActiveAdmins(ctx)
		if err != nil {
			return err
		}
		if n <= 1 { // checked again, under locks, by the deletion itself
			return dw.Coded(dw.KindConflict, "last_admin", "this is the last active admin: promote another admin first")
		}
	}
	if s.Jobs != nil {
		open, err := s.Store.OpenJobsOf(ctx, userID)
		if err != nil {
			return err
		}
		for _, id := range open {
			// A job that finished meanwhile is fine; any other failure leaves the job to the
			// deletion's own cancel and the recovery's release.
			_, _ = s.Jobs.Cancel(ctx, userID, id)
		}
	}
	_, err = s.Store.DeleteUser(ctx, userID, persistence.AuditEntry{ActorID: actorID, IP: ip})
	return err
}
