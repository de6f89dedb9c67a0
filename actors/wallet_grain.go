package actors

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/google/uuid"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/protos/jobpb"
	"github.com/divinewhispers/dw/protos/walletpb"
	"github.com/divinewhispers/dw/wallet"
)

// WalletKind is the cluster kind of wallet grains; a grain's identity is its wallet id.
const WalletKind = "wallet"

// WalletDeps is what every wallet grain of a node shares.
type WalletDeps struct {
	Store       *persistence.Store
	Committer   *Committer
	Log         *slog.Logger
	Metrics     *Metrics
	Events      *Events       // nil: no live balance events
	IdleTimeout time.Duration // passivate after this long without a message (0 = 2 minutes)
	Now         func() time.Time
}

// WalletProps returns the props of the wallet grain kind.
func WalletProps(d *WalletDeps) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &walletGrain{d: d} })
}

// NewWalletKind returns the cluster kind for wallet grains.
func NewWalletKind(d *WalletDeps) *pcluster.Kind {
	return pcluster.NewKind(WalletKind, WalletProps(d))
}

// StandaloneWalletProps is a wallet grain bound to one wallet outside the cluster: tests use it
// to force two activations of the same wallet.
func StandaloneWalletProps(d *WalletDeps, walletID string) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &walletGrain{d: d, id: walletID} })
}

// commitDone is sent by the committer back to the grain (always local, so not protobuf).
type commitDone struct {
	gen    int
	result CommitResult
}

type pendingOp struct {
	entry   wallet.Entry // until committed
	hash    []byte       // the request's fingerprint, kept after the entry is dropped
	waiters []*actor.PID
	done    bool
	resp    *walletpb.Response
}

type batch struct {
	ops []*pendingOp
}

type walletGrain struct {
	d  *WalletDeps
	id string

	loaded    bool
	st        wallet.State // committed entries plus accepted ones
	committed *walletpb.Wallet
	gen       int                   // bumped on every reload: results of older batches are ignored
	keys      map[string]*pendingOp // idempotency keys seen by this activation
	inflight  *batch                // at the committer
	next      *batch                // accepted since inflight was sent
	// watchedUntil: balance events are published only while a live client watches the wallet
	// (it renews OP_WATCH), so that unwatched wallets cost no pub/sub traffic.
	watchedUntil time.Time
}

// watchWindow is how long one OP_WATCH keeps balance events flowing.
const watchWindow = 30 * time.Second

// maxRememberedKeys bounds the in-memory idempotency index of one activation (a recent
// window: retries come soon after the first try). Older keys are still caught by the
// database's unique (wallet_id, idempotency_key) and answered from the ledger.
const maxRememberedKeys = 4096

func (g *walletGrain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		g.d.Metrics.ActiveGrains.WithLabelValues(WalletKind).Inc()
		idle := g.d.IdleTimeout
		if idle == 0 {
			idle = 2 * time.Minute
		}
		ctx.SetReceiveTimeout(idle)
	case *pcluster.ClusterInit:
		g.id = m.Identity.Identity
	case *actor.Stopped:
		g.d.Metrics.ActiveGrains.WithLabelValues(WalletKind).Dec()
	case *actor.ReceiveTimeout:
		if g.inflight == nil && g.next == nil {
			ctx.Poison(ctx.Self())
		}
	case *walletpb.Request:
		g.handle(ctx, m)
	case *commitDone:
		g.finish(ctx, m)
	}
}

func (g *walletGrain) now() time.Time {
	if g.d.Now != nil {
		return g.d.Now()
	}
	return time.Now()
}

func (g *walletGrain) load() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, updated, err := g.d.Store.LoadWallet(ctx, g.id)
	if err != nil {
		return err
	}
	g.st, g.loaded = st, true
	g.keys = map[string]*pendingOp{}
	g.committed = &walletpb.Wallet{Id: g.id, Balance: st.Balance, Held: st.Held,
		Available: st.Available(), Seq: st.Seq, UpdatedAtUnixMicro: updated.UnixMicro()}
	return nil
}

