package webhooks_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/divinewhispers/dw/webhooks"
)

// exec runs SQL of the test's own: the rows the job runner, the committer and the quota check
// write, without starting them.
func (b bundle) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := b.store.Pool().Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (b bundle) walletID(t *testing.T) string {
	t.Helper()
	var id string
	if err := b.store.Pool().QueryRow(t.Context(), `SELECT id::text FROM wallets WHERE owner_id = $1`, b.owner).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// message decodes a received message after checking its signature.
func message[T any](t *testing.T, secret string, r received) (string, T) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(r.Body, r.Header); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	var m struct {
		Type string `json:"type"`
		Data T      `json:"data"`
	}
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatal(err)
	}
	return m.Type, m.Data
}

// TestJobEvents: a job's completion or failure, however written, becomes its event (the
// trigger writes it in the same transaction); a status change that is not an ending does not.
func TestJobEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := newReceiver(t)
	e := b.endpoint(t, r.URL, webhooks.JobCompleted, webhooks.JobFailed)
	b.worker(t, "a", nil)
	wallet := b.walletID(t)
	jobs := map[string]string{uuid.NewString(): "completed", uuid.NewString(): "failed"}
	for id, status := range jobs {
		b.exec(t, `INSERT INTO jobs (id, user_id, wallet_id, type, status, idempotency_key, request_hash, params, price, expire_at)
			VALUES ($1::uuid, $2, $3, 'interpretation', 'pending', $1::text, '\x00', '{}', 10, now() + interval '1 hour')`, id, b.owner, wallet)
		b.exec(t, `UPDATE jobs SET status = 'running' WHERE id = $1`, id)
		b.exec(t, `UPDATE jobs SET status = $2, finished_at = now(), error_code = CASE WHEN $2 = 'failed' THEN 'llm_unavailable' ELSE '' END
			WHERE id = $1`, id, status)
		b.exec(t, `UPDATE jobs SET status = $2, settled = true WHERE id = $1`, id, status) // no second event
	}
	waitFor(t, "both deliveries", func() bool { return allSucceeded(b.deliveries(t, e.ID), 2) })
	got := r.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	for _, q := range got {
		typ, d := message[webhooks.JobData](t, e.Secret, q)
		want := jobs[d.JobID]
		if typ != "job."+want || d.Status != want || d.WalletID != wallet || d.UserID != b.owner || d.Price != 10 || d.FinishedAt.IsZero() ||
			(want == "failed") != (d.ErrorCode == "llm_unavailable") {
			t.Errorf("%s: %+v", typ, d)
		}
	}
}

// TestLowBalance: the ledger entry that takes a wallet's available points below the
// threshold is told once; entries that stay below it, or start from below, are not.
func TestLowBalance(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := newReceiver(t)
	e := b.endpoint(t, r.URL, webhooks.WalletLowBalance)
	wallet := b.walletID(t)
	entry := func(seq int64, typ string, amount, balanceDelta, heldDelta, balanceAfter, heldAfter int64) string {
		id := uuid.NewString()
		b.exec(t, `INSERT INTO transactions (id, wallet_id, seq, type, status, amount, balance_delta, held_delta, balance_after, held_after,
			idempotency_key, request_hash) VALUES ($1::uuid, $2, $3, $4, 'success', $5, $6, $7, $8, $9, $1::text, '\x00')`,
			id, wallet, seq, typ, amount, balanceDelta, heldDelta, balanceAfter, heldAfter)
		b.exec(t, `UPDATE wallets SET seq = $2, balance = $3, held = $4 WHERE id = $1`, wallet, seq, balanceAfter, heldAfter)
		return id
	}
	entry(1, "deposit", 100, 100, 0, 100, 0)
	hold := entry(2, "hold", 85, 0, 85, 100, 85) // available 100 → 15: below 20
	entry(3, "spend", 5, -5, 0, 95, 85)          // 15 → 10: still below
	b.worker(t, "a", nil)
	b.worker(t, "b", nil)
	waitFor(t, "the delivery", func() bool { return allSucceeded(b.deliveries(t, e.ID), 1) })
	entry(4, "release", 85, 0, -85, 95, 0)        // back to 95
	again := entry(5, "spend", 80, -80, 0, 15, 0) // 95 → 15: below again
	waitFor(t, "the second delivery", func() bool { return allSucceeded(b.deliveries(t, e.ID), 2) })
	got := r.requests()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	for i, want := range []string{hold, again} {
		typ, d := message[webhooks.WalletData](t, e.Secret, got[i])
		if typ != webhooks.WalletLowBalance || d.TransactionID != want || d.WalletID != wallet || d.Available != 15 || d.Threshold != 20 {
			t.Errorf("message %d: %s %+v", i, typ, d)
		}
	}
}

// TestQuotaEvents: a recorded quota threshold crossing is told with its numbers.
func TestQuotaEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := newReceiver(t)
	e := b.endpoint(t, r.URL, webhooks.QuotaThresholdCrossed)
	b.worker(t, "a", nil)
	wallet, quota := b.walletID(t), uuid.NewString()
	b.exec(t, `INSERT INTO quotas (id, wallet_id, period, node_milli_hours) VALUES ($1, $2, 'month', 10000)`, quota, wallet)
	b.exec(t, `INSERT INTO quota_events (quota_id, period_start, metric, threshold, used, used_seconds, quota)
		VALUES ($1, '2026-12-01', 'node_hours', 80, 8000, 28800, 10000)`, quota)
	waitFor(t, "the delivery", func() bool { return allSucceeded(b.deliveries(t, e.ID), 1) })
	typ, d := message[webhooks.QuotaData](t, e.Secret, r.requests()[0])
	want := webhooks.QuotaData{QuotaID: quota, WalletID: wallet, Period: "month", PeriodStart: "2026-12-01", Metric: "node_hours",
		Threshold: 80, Used: 8, Quota: 10}
	if typ != webhooks.QuotaThresholdCrossed || d != want {
		t.Errorf("%s %+v, want %+v", typ, d, want)
	}
}
