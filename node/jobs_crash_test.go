package node_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/persistence/pgserver"
)

// TestJobsCrashSafety kill -9s a `dw serve` while 16 clients submit interpretation jobs (the
// job writes of all grains grouped into shared transactions), restarts it on the same data
// directory and retries the submissions that got no answer: every accepted job is stored,
// completes once, and its points are held and captured exactly once; no hold is left without
// its job; every balance equals its ledger.
func TestJobsCrashSafety(t *testing.T) {
	t.Parallel()
	p, dir, newProc, base, admin := startEmbedded(t, "jobcrash", "--job-lease", "2s")

	type user struct{ token, wallet string }
	users := make([]user, 8)
	for i := range users {
		users[i].token, users[i].wallet = register(t, base, fmt.Sprintf("crash-%d@e2e.test", i))
		mustCall(t, 201, "POST", base+"/api/v1/wallets/"+users[i].wallet+"/deposits", admin, "topup", map[string]any{"amount": 1_000_000})
	}
	type submission struct {
		user int
		key  string
	}
	body := map[string]any{"type": "interpretation", "set": "liushi-jiazi", "number": 12, "question": "搬家是否順利？", "topic": "travel"}
	var (
		mu       sync.Mutex
		accepted = map[string]submission{} // job id → its submission
		subs     = map[string]submission{} // key → its submission
	)
	unanswered := killUnderLoad(t, p, 300, func(client int, key string) (bool, bool, error) {
		s := submission{user: client % len(users), key: key}
		mu.Lock()
		subs[key] = s
		mu.Unlock()
		r, err := call(t, "POST", base+"/api/v1/jobs", users[s.user].token, s.key, body)
		ok := err == nil && r.status == 202
		if ok {
			mu.Lock()
			accepted[r.body["job_id"].(string)] = s
			mu.Unlock()
		}
		return ok, ok, err
	})

	restartServe(t, newProc, dir, base)
	// A submission without an answer is sent again with its key: it finds the job it made, if
	// it made one, or makes it now.
	for _, key := range unanswered {
		s := subs[key]
		r := mustCallAny(t, "POST", base+"/api/v1/jobs", users[s.user].token, s.key, body)
		if r.status != 202 {
			t.Fatalf("resubmitting %s: %d %v", s.key, r.status, r.body)
		}
		accepted[r.body["job_id"].(string)] = s
	}

	url, _ := pgserver.RunningURL(dir)
	store, err := persistence.Open(t.Context(), url, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ids := make([]string, 0, len(accepted))
	for id := range accepted {
		ids = append(ids, id)
	}
	// Recovery restarts the jobs the dead node held (after their 2 s lease) and settles the
	// finished ones whose points it had not yet captured.
	waitFor(t, 90*time.Second, "every job completed and settled", func() bool {
		var open int
		err := store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM jobs WHERE NOT (status = 'completed' AND settled)`).Scan(&open)
		return err == nil && open == 0
	})
	var jobs, acceptedJobs int
	if err := store.Pool().QueryRow(t.Context(), `SELECT count(*), count(*) FILTER (WHERE id = ANY($1::uuid[])) FROM jobs`, ids).Scan(&jobs, &acceptedJobs); err != nil {
		t.Fatal(err)
	}
	if acceptedJobs != len(accepted) || jobs != len(accepted) {
		t.Fatalf("%d jobs stored, %d of the %d accepted", jobs, acceptedJobs, len(accepted))
	}
	// Per job: one hold and one capture of its price, by reference; no hold without its job.
	rows, err := store.Pool().Query(t.Context(), `SELECT j.id::text,
		(SELECT count(*) FROM transactions t WHERE t.reference_id = j.id::text AND t.type = 'hold'),
		(SELECT count(*) FROM transactions t WHERE t.reference_id = j.id::text AND t.type = 'capture'),
		(SELECT COALESCE(sum(amount), 0) FROM transactions t WHERE t.reference_id = j.id::text AND t.type = 'capture')
		FROM jobs j`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var holds, captures, captured int64
		if err := rows.Scan(&id, &holds, &captures, &captured); err != nil {
			t.Fatal(err)
		}
		if holds != 1 || captures != 1 || captured != 10 {
			t.Fatalf("job %s: %d holds, %d captures of %d points; want 1, 1 of 10", id, holds, captures, captured)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var orphans int
	if err := store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM transactions t WHERE t.type = 'hold'
		AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id::text = t.reference_id)`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Fatalf("%d holds without their job", orphans)
	}
	var jobsOf [8]int64
	for _, s := range accepted {
		jobsOf[s.user]++
	}
	for i, u := range users {
		balance := ledgerCheck(t, store, u.wallet)
		var held int64
		if err := store.Pool().QueryRow(t.Context(), `SELECT held FROM wallets WHERE id = $1`, u.wallet).Scan(&held); err != nil {
			t.Fatal(err)
		}
		if want := 1_000_000 - 10*jobsOf[i]; balance != want || held != 0 {
			t.Fatalf("wallet of user %d: balance %d, held %d; want %d, 0 after %d jobs", i, balance, held, want, jobsOf[i])
		}
	}
}
