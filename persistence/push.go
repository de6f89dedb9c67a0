package persistence

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/divinewhispers/dw/push"
)

// The store of package push (migration 016).
var _ push.Store = (*Store)(nil)

const pushSubscriptionColumns = `id::text, user_id::text, kind, endpoint, p256dh, auth, lang, created_at`

func scanPushSubscription(row pgx.Row) (push.Subscription, error) {
	var s push.Subscription
	err := row.Scan(&s.ID, &s.UserID, &s.Kind, &s.Endpoint, &s.P256dh, &s.Auth, &s.Lang, &s.CreatedAt)
	return s, err
}

// SavePushSubscription stores sub, or gives an endpoint already stored to sub.UserID with the
// new keys and language. Errors: not_found (no such user), unavailable.
func (s *Store) SavePushSubscription(ctx context.Context, sub push.Subscription) (push.Subscription, error) {
	out, err := scanPushSubscription(s.pool.QueryRow(ctx, `INSERT INTO push_subscriptions AS p (id, user_id, kind, endpoint, p256dh, auth, lang)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (endpoint) DO UPDATE SET user_id = EXCLUDED.user_id, kind = EXCLUDED.kind, p256dh = EXCLUDED.p256dh,
			auth = EXCLUDED.auth, lang = EXCLUDED.lang
		RETURNING `+pushSubscriptionColumns, newUUID(), sub.UserID, sub.Kind, sub.Endpoint, sub.P256dh, sub.Auth, sub.Lang))
	return out, mapError(err, "push subscription")
}

// DeletePushSubscription removes subscription id of userID ("" = of anyone). Errors:
// not_found, unavailable.
func (s *Store) DeletePushSubscription(ctx context.Context, userID, id string) error {
	if !validUUID(id) || (userID != "" && !validUUID(userID)) {
		return mapError(pgx.ErrNoRows, "push subscription")
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM push_subscriptions WHERE id = $1 AND ($2 = '' OR user_id::text = $2)`, id, userID)
	if err == nil && tag.RowsAffected() == 0 {
		err = pgx.ErrNoRows
	}
	return mapError(err, "push subscription")
}

// PushSubscriptions lists userID's subscriptions, oldest first. Errors: unavailable.
func (s *Store) PushSubscriptions(ctx context.Context, userID string) ([]push.Subscription, error) {
	if !validUUID(userID) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+pushSubscriptionColumns+` FROM push_subscriptions WHERE user_id = $1
		ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, mapError(err, "push subscription")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (push.Subscription, error) { return scanPushSubscription(r) })
	return out, mapError(err, "push subscription")
}

// ClaimPushNotices leases up to limit due notices for lease and counts the attempt; rows another
// node holds are skipped. Errors: unavailable.
func (s *Store) ClaimPushNotices(ctx context.Context, limit int, lease time.Duration) ([]push.Notice, error) {
	rows, err := s.pool.Query(ctx, `UPDATE push_notices n SET locked_until = now() + $2::interval, attempts = n.attempts + 1
		FROM (SELECT job_id FROM push_notices
		      WHERE next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
		      ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
		WHERE n.job_id = due.job_id
		RETURNING n.job_id::text, n.user_id::text, n.status, n.attempts, n.created_at`, limit, lease)
	if err != nil {
		return nil, mapError(err, "push notice")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (push.Notice, error) {
		var n push.Notice
		err := r.Scan(&n.JobID, &n.UserID, &n.Status, &n.Attempts, &n.CreatedAt)
		return n, err
	})
	return out, mapError(err, "push notice")
}

// FinishPushNotice removes a notice. Errors: unavailable.
func (s *Store) FinishPushNotice(ctx context.Context, jobID string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM push_notices WHERE job_id = $1`, jobID)
	return mapError(err, "push notice")
}

// RetryPushNotice makes a notice due again at at. Errors: unavailable.
func (s *Store) RetryPushNotice(ctx context.Context, jobID string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE push_notices SET next_attempt_at = $2, locked_until = NULL WHERE job_id = $1`, jobID, at)
	return mapError(err, "push notice")
}

func validUUID(s string) bool { _, err := uuid.Parse(s); return err == nil }
