package actors

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/prometheus/client_golang/prometheus"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/interpret"
	"github.com/divinewhispers/dw/job"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/protos/jobpb"
	"github.com/divinewhispers/dw/protos/walletpb"
)

// JobKind is the cluster kind of job grains; a grain's identity is its job id.
const JobKind = "job"

// JobDeps is what every job grain of a node shares.
type JobDeps struct {
	Store       *persistence.Store
	Poems       *persistence.PoemCache
	Wallets     *Wallets
	Events      *Events
	Interpreter interpret.Interpreter
	Log         *slog.Logger
	Metrics     *JobMetrics
	Owner       string        // this node, recorded as the lease owner
	Workers     chan struct{} // bounded pool: one token per running attempt
	Lease       time.Duration // how long an owner may go silent before another node takes over (0 = 15 s)
	Attempt     time.Duration // time limit of one attempt (0 = 2 min)
	BackoffBase time.Duration // first retry delay (0 = 500 ms)
	BackoffMax  time.Duration // longest retry delay (0 = 30 s)
	Retention   time.Duration // how long results are kept (0 = 30 days)
	// RetentionNow, when set, is Retention at run time (results stored from now on).
	RetentionNow func() time.Duration
}

func (d *JobDeps) lease() time.Duration   { return or(d.Lease, 15*time.Second) }
func (d *JobDeps) attempt() time.Duration { return or(d.Attempt, 2*time.Minute) }
func (d *JobDeps) retention() time.Duration {
	if d.RetentionNow != nil {
		if r := d.RetentionNow(); r > 0 {
			return r
		}
	}
	return or(d.Retention, 30*24*time.Hour)
}

func or(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// JobMetrics instrument the job grains and the grouped job writes.
type JobMetrics struct {
	Finished     *prometheus.CounterVec
	Attempts     *prometheus.CounterVec
	Duration     prometheus.Histogram
	Active       prometheus.Gauge
	WriteGroups  *prometheus.CounterVec
	WriteSize    prometheus.Histogram
	WriteLatency prometheus.Histogram
}

// ObserveWrite records one group of job writes; install it with Store.SetJobWriteObserver.
func (m *JobMetrics) ObserveWrite(writes int, took time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.WriteGroups.WithLabelValues(outcome).Inc()
	m.WriteSize.Observe(float64(writes))
	m.WriteLatency.Observe(took.Seconds())
}

// NewJobMetrics creates and registers the job instruments (r may be nil); job activations are
// counted in the node's dw_active_grains{kind="job"}.
func NewJobMetrics(r prometheus.Registerer, grains *Metrics) *JobMetrics {
	m := &JobMetrics{
		Finished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dw_jobs_finished_total", Help: "Jobs finished, by status."}, []string{"status"}),
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dw_job_attempts_total", Help: "Job attempts, by outcome (ok or an error code)."}, []string{"outcome"}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dw_job_seconds", Help: "From acceptance to completion.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14)}),
		Active: grains.ActiveGrains.WithLabelValues(JobKind),
		WriteGroups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dw_job_write_groups_total",
			Help: "Groups of job writes (create, start, complete, settled) by outcome (ok, error: then tried write by write)."}, []string{"outcome"}),
		WriteSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dw_job_write_group_writes", Help: "Job writes per group.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
		WriteLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dw_job_write_group_seconds", Help: "Latency of one group of job writes.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)}),
	}
	if r != nil {
		r.MustRegister(m.Finished, m.Attempts, m.Duration, m.WriteGroups, m.WriteSize, m.WriteLatency)
	}

	return m
}

// NewJobKind returns the cluster kind for job grains.
func NewJobKind(d *JobDeps) *pcluster.Kind {
	return pcluster.NewKind(JobKind, actor.PropsFromProducer(func() actor.Actor { return &jobGrain{d: d} }))
}

