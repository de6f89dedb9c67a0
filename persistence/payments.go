package persistence

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/payments/sandbox"
)

// The payment store (payments.Store) and the sandbox provider's records (sandbox.Store), on
// migration 013.

const paymentColumns = `id::text, user_id::text, wallet_id::text, provider, package_id, points, currency,
	price_minor, status, COALESCE(provider_ref, ''), reason, COALESCE(transaction_id::text, ''),
	COALESCE(refund_transaction_id::text, ''), redirect_url, method, fields, expires_at,
	created_at, updated_at, paid_at, refunded_at`

func scanPayment(row pgx.Row) (payments.Payment, error) {
	var p payments.Payment
	var fields []byte
	var expires, paid, refunded *time.Time
	err := row.Scan(&p.ID, &p.UserID, &p.WalletID, &p.Provider, &p.PackageID, &p.Points, &p.Price.Currency,
		&p.Price.Minor, &p.Status, &p.Checkout.ProviderRef, &p.Reason, &p.TransactionID, &p.RefundTransactionID,
		&p.Checkout.RedirectURL, &p.Checkout.Method, &fields, &expires, &p.CreatedAt, &p.UpdatedAt, &paid, &refunded)
	if err != nil {
		return p, err
	}
	p.ProviderRef = p.Checkout.ProviderRef
	if len(fields) > 0 {
		if err := json.Unmarshal(fields, &p.Checkout.Fields); err != nil {
			return p, err
		}
	}
	for _, t := range []struct {
		src *time.Time
		dst *time.Time
	}{{expires, &p.Checkout.ExpiresAt}, {paid, &p.PaidAt}, {refunded, &p.RefundedAt}} {
		if t.src != nil {
			*t.dst = t.src.UTC()
		}
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, nil
}

func collectPayments(rows pgx.Rows, err error) ([]payments.Payment, error) {
	if err != nil {
		return nil, mapError(err, "payments")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (payments.Payment, error) { return scanPayment(r) })
	return out, mapError(err, "payments")
}

// CreatePayment inserts a pending payment; with a key, the payment the user made with the same
// key before is returned instead (created false). Errors: internal.
func (s *Store) CreatePayment(ctx context.Context, p payments.Payment, key string) (payments.Payment, bool, error) {
	row := s.pool.QueryRow(ctx, `INSERT INTO payments (id, user_id, wallet_id, provider, package_id, points,
			currency, price_minor, idempotency_key, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF($9, ''), $10, $10)
		ON CONFLICT (user_id, idempotency_key) DO NOTHING
		RETURNING `+paymentColumns,
		p.ID, p.UserID, p.WalletID, p.Provider, p.PackageID, p.Points, p.Price.Currency, p.Price.Minor, key, p.CreatedAt)
	out, err := scanPayment(row)
	if errors.Is(err, pgx.ErrNoRows) {
		out, err = scanPayment(s.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments
			WHERE user_id = $1 AND idempotency_key = $2`, p.UserID, key))
		return out, false, mapError(err, "payment")
	}
	return out, true, mapError(err, "payment")
}

// SetCheckout records the provider's answer to a payment's checkout. Errors: not_found,
// conflict (the provider reference is another payment's), internal.
func (s *Store) SetCheckout(ctx context.Context, id string, c payments.Checkout) (payments.Payment, error) {
	var fields []byte
	if c.Fields != nil {
		fields, _ = json.Marshal(c.Fields)
	}
	var expires *time.Time
	if !c.ExpiresAt.IsZero() {
		expires = &c.ExpiresAt
	}
	p, err := scanPayment(s.pool.QueryRow(ctx, `UPDATE payments SET provider_ref = NULLIF($2, ''), redirect_url = $3,
		method = $4, fields = $5, expires_at = $6, updated_at = now() WHERE id = $1 RETURNING `+paymentColumns,
		id, c.ProviderRef, c.RedirectURL, c.Method, fields, expires))
	return p, mapError(err, "payment")
}

// Payment reads one payment. Errors: not_found, internal.
func (s *Store) Payment(ctx context.Context, id string) (payments.Payment, error) {
	p, err := scanPayment(s.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1`, id))
	return p, mapError(err, "payment")
}

// PaymentByRef reads the payment a provider knows by ref. Errors: not_found, internal.
func (s *Store) PaymentByRef(ctx context.Context, provider, ref string) (payments.Payment, error) {
	p, err := scanPayment(s.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE provider = $1 AND provider_ref = $2`, provider, ref))
	return p, mapError(err, "payment")
}

// ListPayments reads a page of payments, newest first. Errors: invalid (bad_cursor), internal.
func (s *Store) ListPayments(ctx context.Context, f payments.ListFilter) ([]payments.Payment, string, error) {
	after, err := DecodeCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	q := `SELECT ` + paymentColumns + ` FROM payments WHERE ($1 = '' OR user_id::text = $1)
		AND ($2 = '' OR status = $2) AND ($3 = '' OR provider = $3)`
	return listByCreated(ctx, s, q, []any{f.UserID, string(f.Status), f.Provider}, Page{Limit: f.Limit, After: after}, "payments",
		func(r pgx.CollectableRow) (payments.Payment, error) { return scanPayment(r) },
		func(p payments.Payment) Cursor { return Cursor{At: p.CreatedAt, ID: p.ID} })
}

// Transition moves a payment from one of from to t.To in one guarded statement. Errors:
// not_found, internal.
func (s *Store) Transition(ctx context.Context, id string, from []payments.PaymentStatus, t payments.Transition) (payments.Payment, bool, error) {
	froms := make([]string, len(from))
	for i, f := range from {
		froms[i] = string(f)
	}
	var at *time.Time
	if !t.At.IsZero() {
		at = &t.At
	}
	p, err := scanPayment(s.pool.QueryRow(ctx, `UPDATE payments SET status = $3,
			reason = CASE WHEN $4 = '' THEN reason ELSE $4 END,
			provider_ref = COALESCE(provider_ref, NULLIF($5, '')),
			paid_at = CASE WHEN $3 = 'succeeded' THEN COALESCE($6, now()) ELSE paid_at END,
			refunded_at = CASE WHEN $3 = 'refunded' THEN COALESCE($6, now()) ELSE refunded_at END,
			updated_at = now()
		WHERE id = $1 AND status = ANY($2) RETURNING `+paymentColumns, id, froms, string(t.To), t.Reason, t.ProviderRef, at))
	if errors.Is(err, pgx.ErrNoRows) {
		p, err = s.Payment(ctx, id)
		return p, false, err
	}
	return p, err == nil, mapError(err, "payment")
}

// SetTransaction records a payment's credit (or refund) ledger entry once. Errors: internal.
func (s *Store) SetTransaction(ctx context.Context, id, txID string, refund bool) (bool, error) {
	col := "transaction_id"
	if refund {
		col = "refund_transaction_id"
	}
	tag, err := s.pool.Exec(ctx, `UPDATE payments SET `+col+` = $2, updated_at = now() WHERE id = $1 AND `+col+` IS NULL`, id, txID)
	return tag.RowsAffected() == 1, mapError(err, "payment")
}

// ClaimRefund marks a succeeded payment's refund started unless another caller started one
// less than stale ago. Errors: internal.
func (s *Store) ClaimRefund(ctx context.Context, id string, stale time.Duration) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE payments SET refund_started_at = now() WHERE id = $1 AND status = 'succeeded'
		AND (refund_started_at IS NULL OR refund_started_at < now() - $2 * interval '1 millisecond')`, id, stale.Milliseconds())
	return tag.RowsAffected() == 1, mapError(err, "payment")
}

// ReleaseRefund clears a refund claim. Errors: internal.
func (s *Store) ReleaseRefund(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `UPDATE payments SET refund_started_at = NULL WHERE id = $1 AND status = 'succeeded'`, id)
	return mapError(err, "payment")
}

