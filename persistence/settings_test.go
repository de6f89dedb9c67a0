package persistence

import (
	"testing"
	"time"

	"github.com/divinewhispers/dw/internal/pgtest"
)

// TestExpireRows: each kind of row goes once older than its retention, and not before; a
// retention of 0 keeps its rows; queued mails are never expired by age.
func TestExpireRows(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, pgtest.NewDB(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := s.CreateUser(ctx, "expire@example.com", "hash", "user", AuditEntry{Action: "user.register"})
	if err != nil {
		t.Fatal(err)
	}
	src, err := s.CreateSource(ctx, IngestSource{Name: "expire-src", Dir: t.TempDir(), Glob: "*", Format: "slurm-sacct",
		Cluster: "c", Interval: time.Minute, Timezone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	// Of each kind, one row old (10 days) and one new (1 hour).
	for _, ins := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO ingest_errors (source_id, file, message, created_at) VALUES
			($1, 'f', 'old', now() - interval '10 days'), ($1, 'f', 'new', now() - interval '1 hour')`, []any{src.ID}},
		{`INSERT INTO mail_outbox (id, kind, recipient, subject, body, status, created_at) VALUES
			(gen_random_uuid(), 'k', 'a@example.com', 's', '', 'sent', now() - interval '10 days'),
			(gen_random_uuid(), 'k', 'a@example.com', 's', '', 'expired', now() - interval '1 hour'),
			(gen_random_uuid(), 'k', 'a@example.com', 's', 'b', 'queued', now() - interval '10 days')`, nil},
		{`INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at) VALUES
			(gen_random_uuid(), $1, gen_random_uuid(), 'old', now() - interval '10 days'),
			(gen_random_uuid(), $1, gen_random_uuid(), 'new', now() - interval '1 hour')`, []any{u.ID}},
		{`INSERT INTO password_reset_tokens (id, user_id, token_hash, expires_at) VALUES
			(gen_random_uuid(), $1, 'old', now() - interval '10 days'), (gen_random_uuid(), $1, 'new', now() + interval '1 hour')`, []any{u.ID}},
		{`INSERT INTO audit_logs (action, created_at) VALUES ('old', now() - interval '10 days'), ('new', now() - interval '1 hour')`, nil},
	} {
		if _, err := s.pool.Exec(ctx, ins.sql, ins.args...); err != nil {
			t.Fatalf("%s: %v", ins.sql, err)
		}
	}
	count := func(table string) (n int) {
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	audits := count("audit_logs")

	// With 5 days, only the 10-day rows go (not the queued mail); audit rows, kept (0), stay.
	got, err := s.ExpireRows(ctx, Retention{IngestErrors: 5 * 24 * time.Hour, MailOutbox: 5 * 24 * time.Hour, Tokens: 5 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"ingest_errors": 1, "mail_outbox": 1, "refresh_tokens": 1, "password_reset_tokens": 1}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d deleted, want %d (%v)", k, got[k], n, got)
		}
	}
	if _, ok := got["audit_logs"]; ok || count("audit_logs") != audits {
		t.Errorf("audit rows expired with a retention of 0: %v", got)
	}
	for table, n := range map[string]int{"ingest_errors": 1, "mail_outbox": 2, "refresh_tokens": 1, "password_reset_tokens": 1} {
		if c := count(table); c != n {
			t.Errorf("%s: %d rows left, want %d", table, c, n)
		}
	}
	// Again: nothing more. Then the audit log with a retention of its own.
	if got, _ := s.ExpireRows(ctx, Retention{IngestErrors: 5 * 24 * time.Hour, MailOutbox: 5 * 24 * time.Hour, Tokens: 5 * 24 * time.Hour}); got["ingest_errors"]+got["mail_outbox"]+got["refresh_tokens"]+got["password_reset_tokens"] != 0 {
		t.Errorf("a second sweep deleted %v", got)
	}
	if got, _ := s.ExpireRows(ctx, Retention{AuditLogs: 5 * 24 * time.Hour}); got["audit_logs"] != 1 || count("audit_logs") != audits-1 {
		t.Errorf("audit rows: %v", got)
	}
}
