package persistence

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	dw "github.com/divinewhispers/dw"
)

// SettingsChannel is the PostgreSQL notification channel of runtime configuration changes:
// every change sends it in its own transaction, and each node then reads the settings again.
const SettingsChannel = "dw_settings"

// Setting is a value of the runtime configuration stored in the database.
type Setting struct {
	Key       string
	Value     json.RawMessage
	UpdatedAt time.Time
	UpdatedBy *string // the admin who set it (nil: a CLI or a deleted row's writer)
}

// SettingChange sets Key to Value (JSON), or removes its stored value when Value is nil.
type SettingChange struct {
	Key   string
	Value json.RawMessage
}

// Settings reads every stored setting. Errors: unavailable, internal.
func (s *Store) Settings(ctx context.Context) ([]Setting, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, value, updated_at, updated_by::text FROM settings ORDER BY key`)
	if err != nil {
		return nil, mapError(err, "settings")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Setting, error) {
		var st Setting
		err := r.Scan(&st.Key, &st.Value, &st.UpdatedAt, &st.UpdatedBy)
		return st, err
	})
	return out, mapError(err, "settings")
}

// SaveSettings applies changes in one transaction, with the audit row audit makes from the
// stored values before the change (key → value; a key without a stored value is absent) and a
// notification on SettingsChannel. Changes are serialised (an advisory lock), so each audit
// row's old values are those the change replaced. Errors: unavailable, internal.
func (s *Store) SaveSettings(ctx context.Context, changes []SettingChange, audit func(old map[string]json.RawMessage) AuditEntry) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('dw_settings'))`); err != nil {
			return err
		}
		keys := make([]string, len(changes))
		for i, c := range changes {
			keys[i] = c.Key
		}
		rows, err := tx.Query(ctx, `SELECT key, value FROM settings WHERE key = ANY($1)`, keys)
		if err != nil {
			return err
		}
		old := map[string]json.RawMessage{}
		for rows.Next() {
			var k string
			var v json.RawMessage
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			old[k] = v
		}
		if err := rows.Err(); err != nil {
			return err
		}
		a := audit(old)
		for _, c := range changes {
			if c.Value == nil {
				_, err = tx.Exec(ctx, `DELETE FROM settings WHERE key = $1`, c.Key)
			} else {
				_, err = tx.Exec(ctx, `INSERT INTO settings (key, value, updated_at, updated_by)
					VALUES ($1, $2, now(), NULLIF($3, '')::uuid)
					ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now(), updated_by = EXCLUDED.updated_by`,
					c.Key, c.Value, a.ActorID)
			}
			if err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify('`+SettingsChannel+`', '')`); err != nil {
			return err
		}
		return insertAudit(ctx, tx, a)
	}), "settings")
}

// ListenSettings holds a connection of its own listening on SettingsChannel: it calls ready
// once listening, then event for every notification, until ctx ends or the connection fails;
// it returns the error.
func (s *Store) ListenSettings(ctx context.Context, ready func(), event func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return &dw.Error{Kind: dw.KindUnavailable, Code: "database_unavailable", Message: "cannot connect to the database", Err: err}
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN `+SettingsChannel); err != nil {
		return mapError(err, "settings listener")
	}
	ready()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		event()
	}
}

// Retention says how long the rows the node would otherwise keep forever are kept; 0 keeps
// them.
type Retention struct {
	IngestErrors time.Duration // ingest line errors, by their time
	MailOutbox   time.Duration // mails sent, failed or expired (bodies are erased at sending already), by their creation
	Tokens       time.Duration // refresh and password-reset tokens, after they expired
	AuditLogs    time.Duration // audit rows, by their time
}

// expireBatch bounds one statement's deletions, so a first sweep over years of rows does not
// hold one long transaction.
const expireBatch = 5000

// ExpireRows deletes, a batch of each kind at a time, the rows older than their retention and
// returns how many of each it deleted (keys ingest_errors, mail_outbox, refresh_tokens,
// password_reset_tokens, audit_logs). Errors: unavailable, internal.
func (s *Store) ExpireRows(ctx context.Context, r Retention) (map[string]int64, error) {
	out := map[string]int64{}
	for _, st := range []struct {
		name, sql string
		keep      time.Duration
	}{
		{"ingest_errors", `DELETE FROM ingest_errors WHERE id IN (SELECT id FROM ingest_errors WHERE created_at < $1 LIMIT $2)`, r.IngestErrors},
		{"mail_outbox", `DELETE FROM mail_outbox WHERE id IN (SELECT id FROM mail_outbox WHERE status <> 'queued' AND created_at < $1 LIMIT $2)`, r.MailOutbox},
		{"refresh_tokens", `DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens WHERE expires_at < $1 LIMIT $2)`, r.Tokens},
		{"password_reset_tokens", `DELETE FROM password_reset_tokens WHERE id IN (SELECT id FROM password_reset_tokens WHERE expires_at < $1 LIMIT $2)`, r.Tokens},
		{"audit_logs", `DELETE FROM audit_logs WHERE id IN (SELECT id FROM audit_logs WHERE created_at < $1 LIMIT $2)`, r.AuditLogs},
	} {
		if st.keep <= 0 {
			continue
		}
		tag, err := s.pool.Exec(ctx, st.sql, time.Now().Add(-st.keep), expireBatch)
		if err != nil {
			return out, mapError(err, st.name)
		}
		out[st.name] = tag.RowsAffected()
	}
	return out, nil
}