// Messages a job grain sends itself (always local).
type (
	runAttempt  struct{ epoch int64 }
	attemptDone struct {
		epoch  int64
		result interpret.Result
		err    error
	}
	renewLease struct{}
)

type jobGrain struct {
	d      *JobDeps
	id     string
	j      *persistence.Job // nil until acquired
	cancel context.CancelFunc
	busy   bool // an attempt is running
	seq    int64
	timer  *time.Timer
	lease  chan struct{} // closed to stop the lease-renewal goroutine; nil when none runs
}

func (g *jobGrain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		g.d.Metrics.Active.Inc()
		ctx.SetReceiveTimeout(time.Minute)
	case *actor.Stopped:
		g.d.Metrics.Active.Dec()
	case *pcluster.ClusterInit:
		g.id = m.Identity.Identity
	case *actor.Stopping:
		g.stopWork()
		if g.j != nil && !g.j.Status.Terminal() {
			// Leaving (node shutdown, rebalancing): end our lease now, so that recovery starts
			// the job elsewhere at once instead of after the lease runs out.
			c, cancel := g.bg()
			_, _ = g.d.Store.RenewLease(c, g.id, g.j.Epoch, 0)
			cancel()
		}
	case *actor.ReceiveTimeout:
		if !g.busy && (g.j == nil || g.j.Status.Terminal()) {
			ctx.Poison(ctx.Self())
		}
	case *jobpb.JobCommand:
		ctx.Respond(g.command(ctx, m))
	case *runAttempt:
		if g.j != nil && m.epoch == g.j.Epoch {
			g.run(ctx)
		}
		g.stopIfSettled(ctx)
	case *attemptDone:
		if g.j != nil && m.epoch == g.j.Epoch {
			g.done(ctx, m)
		}
		g.stopIfSettled(ctx)
	case *renewLease:
		g.renew(ctx)
	}
}

// stopIfSettled passivates a grain whose job is over: nothing more can happen to it.
func (g *jobGrain) stopIfSettled(ctx actor.Context) {
	if g.j != nil && g.j.Status.Terminal() && g.j.Settled && !g.busy {
		ctx.Poison(ctx.Self())
	}
}

func (g *jobGrain) bg() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

func (g *jobGrain) command(ctx actor.Context, m *jobpb.JobCommand) *jobpb.JobReply {
	if m.JobId != g.id {
		return &jobpb.JobReply{Failure: FailureOf(errWrongGrain)}
	}
	switch m.Op {
	case jobpb.JobOp_JOB_OP_CANCELLED:
		g.stopWork()
		c, cancel := g.bg()
		defer cancel()
		j, err := g.d.Store.JobByID(c, g.id)
		if err != nil {
			return &jobpb.JobReply{Failure: FailureOf(err)}
		}
		g.j = &j
		g.publish(j.Status, "", "")
		g.settle()
		return &jobpb.JobReply{Status: string(j.Status)}
	case jobpb.JobOp_JOB_OP_START:
		if g.j != nil && !g.j.Status.Terminal() {
			return &jobpb.JobReply{Status: string(g.j.Status)} // already ours and under way
		}
		c, cancel := g.bg()
		defer cancel()
		// Usually the job can start at once: take it and start the attempt in one write.
		if j, started, err := g.d.Store.AcquireAndStart(c, g.id, g.d.Owner, g.d.lease()); err == nil && started {
			g.j = &j
			g.startLease(ctx)
			g.launch(ctx)
			return &jobpb.JobReply{Status: string(j.Status)}
		}
		j, err := g.d.Store.AcquireJob(c, g.id, g.d.Owner, g.d.lease())
		if err != nil {
			return &jobpb.JobReply{Failure: FailureOf(err)}
		}
		g.j = &j
		if j.Status.Terminal() {
			g.settle()
			return &jobpb.JobReply{Status: string(j.Status)}
		}
		g.startLease(ctx)
		g.schedule(ctx)
		return &jobpb.JobReply{Status: string(j.Status)}
	}
	return &jobpb.JobReply{Failure: FailureOf(dw.Errorf(dw.KindInvalid, "unknown job command"))}
}