func (g *walletGrain) handle(ctx actor.Context, req *walletpb.Request) {
	if req.WalletId != g.id {
		ctx.Respond(errorResponse(dw.Errorf(dw.KindInvalid, "request for wallet %s reached wallet %s", req.WalletId, g.id)))
		return
	}
	if !g.loaded {
		if err := g.load(); err != nil {
			if dw.KindOf(err) == dw.KindInternal {
				g.d.Log.Error("load wallet", "wallet", g.id, "err", err)
			}
			ctx.Respond(errorResponse(err))
			if dw.KindOf(err) == dw.KindNotFound {
				// No such wallet: an activation kept until its idle timeout would let anyone
				// fill the node with grains by asking for random ids.
				ctx.Poison(ctx.Self())
			}
			return
		}
	}
	now := g.now()
	for _, e := range g.st.ExpireHolds(now, newID) {
		g.accept(&pendingOp{entry: e})
	}
	switch req.Op {
	case walletpb.Op_OP_GET:
		ctx.Respond(&walletpb.Response{Code: walletpb.Code_CODE_OK, Wallet: g.committed})
	case walletpb.Op_OP_EXPIRE_HOLDS:
		ctx.Respond(&walletpb.Response{Code: walletpb.Code_CODE_OK})
	case walletpb.Op_OP_WATCH:
		g.watchedUntil = now.Add(watchWindow)
		ctx.Respond(&walletpb.Response{Code: walletpb.Code_CODE_OK, Wallet: g.committed})
	default:
		g.apply(ctx, req, now)
	}
	g.flush(ctx)
}

func (g *walletGrain) apply(ctx actor.Context, req *walletpb.Request, now time.Time) {
	cmd, err := commandOf(req)
	if err != nil {
		ctx.Respond(errorResponse(err))
		return
	}
	if op, ok := g.keys[cmd.IdempotencyKey]; ok {
		switch {
		case string(op.hash) != string(cmd.Hash()):
			ctx.Respond(errorResponse(errIdempotencyConflict))
		case op.done:
			ctx.Respond(replay(op.resp))
		default: // the first request is still being committed: answer both together
			op.waiters = append(op.waiters, ctx.Sender())
		}
		return
	}
	if cmd.Type == wallet.Refund {
		if _, known := g.st.Refundable[cmd.TransactionID]; !known {
			lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			left, err := g.d.Store.Refundable(lctx, g.id, cmd.TransactionID)
			cancel()
			if err != nil && dw.KindOf(err) != dw.KindNotFound {
				ctx.Respond(errorResponse(err))
				return
			}
			if err == nil {
				g.st.Refundable[cmd.TransactionID] = left
			}
		}
	}
	e, err := g.st.Apply(cmd, now, newID())
	if err != nil {
		ctx.Respond(errorResponse(err))
		return
	}
	g.accept(&pendingOp{entry: e, waiters: []*actor.PID{ctx.Sender()}})
}

func (g *walletGrain) accept(op *pendingOp) {
	op.hash = op.entry.RequestHash
	if g.next == nil {
		g.next = &batch{}
	}
	g.next.ops = append(g.next.ops, op)
	if len(g.keys) >= maxRememberedKeys {
		for k, o := range g.keys {
			if o.done {
				delete(g.keys, k)
			}
		}
	}
	g.keys[op.entry.IdempotencyKey] = op
}

// flush sends the next batch to the committer unless one is already in flight.
func (g *walletGrain) flush(ctx actor.Context) {
	if g.inflight != nil || g.next == nil {
		return
	}
	b := g.next
	g.inflight, g.next = b, nil
	unit := persistence.CommitUnit{
		WalletID: g.id, OldSeq: g.committed.Seq, NewSeq: g.st.Seq,
		Balance: g.st.Balance, Held: g.st.Held, Entries: make([]wallet.Entry, len(b.ops)),
	}
	for i, op := range b.ops {
		unit.Entries[i] = op.entry
	}
	self, system, gen := ctx.Self(), ctx.ActorSystem(), g.gen
	g.d.Committer.Submit(unit, func(r CommitResult) {
		system.Root.Send(self, &commitDone{gen: gen, result: r})
	})
}