// RecordEvent notes one delivery of a provider's event; first is false for a duplicate.
// Errors: internal.
func (s *Store) RecordEvent(ctx context.Context, provider, eventID, paymentID string, outcome payments.Outcome) (bool, error) {
	var deliveries int
	err := s.pool.QueryRow(ctx, `INSERT INTO payment_events (provider, event_id, payment_id, outcome)
		VALUES ($1, $2, NULLIF($3, '')::uuid, $4)
		ON CONFLICT (provider, event_id) DO UPDATE SET deliveries = payment_events.deliveries + 1, last_at = now()
		RETURNING deliveries`, provider, eventID, paymentID, string(outcome)).Scan(&deliveries)
	return deliveries == 1, mapError(err, "payment event")
}

// ClaimStale returns pending payments older than olderThan not asked about within recheck,
// marking them asked; rows another node is claiming are skipped. The least recently asked go
// first (never asked: first of all), so that payments pending for good (abandoned checkouts)
// cannot keep the others from their turn. Errors: internal.
func (s *Store) ClaimStale(ctx context.Context, olderThan time.Time, recheck time.Duration, limit int) ([]payments.Payment, error) {
	return collectPayments(s.pool.Query(ctx, `UPDATE payments SET checked_at = now() WHERE id IN (
			SELECT id FROM payments WHERE status = 'pending' AND created_at < $1
				AND (checked_at IS NULL OR checked_at < now() - $2 * interval '1 millisecond')
			ORDER BY checked_at NULLS FIRST, created_at LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+paymentColumns, olderThan, recheck.Milliseconds(), limit))
}

// Uncredited returns succeeded payments without a ledger entry changed before olderThan.
// Errors: internal.
func (s *Store) Uncredited(ctx context.Context, olderThan time.Time, limit int) ([]payments.Payment, error) {
	return collectPayments(s.pool.Query(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE status = 'succeeded' AND transaction_id IS NULL AND updated_at < $1 ORDER BY updated_at LIMIT $2`, olderThan, limit))
}

