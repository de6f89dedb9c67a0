package persistence

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/job"
)

// Job is a row of jobs.
type Job struct {
	ID             string     `json:"id"`
	UserID         string     `json:"user_id"`
	WalletID       string     `json:"wallet_id"`
	Type           string     `json:"type"`
	Status         job.Status `json:"status"`
	IdempotencyKey string     `json:"-"`
	RequestHash    []byte     `json:"-"`
	Params         job.Params `json:"params"`
	Price          int64      `json:"price"`
	HoldID         string     `json:"hold_id,omitempty"`
	Settled        bool       `json:"settled"`
	Settlement     string     `json:"settlement,omitempty"`
	Attempts       int        `json:"attempts"`
	MaxAttempts    int        `json:"max_attempts"`
	NextAttemptAt  *time.Time `json:"next_attempt_at,omitempty"`
	ErrorCode      string     `json:"error_code,omitempty"`
	ErrorDetail    string     `json:"error_detail,omitempty"`
	Epoch          int64      `json:"-"`
	Owner          string     `json:"-"`
	LeaseUntil     *time.Time `json:"-"`
	ExpireAt       time.Time  `json:"expire_at"`
	CreatedAt      time.Time  `json:"created_at"`
	StartedAt      *time.Time `json:"started_at,omitempty"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

const jobColumns = `id::text, user_id::text, wallet_id::text, type, status, idempotency_key, request_hash, params,
	price, COALESCE(hold_id::text, ''), settled, settlement, attempts, max_attempts, next_attempt_at, error_code,
	error_detail, epoch, owner, lease_until, expire_at, created_at, started_at, finished_at, updated_at`

func scanJob(r pgx.Row) (Job, error) { return scanJobWith(r) }

// scanJobWith scans a job row preceded by the given extra columns.
func scanJobWith(r pgx.Row, extra ...any) (Job, error) {
	var j Job
	var params []byte
	var next, lease, started, finished pgtype.Timestamptz
	dest := append(extra, &j.ID, &j.UserID, &j.WalletID, &j.Type, &j.Status, &j.IdempotencyKey, &j.RequestHash, &params,
		&j.Price, &j.HoldID, &j.Settled, &j.Settlement, &j.Attempts, &j.MaxAttempts, &next, &j.ErrorCode,
		&j.ErrorDetail, &j.Epoch, &j.Owner, &lease, &j.ExpireAt, &j.CreatedAt, &started, &finished, &j.UpdatedAt)
	err := r.Scan(dest...)
	if err != nil {
		return j, err
	}
	j.NextAttemptAt, j.LeaseUntil, j.StartedAt, j.FinishedAt = tsPtr(next), tsPtr(lease), tsPtr(started), tsPtr(finished)
	return j, json.Unmarshal(params, &j.Params)
}

func tsPtr(t pgtype.Timestamptz) *time.Time {
	if !t.Valid {
		return nil
	}
	return &t.Time
}

// JobID derives a job's id from its owner and Idempotency-Key, so that a retried submission
// names the same job (and the same hold) before anything is stored.
func JobID(userID, key string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("dw/job/"+userID+"/"+key)).String()
}

var errJobIdempotency = dw.Coded(dw.KindInvalid, "idempotency_conflict", "this Idempotency-Key was used for a job with other parameters")

// CreateJob stores a new pending job, or finds the job its Idempotency-Key already made
// (existing = true); grouped with other jobs' writes. Errors: internal.
func (s *Store) CreateJob(ctx context.Context, j *Job) (existing bool, err error) {
	op := &jobOp{kind: opCreate, job: j}
	err = s.jobWrite(ctx, op)
	return op.ok, err
}

// CheckJobReplay says whether a stored job was made by the same parameters.
func CheckJobReplay(j Job, hash []byte) error {
	if string(j.RequestHash) != string(hash) {
		return errJobIdempotency
	}
	return nil
}

func addJobEvent(ctx context.Context, tx pgx.Tx, id string, st job.Status, detail string) error {
	_, err := tx.Exec(ctx, `INSERT INTO job_events (job_id, seq, status, detail)
		VALUES ($1, (SELECT COALESCE(max(seq), 0) + 1 FROM job_events WHERE job_id = $1), $2, $3)`, id, st, detail)
	return err
}

// JobByID reads a job. Errors: not_found, internal.
func (s *Store) JobByID(ctx context.Context, id string) (Job, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Job{}, mapError(pgx.ErrNoRows, "job")
	}
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
	return j, mapError(err, "job")
}

// JobFilter selects a user's jobs.
type JobFilter struct {
	UserID string
	Status string
	Type   string
	Topic  string // a topic slug; "" = any
	// Query finds jobs whose question or context holds it, without case ("" = every job); the
	// caller bounds its length.
	Query string
	Page
}

// ListJobs returns one page of a user's jobs and the next cursor. Errors: invalid (bad_cursor), internal.
func (s *Store) ListJobs(ctx context.Context, f JobFilter) ([]Job, string, error) {
	return listByCreated(ctx, s, `SELECT `+jobColumns+` FROM jobs WHERE user_id = $1 AND ($2 = '' OR status = $2)
		AND ($3 = '' OR type = $3) AND ($4 = '' OR params->>'topic' = $4)
		AND ($5 = '' OR strpos(lower(coalesce(params->>'question', '') || ' ' || coalesce(params->>'context', '')), lower($5)) > 0)`,
		[]any{f.UserID, f.Status, f.Type, f.Topic, f.Query}, f.Page, "jobs",
		func(r pgx.CollectableRow) (Job, error) { return scanJob(r) },
		func(j Job) Cursor { return Cursor{At: j.CreatedAt, ID: j.ID} })
}

// AcquireJob makes the caller the job's owner: it bumps the epoch (fencing every older owner)
// and takes a lease. A finished job is returned as it is. Errors: not_found, internal.
func (s *Store) AcquireJob(ctx context.Context, id, owner string, lease time.Duration) (Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `UPDATE jobs SET epoch = epoch + 1, owner = $2,
		lease_until = now() + $3 * interval '1 millisecond', updated_at = now()
		WHERE id = $1 AND status IN ('pending', 'running') RETURNING `+jobColumns, id, owner, lease.Milliseconds()))
	if err == pgx.ErrNoRows {
		return s.JobByID(ctx, id)
	}
	return j, mapError(err, "job")
}

// AcquireAndStart takes the job (epoch + 1, lease) and starts its next attempt in one
// statement, when an attempt may start now; grouped with other jobs' writes. ok is false when
// it may not (finished, backing off, out of attempts or expired): the caller then uses
// AcquireJob. Errors: internal.
func (s *Store) AcquireAndStart(ctx context.Context, id, owner string, lease time.Duration) (Job, bool, error) {
	var j Job
	op := &jobOp{kind: opStart, job: &j, id: id, owner: owner, lease: lease}
	err := s.jobWrite(ctx, op)
	return j, op.ok && err == nil, err
}

// RenewLease extends the lease of the job's current owner; false means the caller was fenced
// out or the job has finished.
func (s *Store) RenewLease(ctx context.Context, id string, epoch int64, lease time.Duration) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE jobs SET lease_until = now() + $3 * interval '1 millisecond'
		WHERE id = $1 AND epoch = $2 AND status IN ('pending', 'running')`, id, epoch, lease.Milliseconds())
	return err == nil && tag.RowsAffected() == 1, mapError(err, "job")
}

