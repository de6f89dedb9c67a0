package actors_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/actors"
	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/protos/walletpb"
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, pgtest.Options{Migrate: persistence.Migrate}))
}

// node is one actor system with its own committer and a standalone grain for a wallet.
type node struct {
	system  *actor.ActorSystem
	wallets *actors.Wallets
	stop    func()
}

func newStore(t *testing.T) *persistence.Store {
	t.Helper()
	store, err := persistence.Open(t.Context(), pgtest.NewDB(t), 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	return store
}

func startNode(t *testing.T, store *persistence.Store, walletID string) *node {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))
	m := actors.NewMetrics(nil)
	c := actors.NewCommitter(store, log, m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx, 2); close(done) }()
	pid := system.Root.Spawn(actors.StandaloneWalletProps(&actors.WalletDeps{Store: store, Committer: c, Log: log, Metrics: m}, walletID))
	n := &node{system: system, wallets: &actors.Wallets{Request: actors.PIDRequester(system, pid), Retries: 20}}
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			_ = system.Root.StopFuture(pid).Wait()
			cancel()
			<-done
			system.Shutdown()
		})
	}
	t.Cleanup(n.stop)
	return n
}

func do(t *testing.T, w *actors.Wallets, r *walletpb.Request) (*walletpb.Response, error) {
	t.Helper()
	return w.Do(t.Context(), r)
}

func mustDo(t *testing.T, w *actors.Wallets, r *walletpb.Request) *walletpb.Response {
	t.Helper()
	resp, err := do(t, w, r)
	if err != nil {
		t.Fatalf("%v %v: %v", r.Op, r.IdempotencyKey, err)
	}
	return resp
}

// checkLedger asserts the wallet invariant in the database: balance = sum of the entries.
func checkLedger(t *testing.T, store *persistence.Store, walletID string) (balance, held int64) {
	t.Helper()
	var sumB, sumH, seq, count, maxSeq int64
	err := store.Pool().QueryRow(t.Context(), `
		SELECT w.balance, w.held, w.seq,
		       COALESCE(sum(t.balance_delta), 0), COALESCE(sum(t.held_delta), 0), count(t.id), COALESCE(max(t.seq), 0)
		FROM wallets w LEFT JOIN transactions t ON t.wallet_id = w.id AND t.status = 'success'
		WHERE w.id = $1 GROUP BY w.id`, walletID).Scan(&balance, &held, &seq, &sumB, &sumH, &count, &maxSeq)
	if err != nil {
		t.Fatal(err)
	}
	if balance != sumB || held != sumH || seq != count || seq != maxSeq || balance < 0 || held > balance {
		t.Fatalf("ledger broken: balance %d held %d seq %d; entries sum %d/%d, count %d, max seq %d",
			balance, held, seq, sumB, sumH, count, maxSeq)
	}
	return balance, held
}

func TestConcurrentSpends(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	id, err := store.CreateWallet(t.Context(), "hot")
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, store, id)
	mustDo(t, n.wallets, &walletpb.Request{Op: walletpb.Op_OP_DEPOSIT, WalletId: id, Amount: 1000, IdempotencyKey: "seed"})

	var ok, broke atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			_, err := do(t, n.wallets, &walletpb.Request{Op: walletpb.Op_OP_SPEND, WalletId: id, Amount: 10, IdempotencyKey: fmt.Sprint("spend-", i)})
			switch dw.KindOf(err) {
			case "":
				ok.Add(1)
			case dw.KindInsufficientFunds:
				broke.Add(1)
			default:
				t.Errorf("spend %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 100 || broke.Load() != 100 {
		t.Fatalf("%d spends succeeded and %d were refused; want 100 and 100", ok.Load(), broke.Load())
	}
	if b, _ := checkLedger(t, store, id); b != 0 {
		t.Fatalf("balance %d, want 0", b)
	}
	got := mustDo(t, n.wallets, &walletpb.Request{Op: walletpb.Op_OP_GET, WalletId: id})
	if got.Wallet.Balance != 0 || got.Wallet.Seq != 101 {
		t.Fatalf("grain reports %+v", got.Wallet)
	}
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	id, _ := store.CreateWallet(t.Context(), "w")
	n := startNode(t, store, id)
	dep := &walletpb.Request{Op: walletpb.Op_OP_DEPOSIT, WalletId: id, Amount: 50, IdempotencyKey: "k1", ReferenceId: "pay-1"}
	first := mustDo(t, n.wallets, dep)
	again := mustDo(t, n.wallets, dep)
	if !again.Replayed || again.Transaction.Id != first.Transaction.Id {
		t.Fatalf("replay gave %+v, first %+v", again.Transaction, first.Transaction)
	}
	changed := &walletpb.Request{Op: walletpb.Op_OP_DEPOSIT, WalletId: id, Amount: 51, IdempotencyKey: "k1", ReferenceId: "pay-1"}
	if _, err := do(t, n.wallets, changed); dw.CodeOf(err) != "idempotency_conflict" {
		t.Fatalf("reuse with another amount: %v", err)
	}

	// A new activation no longer remembers the key: the database's unique key answers.
	n.stop()
	n2 := startNode(t, store, id)
	replayed := mustDo(t, n2.wallets, dep)
	if !replayed.Replayed || replayed.Transaction.Id != first.Transaction.Id {
		t.Fatalf("replay after reactivation gave %+v", replayed)
	}
	if _, err := do(t, n2.wallets, changed); dw.CodeOf(err) != "idempotency_conflict" {
		t.Fatalf("conflicting reuse after reactivation: %v", err)
	}
	// and the grain still works after reloading
	mustDo(t, n2.wallets, &walletpb.Request{Op: walletpb.Op_OP_SPEND, WalletId: id, Amount: 20, IdempotencyKey: "k2"})
	if b, _ := checkLedger(t, store, id); b != 30 {
		t.Fatalf("balance %d, want 30", b)
	}
}

