package persistence

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	dw "github.com/divinewhispers/dw"
)

// ErrResetTokenInvalid is the one answer for a reset token that is unknown, spent or expired:
// the three are not told apart.
var ErrResetTokenInvalid = dw.Coded(dw.KindInvalid, "invalid_reset_token", "the reset link is invalid, expired or already used; ask for a new one")

// NewResetToken is a password-reset token to store with the mail that carries it.
type NewResetToken struct {
	UserID  string
	Hash    []byte // sha256 of the token
	Expires time.Time
	// At most Max tokens of the user may have been made since Since, this one included.
	Since time.Time
	Max   int
	Mail  OutboxMail
	Audit AuditEntry
}

// CreateResetToken stores the hash of a new password-reset token of a user, the mail that
// carries it (into the outbox) and the audit row, in one transaction: no mail without its token,
// no token without its mail. When the user already had Max tokens made since Since it stores the
// audit row only and answers false; requests for one user are serialised (its row is locked),
// so requests sent at once, to any nodes, never make more. Errors: internal, unavailable.
func (s *Store) CreateResetToken(ctx context.Context, t NewResetToken) (created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		created = false
		// Lock first, count after: the count's statement then sees the tokens of whoever held
		// the lock before (a count in the locking statement would read its snapshot from before).
		if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, t.UserID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM password_reset_tokens WHERE user_id = $1 AND created_at >= $2`,
			t.UserID, t.Since).Scan(&n); err != nil {
			return err
		}
		if n < t.Max {
			if _, err := tx.Exec(ctx, `INSERT INTO password_reset_tokens (id, user_id, token_hash, expires_at)
				VALUES ($1, $2, $3, $4)`, newUUID(), t.UserID, t.Hash, t.Expires); err != nil {
				return err
			}
			if _, err := insertMail(ctx, tx, t.Mail); err != nil {
				return err
			}
			created = true
		}
		return insertAudit(ctx, tx, t.Audit)
	})
	return created, mapError(err, "reset token")
}

// ResetTokenUser returns the user of a reset token that is neither spent nor expired.
// Errors: invalid (invalid_reset_token), internal, unavailable.
func (s *Store) ResetTokenUser(ctx context.Context, hash []byte) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM password_reset_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > now()`, hash))
	if err == pgx.ErrNoRows {
		return User{}, ErrResetTokenInvalid
	}
	return u, mapError(err, "reset token")
}

// ResetPassword spends a reset token of userID and sets the user's password hash as
// SetPassword does (every session ended on every node, audited), in one transaction; the
// user's other outstanding reset tokens are spent too. A token spent, expired or of another
// user changes nothing. Errors: invalid (invalid_reset_token), internal, unavailable.
func (s *Store) ResetPassword(ctx context.Context, tokenHash []byte, userID, passwordHash string, audit AuditEntry) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE password_reset_tokens SET used_at = now()
			WHERE token_hash = $1 AND user_id = $2 AND used_at IS NULL AND expires_at > now()`, tokenHash, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrResetTokenInvalid
		}
		if _, err := tx.Exec(ctx, `UPDATE password_reset_tokens SET used_at = now() WHERE user_id = $1 AND used_at IS NULL`, userID); err != nil {
			return err
		}
		return setPassword(ctx, tx, userID, passwordHash, audit)
	}), "reset token")
}
