package persistence

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/webhooks"
)

// The store of package webhooks (migration 014).
var _ webhooks.Store = (*Store)(nil)

func scanEndpoint(r pgx.Row, withSecret bool) (webhooks.Endpoint, error) {
	var e webhooks.Endpoint
	err := r.Scan(&e.ID, &e.OwnerID, &e.URL, &e.Events, &e.Secret, &e.CreatedAt)
	if !withSecret {
		e.Secret = ""
	}
	return e, err
}

const endpointColumns = `id::text, owner_id::text, url, events, secret, created_at`

// webhookAudit is an endpoint's audit row: its host and events, not its whole URL (whose path
// or query may carry the receiver's own token) and never its secret.
func webhookAudit(action string, e webhooks.Endpoint, by webhooks.Actor) AuditEntry {
	host := e.URL
	if u, err := url.Parse(e.URL); err == nil {
		host = u.Host
	}
	detail, _ := json.Marshal(map[string]any{"host": host, "events": e.Events, "owner_id": e.OwnerID})
	return AuditEntry{ActorID: by.UserID, Action: action, TargetType: "webhook_endpoint", TargetID: e.ID, Detail: detail, IP: by.IP}
}

// CreateEndpoint stores a new endpoint with its audit row (webhook.created). Errors: not_found
// (no such owner), internal, unavailable.
func (s *Store) CreateEndpoint(ctx context.Context, e webhooks.Endpoint, by webhooks.Actor) (webhooks.Endpoint, error) {
	var out webhooks.Endpoint
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = scanEndpoint(tx.QueryRow(ctx, `INSERT INTO webhook_endpoints (id, owner_id, url, events, secret)
			VALUES ($1, $2, $3, $4, $5) RETURNING `+endpointColumns, e.ID, e.OwnerID, e.URL, e.Events, e.Secret), true)
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx, webhookAudit("webhook.created", out, by))
	})
	if isForeignKeyViolation(err) {
		return out, dw.Errorf(dw.KindNotFound, "user not found")
	}
	return out, mapError(err, "webhook endpoint")
}

// Endpoints lists the endpoints of owner ("" = all), oldest first, without secrets. Errors:
// internal, unavailable.
func (s *Store) Endpoints(ctx context.Context, owner string) ([]webhooks.Endpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE $1 = '' OR owner_id::text = $1 ORDER BY created_at, id`, owner)
	if err != nil {
		return nil, mapError(err, "webhook endpoint")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhooks.Endpoint, error) { return scanEndpoint(r, false) })
	return out, mapError(err, "webhook endpoint")
}

// Endpoint reads an endpoint of owner ("" = anyone's). Errors: not_found, internal,
// unavailable.
func (s *Store) Endpoint(ctx context.Context, id, owner string, withSecret bool) (webhooks.Endpoint, error) {
	e, err := scanEndpoint(s.pool.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE id = $1 AND ($2 = '' OR owner_id::text = $2)`, id, owner), withSecret)
	return e, mapError(err, "webhook endpoint")
}

// DeleteEndpoint removes an endpoint of owner ("" = anyone's) with its deliveries and writes
// its audit row (webhook.deleted). Errors: not_found, internal, unavailable.
func (s *Store) DeleteEndpoint(ctx context.Context, id, owner string, by webhooks.Actor) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		e, err := scanEndpoint(tx.QueryRow(ctx, `DELETE FROM webhook_endpoints WHERE id = $1 AND ($2 = '' OR owner_id::text = $2)
			RETURNING `+endpointColumns, id, owner), false)
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx, webhookAudit("webhook.deleted", e, by))
	}), "webhook endpoint")
}