func (g *jobGrain) startLease(ctx actor.Context) {
	if g.lease != nil {
		return
	}
	g.lease = tickSelf(ctx.ActorSystem().Root, ctx.Self(), g.d.lease()/3, &renewLease{})
}

func (g *jobGrain) stopWork() {
	if g.cancel != nil {
		g.cancel()
	}
	if g.timer != nil {
		g.timer.Stop()
	}
	if g.lease != nil {
		close(g.lease)
		g.lease = nil
	}
}

func (g *jobGrain) renew(ctx actor.Context) {
	if g.j == nil || g.j.Status.Terminal() {
		return
	}
	c, cancel := g.bg()
	defer cancel()
	ok, err := g.d.Store.RenewLease(c, g.id, g.j.Epoch, g.d.lease())
	if err == nil && !ok { // another owner took the job, or it was cancelled
		g.d.Log.Warn("job lease lost", "job", g.id)
		g.stopWork()
		g.j = nil
		g.busy = false
		ctx.Poison(ctx.Self())
	}
}

// schedule runs the next attempt now, or when its backoff ends.
func (g *jobGrain) schedule(ctx actor.Context) {
	if g.busy {
		return
	}
	self, root, msg := ctx.Self(), ctx.ActorSystem().Root, &runAttempt{epoch: g.j.Epoch}
	if g.j.NextAttemptAt != nil {
		if wait := time.Until(*g.j.NextAttemptAt); wait > 0 {
			g.timer = time.AfterFunc(wait, func() { root.Send(self, msg) })
			return
		}
	}
	ctx.Send(self, msg)
}

func (g *jobGrain) run(ctx actor.Context) {
	if g.busy || g.j.Status.Terminal() {
		return
	}
	c, cancel := g.bg()
	defer cancel()
	if time.Now().After(g.j.ExpireAt) {
		g.fail(c, "expired", "the job did not finish before its expiry")
		return
	}
	if g.j.Attempts >= g.j.MaxAttempts {
		g.fail(c, or2(g.j.ErrorCode, "attempts_exhausted"), or2(g.j.ErrorDetail, "no attempt succeeded"))
		return
	}
	ok, err := g.d.Store.StartAttempt(c, g.id, g.j.Epoch)
	if err != nil || !ok {
		g.lost(ctx, err)
		return
	}
	g.j.Status, g.j.Attempts, g.j.NextAttemptAt = job.Running, g.j.Attempts+1, nil
	g.launch(ctx)
}

// launch runs the attempt that was just started (attempts counted, status running) on the
// worker pool; its outcome comes back as attemptDone.
func (g *jobGrain) launch(ctx actor.Context) {
	g.publish(job.Running, payload(JobProgress{Attempt: g.j.Attempts, MaxAttempts: g.j.MaxAttempts}), "")
	g.busy = true

	attemptCtx, stop := context.WithTimeout(context.Background(), g.d.attempt())
	g.cancel = stop
	self, root, j, epoch := ctx.Self(), ctx.ActorSystem().Root, *g.j, g.j.Epoch
	go func() {
		defer stop()
		select { // a bounded pool: wait for a worker
		case g.d.Workers <- struct{}{}:
		case <-attemptCtx.Done():
			root.Send(self, &attemptDone{epoch: epoch, err: &interpret.Error{Code: interpret.CodeTimeout, Retryable: true, Message: "no worker became free"}})
			return
		}
		defer func() { <-g.d.Workers }()
		stream := newProgressStream(func(text string) {
			g.d.Events.Publish(UserTopic(j.UserID), &jobpb.Event{Type: "job.progress", JobId: j.ID, UserId: j.UserID,
				Status: string(job.Running), Data: text})
		})
		res, err := g.interpret(attemptCtx, j, stream.add)
		stream.flush()
		root.Send(self, &attemptDone{epoch: epoch, result: res, err: err})
	}()
}