// transition runs one fenced status change with its event row; false = fenced or finished.
func (s *Store) transition(ctx context.Context, id string, epoch int64, st job.Status, detail, set string, args ...any) (bool, error) {
	ok := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		all := append([]any{id, epoch, st}, args...)
		tag, err := tx.Exec(ctx, `UPDATE jobs SET status = $3, updated_at = now(), `+set+`
			WHERE id = $1 AND epoch = $2 AND status IN ('pending', 'running')`, all...)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		ok = true
		return addJobEvent(ctx, tx, id, st, detail)
	})
	return ok, mapError(err, "job")
}

// StartAttempt marks the job running and counts the attempt.
func (s *Store) StartAttempt(ctx context.Context, id string, epoch int64) (bool, error) {
	return s.transition(ctx, id, epoch, job.Running, "", `attempts = attempts + 1, next_attempt_at = NULL,
		started_at = COALESCE(started_at, now())`)
}

// ScheduleRetry records a failed attempt and when the next one runs.
func (s *Store) ScheduleRetry(ctx context.Context, id string, epoch int64, at time.Time, code, detail string) (bool, error) {
	return s.transition(ctx, id, epoch, job.Running, "retry: "+code, `next_attempt_at = $4, error_code = $5, error_detail = $6`, at, code, detail)
}

// CompleteJob stores the result and marks the job completed, if epoch still owns it and it is
// running; grouped with other jobs' writes.
func (s *Store) CompleteJob(ctx context.Context, id string, epoch int64, result json.RawMessage, model string, retention time.Time) (bool, error) {
	op := &jobOp{kind: opComplete, id: id, epoch: epoch, result: result, model: model, retention: retention}
	err := s.jobWrite(ctx, op)
	return op.ok && err == nil, err
}

