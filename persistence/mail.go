package persistence

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// OutboxMail is one mail of the outbox (migration 011). Body is erased once the mail is sent
// or expired; lists for operators leave it out.
type OutboxMail struct {
	ID            string     `json:"id"`
	Kind          string     `json:"kind"` // what it is, e.g. password_reset
	Recipient     string     `json:"recipient"`
	Lang          string     `json:"lang"`
	Subject       string     `json:"subject"`
	Body          string     `json:"-"`
	Status        string     `json:"status"` // queued, sent, failed or expired
	Attempts      int        `json:"attempts"`
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	LastError     string     `json:"last_error,omitempty"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
}

const mailColumns = `id::text, kind, recipient, lang, subject, body, status, attempts, next_attempt_at,
	last_error, expires_at, created_at, sent_at`

func scanMail(row pgx.Row) (OutboxMail, error) {
	var m OutboxMail
	err := row.Scan(&m.ID, &m.Kind, &m.Recipient, &m.Lang, &m.Subject, &m.Body, &m.Status, &m.Attempts,
		&m.NextAttemptAt, &m.LastError, &m.ExpiresAt, &m.CreatedAt, &m.SentAt)
	return m, err
}

func insertMail(ctx context.Context, tx pgx.Tx, m OutboxMail) (string, error) {
	id := newUUID()
	_, err := tx.Exec(ctx, `INSERT INTO mail_outbox (id, kind, recipient, lang, subject, body, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, m.Kind, m.Recipient, m.Lang, m.Subject, m.Body, m.ExpiresAt)
	return id, err
}

// EnqueueMail writes a mail to the outbox, due now, and returns its id. Errors: internal,
// unavailable.
func (s *Store) EnqueueMail(ctx context.Context, m OutboxMail) (string, error) {
	var id string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		id, err = insertMail(ctx, tx, m)
		return err
	})
	return id, mapError(err, "mail")
}

// ExpireMail marks the queued mails past their expiry expired and erases their bodies.
// Errors: internal, unavailable.
func (s *Store) ExpireMail(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `UPDATE mail_outbox SET status = 'expired', body = '', locked_until = NULL
		WHERE status = 'queued' AND expires_at < now()`)
	return mapError(err, "mail")
}

// ClaimMail leases up to limit due mails for lease and counts the attempt: rows another node
// holds (locked, or leased and the lease not run out) are skipped, so every node may claim at
// once and each mail goes to one. Queued mails past their expiry become expired first (their
// body erased), and one that expires between the two statements is not claimed (the next
// call expires it). Errors: internal, unavailable.
func (s *Store) ClaimMail(ctx context.Context, limit int, lease time.Duration) ([]OutboxMail, error) {
	if err := s.ExpireMail(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `UPDATE mail_outbox m SET locked_until = now() + $2::interval, attempts = m.attempts + 1
		FROM (SELECT id FROM mail_outbox
		      WHERE status = 'queued' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
		        AND (expires_at IS NULL OR expires_at >= now())
		      ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
		WHERE m.id = due.id
		RETURNING m.id::text, m.kind, m.recipient, m.lang, m.subject, m.body, m.status, m.attempts, m.next_attempt_at,
			m.last_error, m.expires_at, m.created_at, m.sent_at`, limit, lease)
	if err != nil {
		return nil, mapError(err, "mail")
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxMail, error) { return scanMail(r) })
	return ms, mapError(err, "mail")
}

// MailAttempt is the outcome of one attempt to send a claimed mail.
type MailAttempt struct {
	MailID  string
	Attempt int // the mail's Attempts when it was claimed
	Node    string
	Started time.Time
	Err     string    // "" = sent
	RetryAt time.Time // failed: when to try again
	GiveUp  bool      // failed for good: no more attempts
}

// RecordMailAttempt records an attempt and its outcome on the mail: sent (its body erased),
// queued again for RetryAt, or failed. An outcome that comes after the mail's lease ran out and
// another node claimed it again is recorded as an attempt only. Errors: internal, unavailable.
func (s *Store) RecordMailAttempt(ctx context.Context, a MailAttempt) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO mail_attempts (mail_id, attempt, node, error, started_at)
			VALUES ($1, $2, $3, $4, $5)`, a.MailID, a.Attempt, a.Node, truncateText(a.Err, 500), a.Started); err != nil {
			return err
		}
		var err error
		switch {
		case a.Err == "":
			_, err = tx.Exec(ctx, `UPDATE mail_outbox SET status = 'sent', body = '', sent_at = now(), locked_until = NULL,
				last_error = '' WHERE id = $1 AND attempts = $2 AND status = 'queued'`, a.MailID, a.Attempt)
		case a.GiveUp:
			_, err = tx.Exec(ctx, `UPDATE mail_outbox SET status = 'failed', body = '', locked_until = NULL, last_error = $3
				WHERE id = $1 AND attempts = $2 AND status = 'queued'`, a.MailID, a.Attempt, truncateText(a.Err, 500))
		default:
			_, err = tx.Exec(ctx, `UPDATE mail_outbox SET next_attempt_at = $3, locked_until = NULL, last_error = $4
				WHERE id = $1 AND attempts = $2 AND status = 'queued'`, a.MailID, a.Attempt, a.RetryAt, truncateText(a.Err, 500))
		}
		return err
	}), "mail")
}

// ListMail lists the outbox, newest first, with status ("" = every status), at most limit
// rows, without bodies. Errors: internal, unavailable.
func (s *Store) ListMail(ctx context.Context, status string, limit int) ([]OutboxMail, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+mailColumns+` FROM mail_outbox
		WHERE $1 = '' OR status = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, status, limit)
	if err != nil {
		return nil, mapError(err, "mail")
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxMail, error) {
		m, err := scanMail(r)
		m.Body = ""
		return m, err
	})
	return ms, mapError(err, "mail")
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 { // not in the middle of a UTF-8 sequence
		n--
	}
	return s[:n]
}
