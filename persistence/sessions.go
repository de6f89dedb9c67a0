package persistence

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	dw "github.com/divinewhispers/dw"
)

// SessionChannel is the PostgreSQL notification channel of session changes: its payload is the
// id of a user whose token version or refresh-token families changed. Every write that ends
// access tokens sends it in its own transaction, so a listener hears of the change exactly
// when it commits — also when the write comes from a CLI process rather than a node.
const SessionChannel = "dw_sessions"

// notifySession tells every listening node, when tx commits, to forget what it knows of the
// sessions of userID.
func notifySession(ctx context.Context, tx pgx.Tx, userID string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify('`+SessionChannel+`', $1)`, userID)
	return err
}

// SessionState is what decides whether an access token of a user and session still holds.
type SessionState struct {
	UserExists bool
	Version    int64  // the user's token version: tokens of another version are ended
	Role       string // the user's role now
	Status     string // active or suspended
	FamilyOpen bool   // the session (refresh-token family) belongs to the user and is not revoked
}

// SessionState reads the state of a user and one of its sessions. Ids that are not UUIDs name
// nothing (UserExists or FamilyOpen false). Errors: internal.
func (s *Store) SessionState(ctx context.Context, userID, familyID string) (SessionState, error) {
	var st SessionState
	if _, err := uuid.Parse(userID); err != nil {
		return st, nil
	}
	if _, err := uuid.Parse(familyID); err != nil {
		familyID = uuid.Nil.String()
	}
	err := s.pool.QueryRow(ctx, `SELECT u.token_version, u.role, u.status,
			EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = $2 AND r.user_id = u.id AND r.revoked_at IS NULL)
		FROM users u WHERE u.id = $1`, userID, familyID).Scan(&st.Version, &st.Role, &st.Status, &st.FamilyOpen)
	if err == pgx.ErrNoRows {
		return SessionState{}, nil
	}
	if err != nil {
		return SessionState{}, mapError(err, "user")
	}
	st.UserExists = true
	return st, nil
}

// RevokeSession ends a user's session familyID (its refresh tokens, and through the
// notification its access tokens on every node) and, when refreshHash is given, the family of
// that refresh token if it is the user's own. A refresh token of another user is left alone
// and the attempt is audited (auth.logout_foreign_token). The logout is audited with audit.
// Errors: internal.
func (s *Store) RevokeSession(ctx context.Context, userID, familyID string, refreshHash []byte, audit AuditEntry) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := uuid.Parse(familyID); err == nil {
			if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now()
				WHERE family_id = $1 AND user_id = $2 AND revoked_at IS NULL`, familyID, userID); err != nil {
				return err
			}
		}
		if refreshHash != nil {
			var owner string
			err := tx.QueryRow(ctx, `SELECT user_id::text FROM refresh_tokens WHERE token_hash = $1`, refreshHash).Scan(&owner)
			switch {
			case err == pgx.ErrNoRows:
			case err != nil:
				return err
			case owner != userID:
				if err := insertAudit(ctx, tx, AuditEntry{ActorID: userID, Action: "auth.logout_foreign_token",
					TargetType: "user", TargetID: owner, IP: audit.IP}); err != nil {
					return err
				}
			default:
				if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now()
					WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND user_id = $2)
					AND revoked_at IS NULL`, refreshHash, userID); err != nil {
					return err
				}
			}
		}
		if err := notifySession(ctx, tx, userID); err != nil {
			return err
		}
		audit.Detail, _ = json.Marshal(map[string]string{"session": familyID})
		return insertAudit(ctx, tx, audit)
	}), "session")
}

// ListenSessions holds a connection of its own listening on SessionChannel: it calls ready once
// listening, then event with the payload (a user id) of every notification, until ctx ends or
// the connection fails; it returns the error. The caller forgets what it cached when it
// returns (notifications may be lost while nobody listens) and calls it again.
func (s *Store) ListenSessions(ctx context.Context, ready func(), event func(userID string)) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return &dw.Error{Kind: dw.KindUnavailable, Code: "database_unavailable", Message: "cannot connect to the database", Err: err}
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN `+SessionChannel); err != nil {
		return mapError(err, "session listener")
	}
	ready()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		event(n.Payload)
	}
}