// PruneWebhooks removes the events that happened before before, with their deliveries and
// attempts, a batch at a time; it returns how many events it removed. Errors: internal,
// unavailable.
func (s *Store) PruneWebhooks(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_events WHERE id IN (
		SELECT id FROM webhook_events WHERE occurred_at < $1 AND published_at IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id AND d.status = 'pending')
		LIMIT 1000)`, before)
	if err != nil {
		return 0, mapError(err, "webhook event")
	}
	return int(tag.RowsAffected()), nil
}

// PublishEvent records ev with its payload (or completes the row a trigger or the sweep
// recorded) and enqueues one delivery per endpoint subscribed to its type that existed when it
// happened, none twice for one (endpoint, event). Errors: internal, unavailable.
func (s *Store) PublishEvent(ctx context.Context, ev webhooks.Event, payload []byte, maxAge time.Duration) (int, error) {
	tag, err := s.pool.Exec(ctx, `WITH ev AS (
			INSERT INTO webhook_events (id, type, occurred_at, payload, published_at) VALUES ($1, $2, $3, $4, now())
			ON CONFLICT (id) DO UPDATE SET payload = COALESCE(webhook_events.payload, EXCLUDED.payload),
				published_at = COALESCE(webhook_events.published_at, now()), locked_until = NULL
			RETURNING id, type, occurred_at)
		INSERT INTO webhook_deliveries (id, endpoint_id, event_id, deadline)
		SELECT gen_random_uuid(), e.id, ev.id, now() + $5 * interval '1 millisecond'
		FROM ev JOIN webhook_endpoints e ON ev.type = ANY (e.events) AND e.created_at <= ev.occurred_at
		ON CONFLICT (endpoint_id, event_id) DO NOTHING`, ev.ID, ev.Type, ev.At, payload, maxAge.Milliseconds())
	if err != nil {
		return 0, mapError(err, "webhook event")
	}
	return int(tag.RowsAffected()), nil
}

// ClaimEvents leases up to limit unpublished events the database recorded and reads the data
// of each from what it is about. An event whose subject is gone (a deleted quota) is marked
// published with no deliveries. Errors: internal, unavailable.
func (s *Store) ClaimEvents(ctx context.Context, limit int, lease time.Duration) ([]webhooks.Event, error) {
	type claimed struct {
		id, typ, subject string
		threshold        *int64
		at               time.Time
	}
	rows, err := s.pool.Query(ctx, `UPDATE webhook_events e SET locked_until = now() + $2 * interval '1 millisecond'
		FROM (SELECT id FROM webhook_events WHERE published_at IS NULL AND (locked_until IS NULL OR locked_until < now())
		      ORDER BY occurred_at LIMIT $1 FOR UPDATE SKIP LOCKED) c
		WHERE e.id = c.id RETURNING e.id, e.type, e.subject, e.threshold, e.occurred_at`, limit, lease.Milliseconds())
	if err != nil {
		return nil, mapError(err, "webhook event")
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
		var c claimed
		return c, r.Scan(&c.id, &c.typ, &c.subject, &c.threshold, &c.at)
	})
	if err != nil {
		return nil, mapError(err, "webhook event")
	}
	var out []webhooks.Event
	for _, c := range cs {
		data, err := s.eventData(ctx, c.typ, c.subject, c.threshold)
		if dw.KindOf(err) == dw.KindNotFound {
			if _, err := s.pool.Exec(ctx, `UPDATE webhook_events SET published_at = now(), locked_until = NULL WHERE id = $1`, c.id); err != nil {
				return out, mapError(err, "webhook event")
			}
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, webhooks.Event{ID: c.id, Type: c.typ, At: c.at, Data: data})
	}
	return out, nil
}

// eventData reads the typed data of a recorded event from its subject. Errors: not_found,
// internal, unavailable.
func (s *Store) eventData(ctx context.Context, typ, subject string, threshold *int64) (any, error) {
	switch typ {
	case webhooks.JobCompleted, webhooks.JobFailed:
		var d webhooks.JobData
		err := s.pool.QueryRow(ctx, `SELECT id::text, user_id::text, wallet_id::text, type, status, price, error_code,
			COALESCE(finished_at, updated_at) FROM jobs WHERE id = $1`, subject).
			Scan(&d.JobID, &d.UserID, &d.WalletID, &d.Type, &d.Status, &d.Price, &d.ErrorCode, &d.FinishedAt)
		return d, mapError(err, "job")
	case webhooks.PaymentSucceeded:
		var d webhooks.PaymentData
		err := s.pool.QueryRow(ctx, `SELECT id::text, user_id::text, wallet_id::text, provider, package_id, points, currency,
			price_minor FROM payments WHERE id = $1`, subject).
			Scan(&d.PaymentID, &d.UserID, &d.WalletID, &d.Provider, &d.Package, &d.Points, &d.Currency, &d.Amount)
		return d, mapError(err, "payment")
	case webhooks.WalletLowBalance:
		d := webhooks.WalletData{Threshold: 20}
		if threshold != nil {
			d.Threshold = *threshold
		}
		err := s.pool.QueryRow(ctx, `SELECT wallet_id::text, id::text, seq, balance_after, held_after FROM transactions WHERE id = $1`, subject).
			Scan(&d.WalletID, &d.TransactionID, &d.Seq, &d.Balance, &d.Held)
		d.Available = d.Balance - d.Held
		return d, mapError(err, "transaction")
	case webhooks.QuotaThresholdCrossed:
		parts := strings.Split(subject, "/")
		if len(parts) != 4 {
			return nil, dw.Errorf(dw.KindNotFound, "quota event not found")
		}
		threshold, _ := strconv.Atoi(parts[3])
		var d webhooks.QuotaData
		var start time.Time
		var used, quota int64
		var usedSeconds *int64
		err := s.pool.QueryRow(ctx, `SELECT e.quota_id::text, q.wallet_id::text, q.period, e.period_start, e.metric, e.threshold,
				e.used, e.used_seconds, e.quota
			FROM quota_events e JOIN quotas q ON q.id = e.quota_id
			WHERE e.quota_id = $1 AND e.period_start = $2::date AND e.metric = $3 AND e.threshold = $4`,
			parts[0], parts[1], parts[2], threshold).
			Scan(&d.QuotaID, &d.WalletID, &d.Period, &start, &d.Metric, &d.Threshold, &used, &usedSeconds, &quota)
		d.PeriodStart = start.Format(time.DateOnly)
		d.Used, d.Quota = hours(usedSeconds, used), float64(quota)/1000
		return d, mapError(err, "quota event")
	}
	return nil, dw.Errorf(dw.KindNotFound, "event source not found")
}

// SweepLowBalance records a wallet.low_balance event for every successful ledger entry after
// each wallet's mark that took its available points (balance − held) from threshold or more
// to below it, and moves the marks; up to limit wallets a call. It does nothing while no
// endpoint listens (an endpoint hears only of what happens after it was registered). Two
// nodes sweeping at once record each event once (its id is the entry's). Errors: internal,
// unavailable.
func (s *Store) SweepLowBalance(ctx context.Context, threshold int64, limit int) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `WITH moved AS ( -- wallets whose ledger moved past their mark
			SELECT w.id, COALESCE(m.seq, 0) AS from_seq, w.seq AS to_seq
			FROM wallets w LEFT JOIN webhook_wallet_marks m ON m.wallet_id = w.id
			WHERE w.seq > COALESCE(m.seq, 0)
			  AND EXISTS (SELECT 1 FROM webhook_endpoints WHERE events @> ARRAY['wallet.low_balance'])
			LIMIT $2
		), crossed AS (
			INSERT INTO webhook_events (id, type, subject, threshold, occurred_at)
			SELECT 'wallet.low_balance.' || t.id::text, 'wallet.low_balance', t.id::text, $1, t.created_at
			FROM moved JOIN transactions t ON t.wallet_id = moved.id AND t.seq > moved.from_seq AND t.seq <= moved.to_seq
			WHERE t.status = 'success' AND t.balance_after - t.held_after < $1
			  AND (t.balance_after - t.balance_delta) - (t.held_after - t.held_delta) >= $1
			ON CONFLICT (id) DO NOTHING
			RETURNING 1
		), marked AS (
			INSERT INTO webhook_wallet_marks (wallet_id, seq) SELECT id, to_seq FROM moved
			ON CONFLICT (wallet_id) DO UPDATE SET seq = GREATEST(webhook_wallet_marks.seq, EXCLUDED.seq)
		)
		SELECT count(*) FROM crossed`, threshold, limit).Scan(&n)
	return n, mapError(err, "wallet")
}

// ClaimDeliveries leases up to limit due deliveries for lease and counts their attempt: rows
// another node holds (locked, or leased and the lease not run out) are skipped, so every node
// may claim at once and each attempt goes to one. Errors: internal, unavailable.
func (s *Store) ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]webhooks.Claim, error) {
	rows, err := s.pool.Query(ctx, `WITH c AS (
			UPDATE webhook_deliveries d SET locked_until = now() + $2 * interval '1 millisecond', attempts = d.attempts + 1
			FROM (SELECT id FROM webhook_deliveries
			      WHERE status = 'pending' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
			      ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
			WHERE d.id = due.id
			RETURNING d.id, d.endpoint_id, d.event_id, d.attempts, d.deadline)
		SELECT c.id::text, c.endpoint_id::text, e.url, e.secret, c.event_id, ev.type, COALESCE(ev.payload, '{}'::bytea), c.attempts, c.deadline
		FROM c JOIN webhook_endpoints e ON e.id = c.endpoint_id JOIN webhook_events ev ON ev.id = c.event_id`,
		limit, lease.Milliseconds())
	if err != nil {
		return nil, mapError(err, "webhook delivery")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhooks.Claim, error) {
		var c webhooks.Claim
		err := r.Scan(&c.DeliveryID, &c.EndpointID, &c.URL, &c.Secret, &c.EventID, &c.EventType, &c.Payload, &c.Attempt, &c.Deadline)
		return c, err
	})
	return out, mapError(err, "webhook delivery")
}

// RecordAttempt records an attempt and its outcome on the delivery: succeeded, failed for good,
// or due again at NextAttemptAt. An outcome that comes after the delivery's lease ran out and
// another node claimed it again (or after a redelivery) is recorded as an attempt only.
// Errors: internal, unavailable.
func (s *Store) RecordAttempt(ctx context.Context, a webhooks.Attempt) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		errText := truncateText(a.Error, 500)
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_attempts (delivery_id, attempt, node, http_status, error, duration_ms, started_at, next_attempt_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, a.DeliveryID, a.Attempt, a.Node, a.HTTPStatus, errText, a.DurationMS, a.StartedAt, a.NextAttemptAt); err != nil {
			return err
		}
		var err error
		switch {
		case a.Succeeded():
			_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'succeeded', succeeded_at = now(), locked_until = NULL,
				last_http_status = $3, last_error = '' WHERE id = $1 AND attempts = $2 AND status = 'pending'`, a.DeliveryID, a.Attempt, a.HTTPStatus)
		case a.GiveUp || a.NextAttemptAt == nil:
			_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'failed', locked_until = NULL, last_http_status = $3, last_error = $4
				WHERE id = $1 AND attempts = $2 AND status = 'pending'`, a.DeliveryID, a.Attempt, a.HTTPStatus, errText)
		default:
			_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET next_attempt_at = $5, locked_until = NULL, last_http_status = $3, last_error = $4
				WHERE id = $1 AND attempts = $2 AND status = 'pending'`, a.DeliveryID, a.Attempt, a.HTTPStatus, errText, *a.NextAttemptAt)
		}
		return err
	}), "webhook delivery")
}

