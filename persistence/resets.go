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

// CreateResetToken stores the hash of a new password-reset token of a user, the mail that
// carries it (into the outbox) and an audit row, in one transaction: no mail without its token,
// no token without its mail. Errors: internal, unavailable.
func (s *Store) CreateResetToken(ctx context.Context, userID string, hash []byte, expires time.Time, m OutboxMail, audit AuditEntry) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO password_reset_tokens (id, user_id, token_hash, expires_at)
			VALUES ($1, $2, $3, $4)`, newUUID(), userID, hash, expires); err != nil {
			return err
		}
		if _, err := insertMail(ctx, tx, m); err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit)
	}), "reset token")
}

// CountResetTokens counts the reset tokens made for a user since since (by the database's
// clock). Errors: internal, unavailable.
func (s *Store) CountResetTokens(ctx context.Context, userID string, since time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM password_reset_tokens WHERE user_id = $1 AND created_at >= $2`,
		userID, since).Scan(&n)
	return n, mapError(err, "reset token")
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
