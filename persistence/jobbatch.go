package persistence

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	dw "github.com/divinewhispers/dw"
)

// The job writes of the hot path — create, take-and-start, complete, mark settled — are
// grouped: whatever the job grains of a node ask for while a write is in flight goes into the
// next one, as one implicit transaction of at most four statements (one per kind, over arrays),
// sent in one round trip. A lone write pays one commit, as before; under load a few hundred
// jobs share a commit, a WAL flush and the statements' fixed costs. Each job has at most one
// write in flight (its grain waits for the answer), so concurrent groups touch disjoint rows,
// and every statement keeps the per-row fencing (epoch and status) of the single-job forms.

type jobOpKind uint8

const (
	opCreate jobOpKind = iota
	opStart
	opComplete
	opSettle
)

// jobOp is one job's write and where its answer goes.
type jobOp struct {
	kind jobOpKind
	job  *Job // create: the new job (filled with the stored row); start: filled on success

	id, owner  string        // start, complete, settle
	lease      time.Duration // start
	epoch      int64         // complete
	result     []byte        // complete
	model      string        // complete
	retention  time.Time     // complete
	settlement string        // settle

	ok       bool // start: started; complete: completed; create: existing
	err      error
	finished chan struct{}
}

const (
	// Groups in flight at once. One keeps groups largest; two keep a slow group from holding up
	// every job. Measured (BenchmarkJobs, BenchmarkJobsPaced): 1 and 2 alike, 4 costs latency.
	jobBatchWorkers = 2
	jobBatchMax     = 512 // job writes per group at most, unless SetJobWriteGroup says otherwise
)

// SetJobWriteGroup sets how many job writes one transaction carries at most: 1 writes each
// alone from its caller's goroutine, as the single-job statements did (the baseline of
// BenchmarkJobs); n <= 0 restores the default (512).
func (s *Store) SetJobWriteGroup(n int) {
	if n <= 0 {
		n = jobBatchMax
	}
	s.jobGroupMax.Store(int32(n))
}

// JobWriteObserver learns of every group of job writes: how many writes, how long the group
// took and whether it failed (a failed group of several writes is then tried write by write).
type JobWriteObserver func(writes int, took time.Duration, err error)

// SetJobWriteObserver installs f (nil removes it); it is called from the writing goroutines.
func (s *Store) SetJobWriteObserver(f JobWriteObserver) {
	if f == nil {
		s.jobObserver.Store(nil)
		return
	}
	s.jobObserver.Store(&f)
}

type jobBatcher struct {
	in   chan *jobOp
	stop chan struct{}
	wg   sync.WaitGroup
}

var errStoreClosed = dw.Coded(dw.KindUnavailable, "database_unavailable", "the node is shutting down: try again")

// jobWrite queues op and waits for its answer. If ctx ends first, the write may still happen:
// the same uncertainty as a connection lost after sending a statement, which every caller
// already handles (the writes are idempotent or fenced).
func (s *Store) jobWrite(ctx context.Context, op *jobOp) error {
	if s.jobGroupMax.Load() == 1 { // no grouping: written by the caller, in parallel
		op.finished = make(chan struct{})
		s.writeJobs([]*jobOp{op})
		return op.err
	}
	s.jobsOnce.Do(func() { s.jobs = s.startJobBatcher() })
	if s.jobs == nil {
		return errStoreClosed
	}
	op.finished = make(chan struct{})
	select {
	case s.jobs.in <- op:
	case <-s.jobs.stop:
		return errStoreClosed
	case <-ctx.Done():
		return mapError(ctx.Err(), "job")
	}
	select {
	case <-op.finished:
		return op.err
	case <-ctx.Done():
		return mapError(ctx.Err(), "job")
	}
}

func (s *Store) startJobBatcher() *jobBatcher {
	b := &jobBatcher{in: make(chan *jobOp, 4096), stop: make(chan struct{})}
	for range jobBatchWorkers {
		b.wg.Go(func() {
			var batch []*jobOp
			for {
				batch = batch[:0]
				limit := int(s.jobGroupMax.Load())
				if limit <= 0 {
					limit = jobBatchMax
				}
				select {
				case <-b.stop:
					return
				case op := <-b.in:
					batch = append(batch, op)
				}
			drain:
				for len(batch) < limit {
					select {
					case op := <-b.in:
						batch = append(batch, op)
					default:
						break drain
					}
				}
				s.writeJobs(batch)
			}
		})
	}
	return b
}

func (b *jobBatcher) close() {
	close(b.stop)
	b.wg.Wait()
	for {
		select {
		case op := <-b.in:
			op.err = errStoreClosed
			close(op.finished)
		default:
			return
		}
	}
}

