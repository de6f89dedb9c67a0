package persistence

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/job"
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, pgtest.Options{Migrate: Migrate}))
}

func newTestStore(t *testing.T) (*Store, User) {
	t.Helper()
	s, err := Open(t.Context(), pgtest.NewDB(t), 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	u, err := s.CreateUser(t.Context(), "jobs@example.com", "not-a-hash", "user", AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return s, u
}

func newJob(u User, key string) *Job {
	p := job.Params{Set: "liushi-jiazi", Number: 7, Question: "問事業", Topic: "career"}
	return &Job{ID: JobID(u.ID, key), UserID: u.ID, WalletID: u.WalletID, Type: job.TypeInterpretation, IdempotencyKey: key,
		RequestHash: p.Hash(), Params: p, Price: 10, MaxAttempts: 3, ExpireAt: time.Now().Add(time.Hour)}
}

// events returns a job's event statuses in order.
func events(t *testing.T, s *Store, id string) []string {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `SELECT seq, status FROM job_events WHERE job_id = $1 ORDER BY seq`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var seq int
		var st string
		if err := rows.Scan(&seq, &st); err != nil {
			t.Fatal(err)
		}
		if seq != len(out)+1 {
			t.Fatalf("job %s: event seq %d after %d events", id, seq, len(out))
		}
		out = append(out, st)
	}
	return out
}

// Many grains writing at once: every job goes through create → start → complete → settled
// exactly as the single-job statements did, whatever group each write lands in, and the same
// when every write is its own transaction.
func TestJobWritesConcurrent(t *testing.T) {
	t.Run("grouped", func(t *testing.T) { testJobWrites(t, 0) })
	t.Run("one-write-per-tx", func(t *testing.T) { testJobWrites(t, 1) })
}

func testJobWrites(t *testing.T, group int) {
	s, u := newTestStore(t)
	s.SetJobWriteGroup(group)
	ctx := t.Context()
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for i := range n {
		wg.Go(func() {
			key := fmt.Sprint("k", i)
			j := newJob(u, key)
			existing, err := s.CreateJob(ctx, j)
			if err != nil || existing || j.Status != job.Pending || j.CreatedAt.IsZero() {
				errs <- fmt.Errorf("create %s: existing=%v status=%s err=%v", key, existing, j.Status, err)
				return
			}
			// A replay of the same key finds the same row.
			again := newJob(u, key)
			existing, err = s.CreateJob(ctx, again)
			if err != nil || !existing || again.CreatedAt != j.CreatedAt {
				errs <- fmt.Errorf("replay %s: existing=%v err=%v", key, existing, err)
				return
			}
			started, ok, err := s.AcquireAndStart(ctx, j.ID, "node-a", time.Minute)
			if err != nil || !ok || started.Status != job.Running || started.Epoch != 1 || started.Attempts != 1 || started.Owner != "node-a" {
				errs <- fmt.Errorf("start %s: ok=%v job=%+v err=%v", key, ok, started, err)
				return
			}
			if ok, err := s.CompleteJob(ctx, j.ID, 0, json.RawMessage(`{}`), "m", time.Now().Add(time.Hour)); ok || err != nil {
				errs <- fmt.Errorf("complete %s with a stale epoch: ok=%v err=%v", key, ok, err)
				return
			}
			if ok, err := s.CompleteJob(ctx, j.ID, 1, json.RawMessage(fmt.Sprintf(`{"summary":%q}`, key)), "m", time.Now().Add(time.Hour)); !ok || err != nil {
				errs <- fmt.Errorf("complete %s: ok=%v err=%v", key, ok, err)
				return
			}
			if _, ok, err := s.AcquireAndStart(ctx, j.ID, "node-b", time.Minute); ok || err != nil {
				errs <- fmt.Errorf("start %s after completion: ok=%v err=%v", key, ok, err)
				return
			}
			errs <- s.MarkSettled(ctx, j.ID, "captured")
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var jobs, settled, results int
	if err := s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE settled AND settlement = 'captured' AND status = 'completed'),
		(SELECT count(*) FROM job_results) FROM jobs`).Scan(&jobs, &settled, &results); err != nil {
		t.Fatal(err)
	}
	if jobs != n || settled != n || results != n {
		t.Fatalf("jobs %d, settled %d, results %d; want %d each", jobs, settled, results, n)
	}
	for i := range 5 {
		id := JobID(u.ID, fmt.Sprint("k", i))
		if got := events(t, s, id); !slices.Equal(got, []string{"pending", "running", "completed"}) {
			t.Fatalf("events of %s: %v", id, got)
		}
		r, err := s.ResultOf(ctx, id)
		if err != nil || string(r.Result) != fmt.Sprintf(`{"summary": "k%d"}`, i) {
			t.Fatalf("result of %s: %s %v", id, r.Result, err)
		}
	}
}

// One group holding the same job twice, a job that cannot be stored, and writes of every kind:
// the bad write fails alone, the repeated create is a replay, the rest is written.
func TestJobGroupMixed(t *testing.T) {
	s, u := newTestStore(t)
	ctx := t.Context()
	running := newJob(u, "running")
	if _, err := s.CreateJob(ctx, running); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.AcquireAndStart(ctx, running.ID, "node-a", time.Minute); !ok || err != nil {
		t.Fatal(ok, err)
	}
	pending := newJob(u, "pending")
	if _, err := s.CreateJob(ctx, pending); err != nil {
		t.Fatal(err)
	}

	twiceA, twiceB := newJob(u, "twice"), newJob(u, "twice")
	bad := newJob(u, "bad")
	bad.WalletID = uuid.NewString() // no such wallet: the insert violates a foreign key
	var started Job
	ops := []*jobOp{
		{kind: opCreate, job: twiceA},
		{kind: opCreate, job: bad},
		{kind: opCreate, job: twiceB},
		{kind: opStart, job: &started, id: pending.ID, owner: "node-a", lease: time.Minute},
		{kind: opComplete, id: running.ID, epoch: 1, result: []byte(`{"ok":true}`), model: "m", retention: time.Now().Add(time.Hour)},
		{kind: opSettle, id: running.ID, settlement: "captured"},
	}
	for _, op := range ops {
		op.finished = make(chan struct{})
	}
	s.writeJobs(ops)
	for i, op := range ops {
		select {
		case <-op.finished:
		default:
			t.Fatalf("op %d not answered", i)
		}
	}
	if ops[1].err == nil {
		t.Fatal("a job without its wallet was stored")
	}
	for _, i := range []int{0, 2, 3, 4, 5} {
		if ops[i].err != nil {
			t.Fatalf("op %d: %v", i, ops[i].err)
		}
	}
	if ops[0].ok || !ops[2].ok || twiceA.CreatedAt != twiceB.CreatedAt || twiceB.Status != job.Pending {
		t.Fatalf("the same job twice in a group: existing %v, %v", ops[0].ok, ops[2].ok)
	}
	if !ops[3].ok || started.Status != job.Running || started.ID != pending.ID || !ops[4].ok {
		t.Fatalf("start %v %+v, complete %v", ops[3].ok, started, ops[4].ok)
	}
	got, err := s.JobByID(ctx, running.ID)
	if err != nil || got.Status != job.Completed || !got.Settled || got.Settlement != "captured" {
		t.Fatalf("completed and settled job: %+v %v", got, err)
	}
	if _, err := s.JobByID(ctx, bad.ID); err == nil {
		t.Fatal("the bad job exists")
	}
	if ev := events(t, s, twiceA.ID); !slices.Equal(ev, []string{"pending"}) {
		t.Fatalf("events of the job created twice: %v", ev)
	}
}

// A write after Close fails at once instead of waiting forever.
func TestJobWriteAfterClose(t *testing.T) {
	s, u := newTestStore(t)
	s.Close()
	done := make(chan error, 1)
	go func() { _, err := s.CreateJob(context.Background(), newJob(u, "late")); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a job was written after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a write after Close hangs")
	}
}

// Recovery finds open jobs whose lease ran out and finished jobs not yet settled, through the
// small partial indexes (whose columns the frequent updates of a job leave alone).
func TestRecoveryQueries(t *testing.T) {
	s, u := newTestStore(t)
	ctx := t.Context()
	for i := range 50 { // settled history the recovery queries must not wade through
		j := newJob(u, fmt.Sprint("old", i))
		if _, err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.AcquireAndStart(ctx, j.ID, "node-a", time.Minute); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if ok, err := s.CompleteJob(ctx, j.ID, 1, json.RawMessage(`{}`), "m", time.Now().Add(time.Hour)); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if err := s.MarkSettled(ctx, j.ID, "captured"); err != nil {
			t.Fatal(err)
		}
	}
	orphan, leased, unsettled := newJob(u, "orphan"), newJob(u, "leased"), newJob(u, "unsettled")
	for _, j := range []*Job{orphan, leased, unsettled} {
		if _, err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := s.AcquireAndStart(ctx, leased.ID, "node-a", time.Hour); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, ok, err := s.AcquireAndStart(ctx, unsettled.ID, "node-a", time.Hour); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, err := s.CompleteJob(ctx, unsettled.ID, 1, json.RawMessage(`{}`), "m", time.Now().Add(time.Hour)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE jobs SET created_at = created_at - interval '1 minute',
		finished_at = finished_at - interval '1 minute'`); err != nil {
		t.Fatal(err)
	}
	ids, err := s.JobsToRecover(ctx, 10)
	if err != nil || !slices.Equal(ids, []string{orphan.ID}) {
		t.Fatalf("jobs to recover: %v %v, want only %s", ids, err, orphan.ID)
	}
	open, err := s.UnsettledJobs(ctx, time.Second, 10)
	if err != nil || len(open) != 1 || open[0].ID != unsettled.ID {
		t.Fatalf("unsettled jobs: %v %v, want only %s", open, err, unsettled.ID)
	}

	if _, err := s.pool.Exec(ctx, `ANALYZE jobs`); err != nil {
		t.Fatal(err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil { // the test table is tiny
		t.Fatal(err)
	}
	defer conn.Exec(context.Background(), `RESET enable_seqscan`)
	for _, c := range []struct {
		query, index string
		args         []any
	}{{recoverJobsSQL, "jobs_open", []any{200}}, {unsettledJobsSQL, "jobs_unsettled", []any{5000, 200}}} {
		rows, err := conn.Query(ctx, "EXPLAIN "+c.query, c.args...)
		var plan []string
		if err == nil {
			plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		if err != nil || !strings.Contains(strings.Join(plan, "\n"), c.index) {
			t.Fatalf("the query does not use %s: %v %v", c.index, plan, err)
		}
	}
}

// The job statements run on generic plans made once per connection, perhaps while jobs was
// still small: with the settings genericKeyPlans makes, each is a lookup by primary key.
func TestJobStatementsGenericPlans(t *testing.T) {
	s, _ := newTestStore(t)
	ctx := t.Context()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, genericKeyPlans); err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	for name, c := range map[string]struct {
		sql  string
		args string
	}{
		"start":    {startJobsSQL, fmt.Sprintf(`(ARRAY['%s']::uuid[], ARRAY['n'], ARRAY[1::bigint])`, id)},
		"complete": {completeJobsSQL, fmt.Sprintf(`(ARRAY['%s']::uuid[], ARRAY[1::bigint], ARRAY['{}'::jsonb], ARRAY['m'], ARRAY[now()])`, id)},
		"settle":   {settleJobsSQL, fmt.Sprintf(`(ARRAY['%s']::uuid[], ARRAY['captured'])`, id)},
	} {
		if _, err := tx.Exec(ctx, "PREPARE p_"+name+" AS "+c.sql); err != nil {
			t.Fatal(name, err)
		}
		rows, err := tx.Query(ctx, "EXPLAIN EXECUTE p_"+name+c.args)
		var plan []string
		if err == nil {
			plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		text := strings.Join(plan, "\n")
		if err != nil || !strings.Contains(text, "Index Scan using jobs_pkey") || strings.Contains(text, "Seq Scan on jobs") ||
			strings.Contains(text, "Hash") {
			t.Fatalf("%s: not a primary-key lookup per element:\n%s %v", name, text, err)
		}
	}
}

// The triggers a job's end fires (migrations 014, 016) run inside the job writes' transaction,
// under genericKeyPlans (sequential scans off): each lookup they make must be an index lookup
// costed below jit_above_cost. A sequential scan there is costed past it, and every finished job
// paid a JIT compilation of ~40 ms (BenchmarkJobs fell from 3,000 to 100 jobs/s).
func TestJobTriggersUnderGenericKeyPlans(t *testing.T) {
	s, u := newTestStore(t)
	ctx := t.Context()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, genericKeyPlans); err != nil {
		t.Fatal(err)
	}
	var jitAbove float64
	if err := tx.QueryRow(ctx, `SELECT current_setting('jit_above_cost')::float8`).Scan(&jitAbove); err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]string{
		"webhook_job_event":     `SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE events @> ARRAY['job.' || 'completed'])`,
		"webhook_quota_event":   `SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE events @> ARRAY['quota.threshold_crossed'])`,
		"push_notice_job_ended": fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM push_subscriptions s WHERE s.user_id = '%s')`, u.ID),
	} {
		var plan string
		if err := tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+q).Scan(&plan); err != nil {
			t.Fatal(name, err)
		}
		var doc []struct {
			Plan struct {
				TotalCost float64 `json:"Total Cost"`
			} `json:"Plan"`
		}
		if err := json.Unmarshal([]byte(plan), &doc); err != nil || len(doc) != 1 {
			t.Fatal(name, err, plan)
		}
		if doc[0].Plan.TotalCost >= jitAbove || strings.Contains(plan, "Seq Scan") {
			t.Errorf("%s: a plan of cost %.0f (JIT above %.0f):\n%s", name, doc[0].Plan.TotalCost, jitAbove, plan)
		}
	}
	// And the trigger functions ask exactly so (not 'type' = ANY (events), a sequential scan).
	for _, fn := range []string{"webhook_job_event", "webhook_quota_event", "webhook_payment_event"} {
		var src string
		if err := tx.QueryRow(ctx, `SELECT prosrc FROM pg_proc WHERE proname = $1`, fn).Scan(&src); err != nil {
			t.Fatal(fn, err)
		}
		if !strings.Contains(src, "events @> ARRAY[") || strings.Contains(src, "ANY (events)") {
			t.Errorf("%s does not look up listeners through the events index:\n%s", fn, src)
		}
	}
}