func (g *walletGrain) finish(ctx actor.Context, m *commitDone) {
	if m.gen != g.gen || g.inflight == nil {
		return
	}
	b := g.inflight
	g.inflight = nil
	r := m.result
	if r.Err == nil && !r.Fenced {
		last := b.ops[len(b.ops)-1].entry
		g.committed = &walletpb.Wallet{Id: g.id, Balance: last.BalanceAfter, Held: last.HeldAfter,
			Available: last.BalanceAfter - last.HeldAfter, Seq: last.Seq, UpdatedAtUnixMicro: g.now().UnixMicro()}
		for _, op := range b.ops {
			op.done = true
			op.resp = &walletpb.Response{Code: walletpb.Code_CODE_OK, Transaction: TransactionPB(op.entry), Wallet: g.committed}
			for _, w := range op.waiters {
				ctx.Send(w, op.resp)
			}
			op.waiters, op.entry = nil, wallet.Entry{}
		}
		g.publishBalance()
		g.flush(ctx)
		return
	}
	// Nothing of this batch was written (or it is unknown whether it was): everything accepted
	// since the last good commit rests on a state that may be wrong. Drop it, reload, and let the
	// callers retry with their keys.
	ops := b.ops
	if g.next != nil {
		ops = append(ops, g.next.ops...)
	}
	g.next = nil
	g.gen++
	g.loaded = false
	if r.Fenced {
		g.d.Log.Warn("wallet fenced by another activation; reloading", "wallet", g.id)
	}
	for _, op := range ops {
		resp := retryResponse
		if errors.Is(r.Err, persistence.ErrDuplicateKey) {
			resp = g.answerFromLedger(op)
		}
		for _, w := range op.waiters {
			ctx.Send(w, resp)
		}
	}
	if err := g.load(); err != nil {
		g.d.Log.Error("reload wallet", "wallet", g.id, "err", err)
	}
}

// publishBalance tells live clients the committed balance, once per commit (not per operation).
func (g *walletGrain) publishBalance() {
	if g.d.Events == nil || g.now().After(g.watchedUntil) {
		return
	}
	w := g.committed
	g.d.Events.Publish(WalletTopic(g.id), &jobpb.Event{Type: "wallet.balance", WalletId: g.id, Seq: w.Seq,
		Data: payload(WalletBalance{Balance: w.Balance, Held: w.Held, Available: w.Available, Seq: w.Seq})})
}

// answerFromLedger answers an operation whose key the database already holds: the stored entry
// is the first result of that key.
func (g *walletGrain) answerFromLedger(op *pendingOp) *walletpb.Response {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e, err := g.d.Store.EntryByKey(ctx, g.id, op.entry.IdempotencyKey)
	if err != nil {
		return retryResponse
	}
	if string(e.RequestHash) != string(op.entry.RequestHash) {
		return errorResponse(errIdempotencyConflict)
	}
	return &walletpb.Response{Code: walletpb.Code_CODE_OK, Transaction: TransactionPB(e), Replayed: true}
}

var (
	errIdempotencyConflict = dw.Coded(dw.KindInvalid, dw.CodeIdempotencyConflict, "this Idempotency-Key was used with different parameters")
	retryResponse          = &walletpb.Response{Code: walletpb.Code_CODE_RETRY,
		Failure: FailureOf(dw.Coded(dw.KindUnavailable, dw.CodeRetry, "wallet was reloaded; retry"))}
)

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func replay(r *walletpb.Response) *walletpb.Response {
	return &walletpb.Response{Code: r.Code, Failure: r.Failure, Transaction: r.Transaction, Wallet: r.Wallet, Replayed: true}
}