// writeJobs runs one group. When a statement fails (which rolls back the whole group), every
// write is tried alone, so that one bad write fails only its caller; when the database cannot
// be reached, the whole group fails at once.
func (s *Store) writeJobs(batch []*jobOp) {
	// The group must finish even while the node shuts down: a write cut off halfway leaves its
	// caller not knowing what happened.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := s.runJobBatch(ctx, batch)
	if f := s.jobObserver.Load(); f != nil {
		(*f)(len(batch), time.Since(start), err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && len(batch) > 1 {
		for _, op := range batch {
			s.writeJobs([]*jobOp{op})
		}
		return
	}
	for _, op := range batch {
		if err != nil {
			op.err = mapError(err, "job")
		}
		close(op.finished)
	}
}

func (s *Store) runJobBatch(ctx context.Context, batch []*jobOp) error {
	var creates, starts, completes, settles []*jobOp
	for _, op := range batch {
		switch op.kind {
		case opCreate:
			creates = append(creates, op)
		case opStart:
			starts = append(starts, op)
		case opComplete:
			completes = append(completes, op)
		case opSettle:
			settles = append(settles, op)
		}
	}
	b := &pgx.Batch{}
	b.Queue(genericKeyPlans)
	if len(settles) == len(batch) {
		// Only settled flags: no need to wait for the WAL flush (see MarkSettled).
		b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	}
	var fresh map[string]Job
	if len(creates) > 0 {
		fresh = queueCreates(b, creates)
	}
	started := map[string]Job{}
	if len(starts) > 0 {
		ids, owners, leases := make([]string, len(starts)), make([]string, len(starts)), make([]int64, len(starts))
		for i, op := range starts {
			ids[i], owners[i], leases[i] = op.id, op.owner, op.lease.Milliseconds()
		}
		b.Queue(startJobsSQL, uuidArray(ids), owners, leases).Query(collectJobs(started))
	}
	completed := map[string]bool{}
	if len(completes) > 0 {
		n := len(completes)
		ids, epochs, results, models, retention := make([]string, n), make([]int64, n), make([]string, n), make([]string, n), make([]time.Time, n)
		for i, op := range completes {
			ids[i], epochs[i], results[i], models[i], retention[i] = op.id, op.epoch, string(op.result), op.model, op.retention
		}
		b.Queue(completeJobsSQL, uuidArray(ids), epochs, results, models, retention).Query(collectIDs(completed))
	}
	if len(settles) > 0 {
		ids, settlements := make([]string, len(settles)), make([]string, len(settles))
		for i, op := range settles {
			ids[i], settlements[i] = op.id, op.settlement
		}
		b.Queue(settleJobsSQL, uuidArray(ids), settlements)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	for _, op := range starts {
		if j, ok := started[op.id]; ok {
			*op.job, op.ok = j, true
		}
	}
	for _, op := range completes {
		op.ok = completed[op.id]
	}
	if len(creates) > 0 {
		return s.finishCreates(ctx, creates, fresh)
	}
	return nil
}

// queueCreates queues the insert of the group's new jobs; the rows it stores land in the
// returned map when the batch runs. A job asked for twice in one group is inserted once.
func queueCreates(b *pgx.Batch, creates []*jobOp) map[string]Job {
	n := len(creates)
	seen := make(map[string]bool, n)
	ids, users, wallets, keys, holds := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	types, params := make([]string, 0, n), make([]string, 0, n)
	hashes := make([][]byte, 0, n)
	prices, maxAttempts := make([]int64, 0, n), make([]int32, 0, n)
	expire := make([]time.Time, 0, n)
	for _, op := range creates {
		j := op.job
		if seen[j.ID] {
			continue
		}
		seen[j.ID] = true
		p, _ := json.Marshal(j.Params)
		ids, users, wallets, types = append(ids, j.ID), append(users, j.UserID), append(wallets, j.WalletID), append(types, j.Type)
		keys, hashes, params, prices = append(keys, j.IdempotencyKey), append(hashes, j.RequestHash), append(params, string(p)), append(prices, j.Price)
		holds, maxAttempts, expire = append(holds, j.HoldID), append(maxAttempts, int32(j.MaxAttempts)), append(expire, j.ExpireAt)
	}
	fresh := make(map[string]Job, len(ids))
	b.Queue(createJobsSQL, uuidArray(ids), uuidArray(users), uuidArray(wallets), types, keys, hashes, params, prices, holds, maxAttempts, expire).Query(collectJobs(fresh))
	return fresh
}

// collectJobs reads job rows into the map by id.
func collectJobs(into map[string]Job) func(pgx.Rows) error {
	return func(rows pgx.Rows) error {
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			into[j.ID] = j
		}
		return rows.Err()
	}
}

// collectIDs reads a column of ids into the set.
func collectIDs(into map[string]bool) func(pgx.Rows) error {
	return func(rows pgx.Rows) error {
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			into[id] = true
		}
		return rows.Err()
	}
}

// finishCreates answers each create: the row it inserted, or the row its Idempotency-Key had
// already made (read after the insert, so that a row another group committed meanwhile is seen).
func (s *Store) finishCreates(ctx context.Context, creates []*jobOp, fresh map[string]Job) error {
	var missing []string
	for _, op := range creates {
		if _, ok := fresh[op.job.ID]; !ok {
			missing = append(missing, op.job.ID)
		}
	}
	existing := map[string]Job{}
	if len(missing) > 0 {
		rows, err := s.pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ANY($1::uuid[])`, uuidArray(missing))
		if err != nil {
			return err
		}
		defer rows.Close()
		if err := collectJobs(existing)(rows); err != nil {
			return err
		}
	}
	for _, op := range creates {
		id := op.job.ID
		if j, ok := fresh[id]; ok {
			*op.job = j
			delete(fresh, id) // a second create of the same job in this group is a replay
			existing[id] = j
			continue
		}
		j, ok := existing[id]
		if !ok { // inserted by nobody, found by nobody: a conflict on another key
			op.err = mapError(errors.New("job neither inserted nor found"), "job")
			continue
		}
		*op.job, op.ok = j, true
	}
	return nil
}

const createJobsSQL = `WITH input AS (
	SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::bytea[], $7::jsonb[],
		$8::bigint[], $9::text[], $10::int[], $11::timestamptz[])
		AS t(in_id, in_user, in_wallet, in_type, in_key, in_hash, in_params, in_price, in_hold, in_max, in_expire)
), ins AS (
	INSERT INTO jobs (id, user_id, wallet_id, type, status, idempotency_key, request_hash,
		params, price, hold_id, max_attempts, expire_at)
	SELECT in_id, in_user, in_wallet, in_type, 'pending', in_key, in_hash, in_params, in_price,
		NULLIF(in_hold, '')::uuid, in_max, in_expire FROM input ORDER BY in_id
	ON CONFLICT (user_id, idempotency_key) DO NOTHING
	RETURNING ` + jobColumns + `
), ev AS (
	INSERT INTO job_events (job_id, seq, status) SELECT id::uuid, 1, 'pending' FROM ins
)
SELECT * FROM ins`

// startJobsSQL takes each job (epoch + 1, lease) and starts its next attempt, when one may
// start now; see AcquireAndStart.
const startJobsSQL = `WITH input AS (
	SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[]) AS t(in_id, in_owner, in_lease)
), upd AS (
	UPDATE jobs SET epoch = epoch + 1, owner = in_owner, lease_until = now() + in_lease * interval '1 millisecond',
		status = 'running', attempts = attempts + 1, next_attempt_at = NULL,
		started_at = COALESCE(started_at, now()), updated_at = now()
	FROM input
	WHERE id = in_id AND status IN ('pending', 'running') AND attempts < max_attempts AND expire_at > now()
		AND (next_attempt_at IS NULL OR next_attempt_at <= now())
	RETURNING ` + jobColumns + `
), ev AS (
	INSERT INTO job_events (job_id, seq, status)
	SELECT id::uuid, (SELECT COALESCE(max(seq), 0) + 1 FROM job_events e WHERE e.job_id = upd.id::uuid), 'running' FROM upd
)
SELECT * FROM upd`

const completeJobsSQL = `WITH input AS (
	SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::jsonb[], $4::text[], $5::timestamptz[])
		AS t(in_id, in_epoch, in_result, in_model, in_retention)
), upd AS (
	UPDATE jobs SET status = 'completed', finished_at = now(), updated_at = now(),
		lease_until = NULL, error_code = '', error_detail = ''
	FROM input
	WHERE id = in_id AND epoch = in_epoch AND status = 'running'
	RETURNING id, in_result, in_model, in_retention
), res AS (
	INSERT INTO job_results (job_id, result, model, retention_until) SELECT id, in_result, in_model, in_retention FROM upd
), ev AS (
	INSERT INTO job_events (job_id, seq, status)
	SELECT id, (SELECT COALESCE(max(seq), 0) + 1 FROM job_events e WHERE e.job_id = upd.id), 'completed' FROM upd
)
SELECT id::text FROM upd`

const settleJobsSQL = `UPDATE jobs SET settled = true, settlement = in_settlement, updated_at = now()
	FROM unnest($1::uuid[], $2::text[]) AS t(in_id, in_settlement) WHERE id = in_id`
