package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/divinewhispers/dw/actors"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/persistence/pgserver"
	"github.com/divinewhispers/dw/protos/walletpb"
)

// callers is the number of concurrent callers of every wallet benchmark.
const callers = 64

var (
	setupOnce sync.Once
	dbURL     string
	benchNode *node.Node
	store     *persistence.Store
	setupErr  error
	stopAll   func()
)

// TestMain starts one durable PostgreSQL (fsync on) and one node for all benchmarks.
func TestMain(m *testing.M) {
	code := m.Run()
	if stopAll != nil {
		stopAll()
	}
	os.Exit(code)
}

func setup(b *testing.B) {
	setupOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dw-bench-")
		if err != nil {
			setupErr = err
			return
		}
		_ = os.Chmod(dir, 0o711) // the postgres user must reach it when we run as root
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		ctx := context.Background()
		srv, err := pgserver.Start(ctx, pgserver.Options{DataDir: dir, Logger: log, SharedBuffers: pgserver.DefaultSharedBuffers()})
		if err != nil {
			setupErr = err
			return
		}
		dbURL = srv.URL()
		cfg := node.Defaults()
		cfg.DatabaseURL, cfg.DataDir = dbURL, dir
		cfg.HTTP, cfg.Bind, cfg.Remote = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		cfg.JWTKey = "bench-key-0123456789-0123456789-0123456789"
		cfg.DBMaxConns = 16
		cfg.RateLimit = "off"
		benchNode, err = node.Start(ctx, cfg, log)
		if err != nil {
			setupErr = err
			_ = srv.Stop(ctx)
			return
		}
		store, err = persistence.Open(ctx, dbURL, callers)
		if err != nil {
			setupErr = err
			return
		}
		stopAll = func() {
			store.Close()
			_ = benchNode.Stop(ctx)
			_ = srv.Stop(ctx)
			_ = os.RemoveAll(dir)
		}
	})
	if setupErr != nil {
		b.Fatal(setupErr)
	}
}

// load runs b.N operations over `callers` goroutines and reports throughput and latency.
func load(b *testing.B, op func(ctx context.Context, i int) error) {
	b.Helper()
	var next atomic.Int64
	lat := make([][]time.Duration, callers)
	var failed atomic.Int64
	var wg sync.WaitGroup
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for c := range callers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t := time.Now()
				if err := op(ctx, i); err != nil {
					failed.Add(1)
					if failed.Load() < 5 {
						b.Log(err)
					}
				}
				lat[c] = append(lat[c], time.Since(t))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d operations failed", failed.Load())
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(float64(len(all)-1)*p)].Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// commitStats reads the node's commit histograms: (count, entries, seconds) so far.
func commitStats(b *testing.B) (n, entries, seconds float64) {
	resp, err := http.Get("http://" + benchNode.HTTPAddr() + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		v, _ := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
		switch {
		case strings.HasPrefix(line, "dw_ledger_commit_entries_count"):
			n = v
		case strings.HasPrefix(line, "dw_ledger_commit_entries_sum"):
			entries = v
		case strings.HasPrefix(line, "dw_ledger_commit_seconds_sum"):
			seconds = v
		}
	}
	return n, entries, seconds
}

// reportCommits reports the mean entries per group commit and the mean commit time since before.
func reportCommits(b *testing.B, n0, e0, s0 float64) {
	n, e, s := commitStats(b)
	if n > n0 {
		b.ReportMetric((e-e0)/(n-n0), "entries/commit")
		b.ReportMetric((s-s0)/(n-n0)*1000, "commit-ms")
	}
}

func wallets(b *testing.B, n int) []string {
	ids, err := store.CreateWallets(context.Background(), n, "bench")
	if err != nil {
		b.Fatal(err)
	}
	return ids
}

// warm activates every grain first: the benchmark measures steady state, not activation.
func warm(b *testing.B, w *actors.Wallets, ids []string) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, callers)
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := w.Do(context.Background(), &walletpb.Request{Op: walletpb.Op_OP_GET, WalletId: id}); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
}

// grainDeposit is one durable deposit through the cluster grain API.
func grainDeposit(w *actors.Wallets, id string) error {
	_, err := w.Do(context.Background(), &walletpb.Request{Op: walletpb.Op_OP_DEPOSIT, WalletId: id, Amount: 1, IdempotencyKey: uuid.NewString()})
	return err
}

// sqlDeposit is the baseline: the same operation as one plain transaction per call.
func sqlDeposit(ctx context.Context, id string) error {
	return pgx.BeginFunc(ctx, store.Pool(), func(tx pgx.Tx) error {
		var seq, balance int64
		if err := tx.QueryRow(ctx, `UPDATE wallets SET balance = balance + $2, seq = seq + 1, updated_at = now()
			WHERE id = $1 AND balance + $2 >= 0 RETURNING seq, balance`, id, 1).Scan(&seq, &balance); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO transactions (id, wallet_id, seq, type, status, amount, balance_delta,
			held_delta, balance_after, held_after, idempotency_key, request_hash)
			VALUES ($1, $2, $3, 'deposit', 'success', 1, 1, 0, $4, 0, $5, '\x00')`,
			uuid.Must(uuid.NewV7()), id, seq, balance, uuid.NewString())
		return err
	})
}

func BenchmarkWalletDeposit(b *testing.B) {
	setup(b)
	for _, n := range []int{1, 10_000} {
		name := "hot"
		if n > 1 {
			name = fmt.Sprintf("%dwallets", n)
		}
		b.Run("grain/"+name, func(b *testing.B) {
			ids := wallets(b, n)
			w := benchNode.Wallets()
			warm(b, w, ids)
			n0, e0, s0 := commitStats(b)
			load(b, func(_ context.Context, i int) error { return grainDeposit(w, ids[rand.IntN(len(ids))]) })
			reportCommits(b, n0, e0, s0)
		})
		b.Run("baseline-sql/"+name, func(b *testing.B) {
			ids := wallets(b, n)
			load(b, func(ctx context.Context, i int) error { return sqlDeposit(ctx, ids[rand.IntN(len(ids))]) })
		})
	}
}
