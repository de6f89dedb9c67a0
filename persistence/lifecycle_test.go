package persistence

import (
	"testing"
	"time"

	"github.com/divinewhispers/dw/internal/pgtest"
)

// TestSweepDeleted: a job and a draw stored just after their user's deletion (their requests
// passed the session check just before it) are cancelled and erased by the sweep; a user
// deleted long ago, and users not deleted, are left alone.
func TestSweepDeleted(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, pgtest.NewDB(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gone, err := s.CreateUser(ctx, "gone@example.com", "hash", "user", AuditEntry{Action: "user.register"})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := s.CreateUser(ctx, "kept@example.com", "hash", "user", AuditEntry{Action: "user.register"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUser(ctx, gone.ID, AuditEntry{ActorID: gone.ID}); err != nil {
		t.Fatal(err)
	}
	late := func(u User) string {
		id := newUUID()
		if _, err := s.pool.Exec(ctx, `INSERT INTO jobs (id, user_id, wallet_id, type, status, idempotency_key, request_hash,
			params, price, expire_at) VALUES ($1, $2, $3, 'interpretation', 'running', $4, '\x00',
			'{"question": "my secret", "context": "my story", "set": "s", "number": 1}', 10, now() + interval '1 hour')`,
			id, u.ID, u.WalletID, "late-"+id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.pool.Exec(ctx, `INSERT INTO job_results (job_id, result, retention_until) VALUES ($1, '{}', now() + interval '1 day')`, id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.pool.Exec(ctx, `INSERT INTO draws (id, user_id, set_slug, number) VALUES ($1, $2, 's', 1)`, newUUID(), u.ID); err != nil {
			t.Fatal(err)
		}
		return id
	}
	goneJob, keptJob := late(gone), late(kept)

	n, err := s.SweepDeleted(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 { // the job cancelled, its result, its question, the draw
		t.Errorf("swept %d rows, want 4", n)
	}
	check := func(job, status, question string, results, draws int, userID string) {
		t.Helper()
		var st, q string
		var r, d int
		if err := s.pool.QueryRow(ctx, `SELECT status, params->>'question', (SELECT count(*) FROM job_results WHERE job_id = $1),
			(SELECT count(*) FROM draws WHERE user_id = $2) FROM jobs WHERE id = $1`, job, userID).Scan(&st, &q, &r, &d); err != nil {
			t.Fatal(err)
		}
		if st != status || q != question || r != results || d != draws {
			t.Errorf("job %s: %s %q, %d results, %d draws; want %s %q %d %d", job, st, q, r, d, status, question, results, draws)
		}
	}
	check(goneJob, "cancelled", "", 0, 0, gone.ID)
	check(keptJob, "running", "my secret", 1, 1, kept.ID)
	if n, _ := s.SweepDeleted(ctx, time.Hour); n != 0 {
		t.Errorf("a second sweep changed %d rows", n)
	}

	// A deletion older than the window is not looked at again.
	if _, err := s.pool.Exec(ctx, `UPDATE users SET deleted_at = now() - interval '2 hours' WHERE id = $1`, gone.ID); err != nil {
		t.Fatal(err)
	}
	old := late(gone)
	if n, _ := s.SweepDeleted(ctx, time.Hour); n != 0 {
		t.Errorf("a deletion outside the window: swept %d rows", n)
	}
	check(old, "running", "my secret", 1, 1, gone.ID)
}