// interpret loads the job's poem and runs the interpreter.
func (g *jobGrain) interpret(ctx context.Context, j persistence.Job, progress interpret.Progress) (interpret.Result, error) {
	p := j.Params
	set, number := p.Set, p.Number
	if p.DrawID != "" {
		d, err := g.d.Store.DrawOf(ctx, j.UserID, p.DrawID)
		if err != nil {
			return interpret.Result{}, &interpret.Error{Code: "draw_not_found", Message: "the draw no longer exists", Err: err}
		}
		set, number = d.Set, d.Number
	}
	poem, setName, err := g.d.Poems.Poem(ctx, set, number)
	if err != nil {
		if dw.KindOf(err) == dw.KindNotFound {
			return interpret.Result{}, &interpret.Error{Code: "poem_not_found", Message: "the poem no longer exists", Err: err}
		}
		return interpret.Result{}, &interpret.Error{Code: "database_unavailable", Retryable: true, Message: "could not read the poem", Err: err}
	}
	return g.d.Interpreter.Interpret(ctx, interpret.Request{SetName: setName, Poem: poem, Question: p.Question,
		Topic: p.Topic, Context: p.Context, Language: p.Language}, progress)
}

func (g *jobGrain) done(ctx actor.Context, m *attemptDone) {
	g.busy, g.cancel = false, nil
	c, cancel := g.bg()
	defer cancel()
	if m.err == nil {
		g.d.Metrics.Attempts.WithLabelValues("ok").Inc()
		b, _ := json.Marshal(m.result)
		ok, err := g.d.Store.CompleteJob(c, g.id, g.j.Epoch, b, m.result.Model, time.Now().Add(g.d.retention()))
		if err != nil || !ok {
			g.lost(ctx, err)
			return
		}
		g.j.Status = job.Completed
		g.d.Metrics.Finished.WithLabelValues(string(job.Completed)).Inc()
		g.d.Metrics.Duration.Observe(time.Since(g.j.CreatedAt).Seconds())
		g.publish(job.Completed, "", "")
		g.finish()
		return
	}
	var ie *interpret.Error
	if !errors.As(m.err, &ie) {
		ie = &interpret.Error{Code: "internal", Message: "interpretation failed", Err: m.err}
	}
	g.d.Metrics.Attempts.WithLabelValues(ie.Code).Inc()
	if ie.Retryable && g.j.Attempts < g.j.MaxAttempts && ie.Code != interpret.CodeCanceled {
		wait := job.Backoff(g.j.Attempts, or(g.d.BackoffBase, 500*time.Millisecond), or(g.d.BackoffMax, 30*time.Second), rand.Float64)
		if ie.RetryAfter > wait {
			wait = ie.RetryAfter
		}
		at := time.Now().Add(wait)
		ok, err := g.d.Store.ScheduleRetry(c, g.id, g.j.Epoch, at, ie.Code, ie.Message)
		if err != nil || !ok {
			g.lost(ctx, err)
			return
		}
		g.j.NextAttemptAt, g.j.ErrorCode, g.j.ErrorDetail = &at, ie.Code, ie.Message
		g.publish(job.Running, payload(JobProgress{Attempt: g.j.Attempts, MaxAttempts: g.j.MaxAttempts,
			RetryInMS: wait.Milliseconds(), ErrorCode: ie.Code}), "")
		g.schedule(ctx)
		return
	}
	g.fail(c, ie.Code, ie.Message)
}

func (g *jobGrain) fail(c context.Context, code, detail string) {
	ok, err := g.d.Store.FailJob(c, g.id, g.j.Epoch, code, detail)
	if err != nil || !ok {
		g.lost(nil, err)
		return
	}
	g.j.Status, g.j.ErrorCode, g.j.ErrorDetail = job.Failed, code, detail
	g.d.Metrics.Finished.WithLabelValues(string(job.Failed)).Inc()
	g.publish(job.Failed, "", payload(JobFailed{ErrorCode: code}))
	g.finish()
}

