package node_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/persistence/pgserver"
)

type op struct {
	wallet, key, kind string
	amount            int
}

// TestCrashSafety kill -9s a `dw serve` on its embedded PostgreSQL in the middle of concurrent
// deposits and spends, restarts it on the same data directory, and finds every acknowledged
// operation in the ledger exactly once and every balance equal to its ledger sum.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	p, dir, newProc, base, admin := startEmbedded(t, "crash")

	url, ok := pgserver.RunningURL(dir)
	if !ok {
		t.Fatal("embedded PostgreSQL not found running")
	}
	store, err := persistence.Open(t.Context(), url, 4)
	if err != nil {
		t.Fatal(err)
	}
	wallets, err := store.CreateWallets(t.Context(), 4, "crash")
	store.Close()
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu    sync.Mutex
		acked []op
		ops   = map[string]op{} // key → its operation
	)
	unanswered := killUnderLoad(t, p, 300, func(_ int, key string) (bool, bool, error) {
		o := op{wallet: wallets[rand.IntN(len(wallets))], key: key, kind: "deposits", amount: 10}
		if rand.IntN(3) == 0 {
			o.kind, o.amount = "spends", 7
		}
		mu.Lock()
		ops[key] = o
		mu.Unlock()
		r, err := call(t, "POST", base+"/api/v1/wallets/"+o.wallet+"/"+o.kind, admin, o.key, map[string]any{"amount": o.amount})
		if err == nil && r.status == 201 {
			mu.Lock()
			acked = append(acked, o)
			mu.Unlock()
		}
		// 409: insufficient funds, nothing moved.
		return err == nil && (r.status == 201 || r.status == 409), err == nil && r.status == 201, err
	})
	inflight := make([]op, len(unanswered))
	for i, key := range unanswered {
		inflight[i] = ops[key]
	}

	restartServe(t, newProc, dir, base)

	// The operations in flight at the crash are retried with their keys: each moves money at
	// most once, whatever the crash did to it.
	for _, o := range inflight {
		r := mustCallAny(t, "POST", base+"/api/v1/wallets/"+o.wallet+"/"+o.kind, admin, o.key, map[string]any{"amount": o.amount})
		if r.status == 201 {
			acked = append(acked, o)
		}
	}

	url, _ = pgserver.RunningURL(dir)
	store, err = persistence.Open(t.Context(), url, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, o := range acked {
		var n int
		if err := store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM transactions WHERE wallet_id = $1 AND idempotency_key = $2`, o.wallet, o.key).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("acknowledged %s %s found %d times in the ledger", o.kind, o.key, n)
		}
	}
	var total int
	for _, w := range wallets {
		ledgerCheck(t, store, w)
		var n int
		_ = store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM transactions WHERE wallet_id = $1`, w).Scan(&n)
		total += n
	}
	if total != len(acked) {
		t.Fatalf("ledger holds %d entries, %d were acknowledged", total, len(acked))
	}
}

// embeddedServe prepares a data directory for `dw serve` on its embedded PostgreSQL, removed
// (server stopped) after the test, and returns it with a maker of serve processes that share it
// and the HTTP address.
func embeddedServe(t *testing.T, name string, extra ...string) (dir string, newProc func() *proc, base string) {
	t.Helper()
	// Not t.TempDir(): its parent is private to root, and the postgres user must reach the
	// data directory when the tests run as root.
	dir, err := os.MkdirTemp("", "dw-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Cleanup(func() { // never leave the embedded server behind
		if _, ok := pgserver.RunningURL(dir); ok {
			if srv, err := pgserver.Start(context.Background(), pgserver.Options{DataDir: dir}); err == nil {
				_ = srv.Stop(context.Background())
			}
		}
	})
	httpAddr := freePort(t)
	newProc = func() *proc {
		p := &proc{name: name, http: httpAddr, bind: freePort(t), log: &bytes.Buffer{}}
		p.args = serveArgs(p.name, p.http, p.bind, freePort(t), append([]string{"--data-dir", dir}, extra...)...)
		return p
	}
	return dir, newProc, "http://" + httpAddr
}

// killUnderLoad runs 16 clients, each calling send with fresh keys until its call fails to
// reach the server, SIGKILLs p once want calls were acknowledged, and waits for the clients.
// send says whether its call got a final answer (nothing to retry) and whether it was
// acknowledged. It returns the keys of the calls that got no final answer.
func killUnderLoad(t *testing.T, p *proc, want int64, send func(client int, key string) (answered, acked bool, err error)) []string {
	t.Helper()
	var (
		mu       sync.Mutex
		inflight = map[string]bool{}
		acked    atomic.Int64
		stop     atomic.Bool
		seq      atomic.Int64
		wg       sync.WaitGroup
	)
	for c := range 16 {
		wg.Go(func() {
			for !stop.Load() {
				key := fmt.Sprint("k", seq.Add(1))
				mu.Lock()
				inflight[key] = true
				mu.Unlock()
				answered, ok, err := send(c, key)
				if ok {
					acked.Add(1)
				}
				if answered {
					mu.Lock()
					delete(inflight, key)
					mu.Unlock()
				}
				if err != nil {
					return
				}
			}
		})
	}
	waitFor(t, 60*time.Second, "load under way", func() bool { return acked.Load() >= want })
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	wg.Wait()
	p.kill()
	keys := make([]string, 0, len(inflight))
	for key := range inflight {
		keys = append(keys, key)
	}
	t.Logf("killed dw serve after %d acknowledged calls, %d without an answer", acked.Load(), len(keys))
	return keys
}

// startEmbedded starts `dw serve` on a fresh data directory (see embeddedServe), waits until it
// answers and creates an admin; the process is killed when the test ends.
func startEmbedded(t *testing.T, name string, extra ...string) (p *proc, dir string, newProc func() *proc, base, admin string) {
	t.Helper()
	dir, newProc, base = embeddedServe(t, name, extra...)
	p = newProc()
	p.start(t)
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			p.dump(t)
		}
	})
	waitFor(t, 60*time.Second, "dw serve ready", func() bool { return ready(base) })
	return p, dir, newProc, base, createAdmin(t, base, "--data-dir", dir)
}

// restartServe starts `dw serve` again on dir after a crash and waits until it answers; it is
// stopped (with its embedded PostgreSQL) when the test ends.
func restartServe(t *testing.T, newProc func() *proc, dir, base string) {
	t.Helper()
	p := newProc()
	p.start(t)
	t.Cleanup(func() {
		if t.Failed() {
			p.dump(t)
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		waitFor(t, 30*time.Second, "dw serve to stop", func() bool { _, ok := pgserver.RunningURL(dir); return !ok })
	})
	waitFor(t, 60*time.Second, "dw serve ready after the crash", func() bool { return ready(base) })
}

// mustCallAny makes a call that must get an answer (any status).
func mustCallAny(t *testing.T, method, url, token, key string, body any) apiResult {
	t.Helper()
	for range 20 {
		r, err := call(t, method, url, token, key, body)
		if err == nil && r.status != 503 {
			return r
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s %s never answered", method, url)
	return apiResult{}
}