const deliveryColumns = `d.id::text, d.endpoint_id::text, d.event_id, ev.type, d.status, d.attempts, d.next_attempt_at, d.deadline,
	d.last_http_status, d.last_error, d.created_at, d.succeeded_at`

func scanDelivery(r pgx.Row) (webhooks.Delivery, error) {
	var d webhooks.Delivery
	var next time.Time
	err := r.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &d.Status, &d.Attempts, &next, &d.Deadline,
		&d.LastHTTP, &d.LastError, &d.CreatedAt, &d.SucceededAt)
	if d.Status == webhooks.StatusPending {
		d.NextAttemptAt = &next
	}
	d.Tries = []webhooks.Attempt{}
	return d, err
}

// Deliveries pages an endpoint's deliveries, newest first, each with its attempts (oldest
// first), and returns the cursor of the next page ("" at the end). Errors: invalid
// (bad_cursor), internal, unavailable.
func (s *Store) Deliveries(ctx context.Context, endpointID string, limit int, cursor string) ([]webhooks.Delivery, string, error) {
	after, err := DecodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	q := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id WHERE d.endpoint_id = $1`
	args := []any{endpointID, limit + 1}
	if after != nil {
		if _, err := uuid.Parse(after.ID); err != nil {
			return nil, "", errBadCursor
		}
		q += ` AND (d.created_at, d.id) < ($3, $4::uuid)`
		args = append(args, after.At, after.ID)
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY d.created_at DESC, d.id DESC LIMIT $2`, args...)
	if err != nil {
		return nil, "", mapError(err, "webhook delivery")
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhooks.Delivery, error) { return scanDelivery(r) })
	next := ""
	if len(ds) > limit {
		ds = ds[:limit]
		next = Cursor{At: ds[limit-1].CreatedAt, ID: ds[limit-1].ID}.Encode()
	}
	if err != nil || len(ds) == 0 {
		return ds, next, mapError(err, "webhook delivery")
	}
	if err := s.attachAttempts(ctx, ds); err != nil {
		return nil, "", err
	}
	return ds, next, nil
}