// lost handles a fenced write: the job was cancelled, or another owner took it.
func (g *jobGrain) lost(ctx actor.Context, err error) {
	if err != nil {
		g.d.Log.Warn("job write failed; will be recovered", "job", g.id, "err", err)
	}
	c, cancel := g.bg()
	defer cancel()
	j, rerr := g.d.Store.JobByID(c, g.id)
	g.stopWork()
	if rerr == nil && j.Status == job.Cancelled {
		g.j = &j
		g.publish(job.Cancelled, "", "")
		g.settle()
		return
	}
	g.j = nil // someone else owns it now, or the database is down: recovery takes it from here
	if ctx != nil {
		ctx.Poison(ctx.Self())
	}
}

func (g *jobGrain) finish() {
	g.stopWork()
	g.settle()
}

// settle captures (completed) or releases (failed, cancelled) the job's hold, once.
func (g *jobGrain) settle() {
	if g.j == nil || g.j.Settled || !g.j.Status.Terminal() {
		return
	}
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := SettleJob(c, g.d.Store, g.d.Wallets, *g.j); err != nil {
		g.d.Log.Warn("settle job; will retry", "job", g.id, "err", err)
		return
	}
	g.j.Settled = true
}

// SettleJob captures a completed job's hold or releases a failed or cancelled one's, with
// idempotency keys derived from the job, so that settling twice (a retry, a recovery on another
// node) moves points once.
func SettleJob(ctx context.Context, store *persistence.Store, wallets *Wallets, j persistence.Job) error {
	settlement := "released"
	if j.HoldID != "" {
		req := &walletpb.Request{WalletId: j.WalletID, HoldId: j.HoldID, ReferenceId: j.ID}
		if j.Status == job.Completed {
			req.Op, req.IdempotencyKey, settlement = walletpb.Op_OP_CAPTURE, "job-capture:"+j.ID, "captured"
		} else {
			req.Op, req.IdempotencyKey = walletpb.Op_OP_RELEASE, "job-release:"+j.ID
		}
		_, err := wallets.Do(ctx, req)
		switch {
		case err == nil:
		case dw.CodeOf(err) == dw.CodeHoldNotActive: // it expired and released itself
			settlement = "expired"
		default:
			return err
		}
	}
	return store.MarkSettled(ctx, j.ID, settlement)
}

func (g *jobGrain) publish(st job.Status, progress, data string) {
	if g.j == nil {
		return
	}
	g.seq++
	g.d.Events.Publish(UserTopic(g.j.UserID), &jobpb.Event{Type: "job.status", JobId: g.id, UserId: g.j.UserID,
		WalletId: g.j.WalletID, Status: string(st), ProgressJson: progress, Data: data, Seq: g.seq})
}

// progressStream coalesces streamed model output into progress events at most every
// progressEvery (and once more at the end), so that a fast stream costs a few events, not one
// per token.
type progressStream struct {
	mu      sync.Mutex
	buf     strings.Builder
	last    time.Time
	publish func(string)
}

const progressEvery = 100 * time.Millisecond

func newProgressStream(publish func(string)) *progressStream {
	return &progressStream{last: time.Now(), publish: publish}
}

func (p *progressStream) add(delta string) {
	p.mu.Lock()
	p.buf.WriteString(delta)
	due := time.Since(p.last) >= progressEvery
	p.mu.Unlock()
	if due {
		p.flush()
	}
}

func (p *progressStream) flush() {
	p.mu.Lock()
	text := p.buf.String()
	p.buf.Reset()
	p.last = time.Now()
	p.mu.Unlock()
	if text != "" {
		p.publish(text)
	}
}

func or2(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
