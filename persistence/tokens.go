package persistence

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	dw "github.com/divinewhispers/dw"
)

// ErrRefreshReused says a refresh token that was already spent came back: the whole family of
// tokens descending from the same login has been revoked.
var ErrRefreshReused = dw.Coded(dw.KindUnauthorized, "refresh_token_reused", "this refresh token was already used; all sessions of this login were revoked")

var errRefreshInvalid = dw.Coded(dw.KindUnauthorized, "invalid_refresh_token", "the refresh token is invalid, expired or revoked")

// CreateRefreshToken stores the hash of a new token of a family (a new family on login).
func (s *Store) CreateRefreshToken(ctx context.Context, userID, familyID string, hash []byte, expires time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, newUUID(), userID, familyID, hash, expires)
	return mapError(err, "refresh token")
}

// RotateRefreshToken spends the token with hash old and stores newHash in its family, returning
// the user and the family (the session). Spending a spent token revokes its family, which ends
// the session's access tokens too (ErrRefreshReused). Errors: unauthorized
// (invalid_refresh_token, refresh_token_reused), internal.
func (s *Store) RotateRefreshToken(ctx context.Context, old, newHash []byte, expires time.Time) (User, string, error) {
	var u User
	var family string
	var reused bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id, userID string
		var usedAt, revokedAt *time.Time
		var exp time.Time
		err := tx.QueryRow(ctx, `SELECT id::text, user_id::text, family_id::text, used_at, revoked_at, expires_at
			FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`, old).Scan(&id, &userID, &family, &usedAt, &revokedAt, &exp)
		if err != nil {
			return err
		}
		if usedAt != nil {
			reused = true
			_, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL`, family)
			if err == nil {
				err = notifySession(ctx, tx, userID)
			}
			if err == nil {
				err = insertAudit(ctx, tx, AuditEntry{ActorID: userID, Action: "auth.refresh_reuse", TargetType: "user", TargetID: userID})
			}
			return err
		}
		if revokedAt != nil || time.Now().After(exp) {
			return errRefreshInvalid
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = now() WHERE id = $1`, id); err != nil {
			return err
		}
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, userID))
		if err != nil {
			return err
		}
		if u.Status != "active" {
			return dw.Coded(dw.KindUnauthorized, "account_suspended", "this account is suspended")
		}
		_, err = tx.Exec(ctx, `INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at)
			VALUES ($1, $2, $3, $4, $5)`, newUUID(), userID, family, newHash, expires)
		return err
	})
	if reused && err == nil {
		return User{}, "", ErrRefreshReused
	}
	if err == pgx.ErrNoRows {
		return User{}, "", errRefreshInvalid
	}
	if k := dw.KindOf(err); k == dw.KindUnauthorized {
		return User{}, "", err
	}
	if err != nil {
		return User{}, "", mapError(err, "refresh token")
	}
	return u, family, nil
}