// PaymentsSince returns a provider's payments created at or after since, oldest first.
// Errors: internal.
func (s *Store) PaymentsSince(ctx context.Context, provider string, since time.Time, limit int) ([]payments.Payment, error) {
	return collectPayments(s.pool.Query(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE provider = $1 AND created_at >= $2 ORDER BY created_at, id LIMIT $3`, provider, since, limit))
}

// AuditPayment appends an audit row about a payment. Errors: internal.
func (s *Store) AuditPayment(ctx context.Context, a payments.Audit) error {
	detail, err := json.Marshal(a.Detail)
	if err != nil || a.Detail == nil {
		detail = []byte(`{}`)
	}
	target := ""
	if a.PaymentID != "" {
		target = "payment"
	}
	return s.Audit(ctx, AuditEntry{ActorID: a.ActorID, Action: a.Action, TargetType: target, TargetID: a.PaymentID, Detail: detail, IP: a.IP})
}

// SandboxKey returns the sandbox provider's signing key, made by the first caller. Errors:
// internal.
func (s *Store) SandboxKey(ctx context.Context) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, dw.Internal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO payment_sandbox_key (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, key); err != nil {
		return nil, mapError(err, "sandbox key")
	}
	err := s.pool.QueryRow(ctx, `SELECT secret FROM payment_sandbox_key WHERE id = 1`).Scan(&key)
	return key, mapError(err, "sandbox key")
}

const sandboxColumns = `ref, payment_id::text, currency, amount_minor, description, language, success_url,
	cancel_url, notify_url, outcome, created_at`

func scanSandbox(row pgx.Row) (sandbox.Record, error) {
	var r sandbox.Record
	err := row.Scan(&r.Ref, &r.PaymentID, &r.Amount.Currency, &r.Amount.Minor, &r.Description, &r.Language,
		&r.SuccessURL, &r.CancelURL, &r.NotifyURL, &r.Outcome, &r.CreatedAt)
	return r, err
}

// CreateSandbox stores a sandbox checkout (again: the first one stands). Errors: internal.
func (s *Store) CreateSandbox(ctx context.Context, r sandbox.Record) (sandbox.Record, error) {
	_, err := s.pool.Exec(ctx, `INSERT INTO payment_sandbox (ref, payment_id, currency, amount_minor, description,
			language, success_url, cancel_url, notify_url)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (payment_id) DO NOTHING`,
		r.Ref, r.PaymentID, r.Amount.Currency, r.Amount.Minor, r.Description, r.Language, r.SuccessURL, r.CancelURL, r.NotifyURL)
	if err != nil {
		return sandbox.Record{}, mapError(err, "sandbox checkout")
	}
	return s.SandboxRecord(ctx, r.PaymentID)
}

// SandboxRecord reads a sandbox checkout by payment id. Errors: not_found, internal.
func (s *Store) SandboxRecord(ctx context.Context, paymentID string) (sandbox.Record, error) {
	r, err := scanSandbox(s.pool.QueryRow(ctx, `SELECT `+sandboxColumns+` FROM payment_sandbox WHERE payment_id = $1`, paymentID))
	return r, mapError(err, "sandbox checkout")
}

// SetSandboxOutcome moves a sandbox checkout from one of from to to; changed is false when
// it was elsewhere. Errors: not_found, internal.
func (s *Store) SetSandboxOutcome(ctx context.Context, paymentID string, from []payments.Outcome, to payments.Outcome) (sandbox.Record, bool, error) {
	froms := make([]string, len(from))
	for i, f := range from {
		froms[i] = string(f)
	}
	r, err := scanSandbox(s.pool.QueryRow(ctx, `UPDATE payment_sandbox SET outcome = $3, updated_at = now()
		WHERE payment_id = $1 AND outcome = ANY($2) RETURNING `+sandboxColumns, paymentID, froms, string(to)))
	if errors.Is(err, pgx.ErrNoRows) {
		r, err = s.SandboxRecord(ctx, paymentID)
		return r, false, err
	}
	return r, err == nil, mapError(err, "sandbox checkout")
}
