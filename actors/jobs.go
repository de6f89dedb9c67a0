package actors

import (
	"context"
	"strings"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/job"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/protos/jobpb"
	"github.com/divinewhispers/dw/protos/walletpb"
)

// Jobs accepts paid jobs and tells job grains to run or stop them.
type Jobs struct {
	Store   *persistence.Store
	Poems   *persistence.PoemCache
	Wallets *Wallets
	Request Requester
	Events  *Events
	Price   int64 // points per interpretation
	// PriceNow, when set, is the price of each new job instead of Price (runtime configuration).
	PriceNow    func() int64
	MaxAttempts int           // attempts per job
	Expiry      time.Duration // a job not finished by then fails (0 = 1 h)
}

// SubmitInput is a new interpretation job.
type SubmitInput struct {
	UserID, WalletID string
	Key              string // Idempotency-Key ("" = a new job every time)
	Params           job.Params
}

var errNoPoints = dw.Coded(dw.KindPaymentRequired, "insufficient_funds", "not enough points for this job: buy points and try again")

// Submit holds the job's price on the user's wallet, stores the job and starts it. The hold
// comes first, so that a job never exists without its points ("扣款成功 → 任務才成立"); a crash
// between the two leaves a hold that expires by itself, and a retry with the same key finds
// the same hold. existing says a replayed key found the job it had made. Errors: invalid
// (including idempotency_conflict), not_found (draw or poem), payment_required
// (insufficient_funds), unavailable, internal.
func (j *Jobs) Submit(ctx context.Context, in SubmitInput) (persistence.Job, bool, error) {
	if err := in.Params.Validate(); err != nil {
		return persistence.Job{}, false, err
	}
	if in.Key == "" {
		in.Key = "auto:" + newID()
	}
	// A replayed key names the same job id, hold key and row: each step below is idempotent, and
	// CreateJob tells a replay from a reuse with other parameters.
	id := persistence.JobID(in.UserID, in.Key)
	hash := in.Params.Hash()
	if err := j.checkPoem(ctx, in); err != nil {
		return persistence.Job{}, false, err
	}
	expiry := or(j.Expiry, time.Hour)
	price := j.Price
	if j.PriceNow != nil {
		price = j.PriceNow()
		// The price may have changed since a replayed key's job was made: the replay holds
		// that job's price (the same hold, by its key), never a new one.
		if !strings.HasPrefix(in.Key, "auto:") {
			if prev, err := j.Store.JobByID(ctx, id); err == nil {
				price = prev.Price
			} else if dw.KindOf(err) != dw.KindNotFound {
				return persistence.Job{}, false, err
			}
		}
	}
	rec := persistence.Job{ID: id, UserID: in.UserID, WalletID: in.WalletID, Type: job.TypeInterpretation,
		IdempotencyKey: in.Key, RequestHash: hash, Params: in.Params, Price: price,
		MaxAttempts: max(j.MaxAttempts, 1), ExpireAt: time.Now().Add(expiry)}
	if price > 0 {
		// The hold outlives the job's expiry, so that settling (capture or release) finds it.
		resp, err := j.Wallets.Do(ctx, &walletpb.Request{Op: walletpb.Op_OP_HOLD, WalletId: in.WalletID, Amount: price,
			ExpiresInSeconds: int64((expiry + time.Hour) / time.Second), ReferenceId: id, IdempotencyKey: "job-hold:" + id,
			ActorId: in.UserID})
		if dw.KindOf(err) == dw.KindInsufficientFunds {
			return persistence.Job{}, false, errNoPoints
		}
		if err != nil {
			return persistence.Job{}, false, err
		}
		rec.HoldID = resp.Transaction.Id
	}
	existing, err := j.Store.CreateJob(ctx, &rec)
	if err != nil {
		return persistence.Job{}, false, err
	}
	if existing {
		if err := persistence.CheckJobReplay(rec, hash); err != nil {
			return rec, true, err
		}
	}
	if !existing {
		j.Events.Publish(UserTopic(rec.UserID), &jobpb.Event{Type: "job.status", JobId: rec.ID, UserId: rec.UserID,
			WalletId: rec.WalletID, Status: string(job.Pending)})
	}
	j.Start(rec.ID) // if this is lost, recovery starts it
	return rec, existing, nil
}

func (j *Jobs) checkPoem(ctx context.Context, in SubmitInput) error {
	p := in.Params
	if p.DrawID != "" {
		_, err := j.Store.DrawOf(ctx, in.UserID, p.DrawID)
		return err
	}
	_, _, err := j.Poems.Poem(ctx, p.Set, p.Number)
	return err
}

// Start tells the job's grain to run it, without waiting for the answer.
func (j *Jobs) Start(id string) {
	go func() {
		_, _ = j.Request(context.Background(), id, JobKind, &jobpb.JobCommand{Op: jobpb.JobOp_JOB_OP_START, JobId: id}, 5*time.Second)
	}()
}

// Cancel cancels a user's unfinished job: the database decides (so it wins over a runner on any
// node), then the grain stops it and the hold is released. Errors: not_found, conflict
// (job_finished), internal.
func (j *Jobs) Cancel(ctx context.Context, userID, id string) (persistence.Job, error) {
	rec, err := j.Store.CancelJob(ctx, userID, id)
	if err != nil {
		return rec, err
	}
	if _, err := j.Request(ctx, id, JobKind, &jobpb.JobCommand{Op: jobpb.JobOp_JOB_OP_CANCELLED, JobId: id}, 5*time.Second); err != nil {
		// The grain is unreachable: settle here; recovery would too.
		_ = SettleJob(ctx, j.Store, j.Wallets, rec)
	}
	return rec, nil
}

// Recover restarts unfinished jobs whose owner went silent and settles finished jobs whose hold
// is still open. Every node runs it; the job grains and idempotency keys make it safe.
func (j *Jobs) Recover(ctx context.Context) error {
	ids, err := j.Store.JobsToRecover(ctx, 200)
	if err != nil {
		return err
	}
	for _, id := range ids {
		j.Start(id)
	}
	open, err := j.Store.UnsettledJobs(ctx, 5*time.Second, 200)
	if err != nil {
		return err
	}
	for _, rec := range open {
		if err := SettleJob(ctx, j.Store, j.Wallets, rec); err != nil {
			return err
		}
	}
	return nil
}