func TestHoldsAndRefunds(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	id, _ := store.CreateWallet(t.Context(), "w")
	n := startNode(t, store, id)
	key := 0
	req := func(r *walletpb.Request) *walletpb.Request {
		key++
		r.WalletId, r.IdempotencyKey = id, fmt.Sprint("k", key)
		return r
	}
	mustDo(t, n.wallets, req(&walletpb.Request{Op: walletpb.Op_OP_DEPOSIT, Amount: 100}))
	hold := mustDo(t, n.wallets, req(&walletpb.Request{Op: walletpb.Op_OP_HOLD, Amount: 60, ExpiresInSeconds: 60}))
	if hold.Wallet.Available != 40 || hold.Wallet.Held != 60 {
		t.Fatalf("after hold: %+v", hold.Wallet)
	}
	if _, err := do(t, n.wallets, req(&walletpb.Request{Op: walletpb.Op_OP_SPEND, Amount: 41})); dw.KindOf(err) != dw.KindInsufficientFunds {
		t.Fatalf("spend beyond available: %v", err)
	}
	cap := mustDo(t, n.wallets, req(&walletpb.Request{Op: walletpb.Op_OP_CAPTURE, HoldId: hold.Transaction.Id, Amount: 25}))
	if cap.Wallet.Balance != 75 || cap.Wallet.Held != 0 {
		t.Fatalf("after partial capture: %+v", cap.Wallet)
	}
	if _, err := do(t, n.wallets, req(&walletpb.Request{Op: walletpb.Op_OP_RELEASE, HoldId: hold.Transaction.Id})); dw.KindOf(err) != dw.KindNotFound {
		t.Fatalf("release of a captured hold: %v", err)
	}
	// Refunds are read from the database, so a new activation must refuse over-refunds too.
	mustDo(t, n.wallets, req(&walletpb.Request{Op: walletpb.Op_OP_REFUND, TransactionId: cap.Transaction.Id, Amount: 20}))
	n.stop()
	n = startNode(t, store, id)
	if _, err := do(t, n.wallets, req(&walletpb.Request{Op: walletpb.Op_OP_REFUND, TransactionId: cap.Transaction.Id, Amount: 6})); dw.CodeOf(err) != "refund_exceeds_spend" {
		t.Fatalf("over-refund after reactivation: %v", err)
	}
	mustDo(t, n.wallets, req(&walletpb.Request{Op: walletpb.Op_OP_REFUND, TransactionId: cap.Transaction.Id}))
	// An expired hold releases itself on the next request.
	short := mustDo(t, n.wallets, req(&walletpb.Request{Op: walletpb.Op_OP_HOLD, Amount: 10, ExpiresInSeconds: 1}))
	if short.Wallet.Held != 10 {
		t.Fatalf("short hold: %+v", short.Wallet)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := mustDo(t, n.wallets, req(&walletpb.Request{Op: walletpb.Op_OP_EXPIRE_HOLDS}))
		_ = got
		g := mustDo(t, n.wallets, &walletpb.Request{Op: walletpb.Op_OP_GET, WalletId: id})
		if g.Wallet.Held == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hold never expired: %+v", g.Wallet)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if b, h := checkLedger(t, store, id); b != 100 || h != 0 {
		t.Fatalf("balance/held %d/%d, want 100/0", b, h)
	}
}

// TestFencing runs two activations of one wallet at once, each on its own committer, as two
// nodes that disagree on the topology would. The database must let only one write at a time.
func TestFencing(t *testing.T) {
	t.Parallel()
	store := newStore(t)
	id, _ := store.CreateWallet(t.Context(), "contended")
	a := startNode(t, store, id)
	b := startNode(t, store, id)
	mustDo(t, a.wallets, &walletpb.Request{Op: walletpb.Op_OP_DEPOSIT, WalletId: id, Amount: 1000, IdempotencyKey: "seed"})
	// Both activations load the wallet before the storm.
	mustDo(t, a.wallets, &walletpb.Request{Op: walletpb.Op_OP_GET, WalletId: id})
	mustDo(t, b.wallets, &walletpb.Request{Op: walletpb.Op_OP_GET, WalletId: id})

	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := range 300 {
		w := a.wallets
		if i%2 == 1 {
			w = b.wallets
		}
		wg.Go(func() {
			_, err := do(t, w, &walletpb.Request{Op: walletpb.Op_OP_SPEND, WalletId: id, Amount: 10, IdempotencyKey: fmt.Sprint("s", i)})
			switch dw.KindOf(err) {
			case "":
				ok.Add(1)
			case dw.KindInsufficientFunds, dw.KindUnavailable:
			default:
				t.Errorf("spend %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	bal, _ := checkLedger(t, store, id)
	if ok.Load() > 100 || bal != 1000-10*ok.Load() {
		t.Fatalf("%d spends acknowledged, balance %d: money was double-spent or lost", ok.Load(), bal)
	}
	var acked int64
	if err := store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM transactions WHERE wallet_id = $1 AND type = 'spend'`, id).Scan(&acked); err != nil {
		t.Fatal(err)
	}
	if acked != ok.Load() {
		t.Fatalf("%d spends in the ledger, %d acknowledged", acked, ok.Load())
	}
	t.Logf("%d of 300 spends succeeded across two activations", ok.Load())
}
