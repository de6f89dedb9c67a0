package persistence

import (
	"context"
	"time"
)

// AuditCount is how often an action was recorded from one address within a window: in all and
// against one target, with the oldest of each (zero when there is none) and the database's
// clock, so that callers compute when the oldest leaves the window on one clock.
type AuditCount struct {
	All, Target             int
	OldestAll, OldestTarget time.Time
	Now                     time.Time
}

// CountAudit counts the audit rows of action recorded from ip within the last window, and
// the attempts in flight reserved under action (Reserve), in all and with target_id =
// targetID. An IPv6 address counts with its whole /64 (migration 008's address_key). It reads
// two indexes (audit_logs_action_ip, limit_reservations_action_ip). Errors: internal,
// unavailable.
func (s *Store) CountAudit(ctx context.Context, action, ip, targetID string, window time.Duration) (AuditCount, error) {
	var c AuditCount
	var oldestAll, oldestTarget *time.Time
	err := s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE target_id = $3),
			min(created_at), min(created_at) FILTER (WHERE target_id = $3), now()
		FROM (SELECT target_id, created_at FROM audit_logs
		      WHERE action = $1 AND ip_key = address_key($2) AND created_at >= now() - $4::interval
		      UNION ALL
		      SELECT target_id, created_at FROM limit_reservations
		      WHERE action = $1 AND ip_key = address_key($2) AND created_at >= now() - $4::interval) AS counted`,
		action, ip, targetID, window).Scan(&c.All, &c.Target, &oldestAll, &oldestTarget, &c.Now)
	if oldestAll != nil {
		c.OldestAll = *oldestAll
	}
	if oldestTarget != nil {
		c.OldestTarget = *oldestTarget
	}
	return c, mapError(err, "audit log")
}

// Reserve records an attempt in flight from ip against targetID, counted by CountAudit under
// action until Release; it is committed when Reserve returns, so a count taken after it sees
// it. Reservations a dead node left behind are forgotten after a day. Errors: internal,
// unavailable.
func (s *Store) Reserve(ctx context.Context, action, ip, targetID string) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `WITH gc AS (
			DELETE FROM limit_reservations WHERE id IN (
				SELECT id FROM limit_reservations WHERE created_at < now() - interval '1 day' LIMIT 20))
		INSERT INTO limit_reservations (action, ip, target_id) VALUES ($1, $2, $3) RETURNING id`,
		action, ip, targetID).Scan(&id)
	return id, mapError(err, "reservation")
}

// Release forgets a reservation. Errors: internal, unavailable.
func (s *Store) Release(ctx context.Context, id int64) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM limit_reservations WHERE id = $1`, id)
	return mapError(err, "reservation")
}

// SpendCaptcha records a captcha solution (by id, e.g. a hash of its challenge) as used until
// expires. It answers false when the solution was used before, on any node. Each call also
// forgets a few solutions whose challenge has expired. Errors: internal, unavailable.
func (s *Store) SpendCaptcha(ctx context.Context, id string, expires time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `WITH gc AS (
			DELETE FROM captcha_spent WHERE id IN (
				SELECT id FROM captcha_spent WHERE expires_at < now() - interval '1 minute' LIMIT 20))
		INSERT INTO captcha_spent (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, id, expires)
	if err != nil {
		return false, mapError(err, "captcha")
	}
	return tag.RowsAffected() == 1, nil
}