// attachAttempts reads the attempts of deliveries, oldest first. Errors: internal, unavailable.
func (s *Store) attachAttempts(ctx context.Context, ds []webhooks.Delivery) error {
	ids := make([]string, len(ds))
	at := map[string]int{}
	for i, d := range ds {
		ids[i], at[d.ID] = d.ID, i
	}
	rows, err := s.pool.Query(ctx, `SELECT delivery_id::text, attempt, node, http_status, error, duration_ms, started_at, next_attempt_at
		FROM webhook_attempts WHERE delivery_id = ANY ($1::uuid[]) ORDER BY delivery_id, id`, ids)
	if err != nil {
		return mapError(err, "webhook delivery")
	}
	as, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhooks.Attempt, error) {
		var a webhooks.Attempt
		return a, r.Scan(&a.DeliveryID, &a.Attempt, &a.Node, &a.HTTPStatus, &a.Error, &a.DurationMS, &a.StartedAt, &a.NextAttemptAt)
	})
	if err != nil {
		return mapError(err, "webhook delivery")
	}
	for _, a := range as {
		i := at[a.DeliveryID]
		ds[i].Tries = append(ds[i].Tries, a)
	}
	return nil
}

// Redeliver makes a delivery of the endpoint due now, pending again, with deadline as its new
// last moment. The lease of an attempt in flight is kept, so that no second attempt starts
// beside it; its outcome then stands for the delivery (a success ends it, a failure schedules
// the next attempt). Errors: not_found, internal, unavailable.
func (s *Store) Redeliver(ctx context.Context, endpointID, deliveryID string, deadline time.Time) (webhooks.Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `WITH d AS (
			UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), deadline = $3, succeeded_at = NULL
			WHERE id = $2 AND endpoint_id = $1 RETURNING *)
		SELECT `+deliveryColumns+` FROM d JOIN webhook_events ev ON ev.id = d.event_id`, endpointID, deliveryID, deadline))
	if err != nil {
		return d, mapError(err, "webhook delivery")
	}
	ds := []webhooks.Delivery{d}
	err = s.attachAttempts(ctx, ds)
	return ds[0], err
}