// FailJob marks the job failed with an error code.
func (s *Store) FailJob(ctx context.Context, id string, epoch int64, code, detail string) (bool, error) {
	return s.transition(ctx, id, epoch, job.Failed, code, `finished_at = now(), lease_until = NULL,
		next_attempt_at = NULL, error_code = $4, error_detail = $5`, code, detail)
}

var errJobFinished = dw.Coded(dw.KindConflict, "job_finished", "the job has already finished")

// CancelJob cancels a user's unfinished job, whoever runs it: the runner's next fenced write
// fails and it stops. Errors: not_found, conflict (job_finished), internal.
func (s *Store) CancelJob(ctx context.Context, userID, id string) (Job, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Job{}, mapError(pgx.ErrNoRows, "job")
	}
	var j Job
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		j, err = scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1 AND user_id = $2 FOR UPDATE`, id, userID))
		if err != nil {
			return err
		}
		if j.Status.Terminal() {
			return errJobFinished
		}
		j, err = scanJob(tx.QueryRow(ctx, `UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now(),
			lease_until = NULL, next_attempt_at = NULL, error_code = 'cancelled' WHERE id = $1 RETURNING `+jobColumns, id))
		if err != nil {
			return err
		}
		return addJobEvent(ctx, tx, id, job.Cancelled, "")
	})
	if dw.CodeOf(err) == "job_finished" {
		return j, err
	}
	return j, mapError(err, "job")
}

// MarkSettled records that the job's hold was captured, released or had expired; grouped with
// other jobs' writes. A group of settled flags alone does not wait for the WAL flush: if a flag
// is lost in a crash, recovery settles the job again, and the settling idempotency keys make
// that a no-op.
func (s *Store) MarkSettled(ctx context.Context, id, settlement string) error {
	return s.jobWrite(ctx, &jobOp{kind: opSettle, id: id, settlement: settlement})
}

// The recovery queries find their few rows through the partial indexes jobs_open and
// jobs_unsettled (migration 005): their conditions must keep implying those indexes' predicates.
const (
	recoverJobsSQL = `SELECT id::text FROM jobs WHERE finished_at IS NULL AND status IN ('pending', 'running')
		AND (lease_until IS NULL OR lease_until < now()) AND created_at < now() - interval '2 seconds'
		ORDER BY created_at LIMIT $1`
	unsettledJobsSQL = `SELECT ` + jobColumns + ` FROM jobs WHERE NOT settled AND finished_at IS NOT NULL
		AND status IN ('completed', 'failed', 'cancelled') AND finished_at < now() - $1 * interval '1 millisecond'
		ORDER BY finished_at LIMIT $2`
)

// JobsToRecover lists unfinished jobs whose owner's lease has run out (or that never had one).
func (s *Store) JobsToRecover(ctx context.Context, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, recoverJobsSQL, limit)
	if err != nil {
		return nil, mapError(err, "jobs")
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// UnsettledJobs lists finished jobs whose hold was not yet captured or released.
func (s *Store) UnsettledJobs(ctx context.Context, olderThan time.Duration, limit int) ([]Job, error) {
	rows, err := s.pool.Query(ctx, unsettledJobsSQL, olderThan.Milliseconds(), limit)
	if err != nil {
		return nil, mapError(err, "jobs")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Job, error) { return scanJob(r) })
	return out, mapError(err, "jobs")
}

// JobResult is a stored result.
type JobResult struct {
	JobID          string          `json:"job_id"`
	Result         json.RawMessage `json:"result"`
	Model          string          `json:"model"`
	RetentionUntil time.Time       `json:"retention_until"`
	CreatedAt      time.Time       `json:"created_at"`
}

// ResultOf reads a job's result. Errors: not_found, internal.
func (s *Store) ResultOf(ctx context.Context, id string) (JobResult, error) {
	var r JobResult
	err := s.pool.QueryRow(ctx, `SELECT job_id::text, result, model, retention_until, created_at FROM job_results
		WHERE job_id = $1 AND retention_until > now()`, id).Scan(&r.JobID, &r.Result, &r.Model, &r.RetentionUntil, &r.CreatedAt)
	return r, mapError(err, "result")
}

// DeleteExpiredResults removes results past their retention date.
func (s *Store) DeleteExpiredResults(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM job_results WHERE retention_until <= now()`)
	return tag.RowsAffected(), mapError(err, "results")
}
