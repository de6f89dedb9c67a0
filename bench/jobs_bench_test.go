package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/divinewhispers/dw/auth"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/protos/walletpb"
)

const submitters = 200

var (
	jobUsersOnce          sync.Once
	jobTokens, jobUserIDs []string
)

// jobUsers makes the submitters once: each a user with a funded wallet and an access token.
func jobUsers(b *testing.B) ([]string, []string) {
	jobUsersOnce.Do(func() {
		ctx := context.Background()
		iss, err := auth.NewIssuer([]byte("bench-key-0123456789-0123456789-0123456789"), "dw", time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		run := uuid.NewString()[:8]
		for i := range submitters {
			u, err := store.CreateUser(ctx, fmt.Sprintf("bench-%s-%d@example.com", run, i), "not-a-hash", "user", persistence.AuditEntry{Action: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := benchNode.Wallets().Do(ctx, &walletpb.Request{Op: walletpb.Op_OP_DEPOSIT, WalletId: u.WalletID,
				Amount: 1 << 40, IdempotencyKey: "bench-topup"}); err != nil {
				b.Fatal(err)
			}
			tok, _, _ := iss.Issue(u.ID, u.Role, u.WalletID, time.Now())
			jobTokens, jobUserIDs = append(jobTokens, tok), append(jobUserIDs, u.ID)
		}
	})
	return jobTokens, jobUserIDs
}

// BenchmarkJobs submits b.N interpretation jobs over HTTP from 200 concurrent submitters (each
// its own user and wallet) to one node with the built-in interpreter, and reports jobs/s until
// every job completed, the 202 answer's latency, and submit→completed latency.
func BenchmarkJobs(b *testing.B) {
	setup(b)
	ctx := context.Background()
	tokens, users := jobUsers(b)
	run := uuid.NewString()[:8]
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: submitters, MaxConnsPerHost: submitters}}
	url := "http://" + benchNode.HTTPAddr() + "/api/v1/jobs"
	body, _ := json.Marshal(map[string]any{"type": "interpretation", "set": "liushi-jiazi", "number": 23,
		"question": "我今年適合創業嗎？想知道財運與時機。", "topic": "wealth"})

	var next atomic.Int64
	lat := make([][]time.Duration, submitters)
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for s := range submitters {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tokens[s])
				req.Header.Set("Idempotency-Key", fmt.Sprint(run, "-", i))
				t := time.Now()
				resp, err := client.Do(req)
				if resp != nil { // drained, so that the connection is reused
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != http.StatusAccepted {
					failed.Add(1)
					continue
				}
				lat[s] = append(lat[s], time.Since(t))
			}
		})
	}
	wg.Wait()
	// Wait until every job finished.
	var done int
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err := store.Pool().QueryRow(ctx, `SELECT count(*) FROM jobs WHERE user_id = ANY($1) AND idempotency_key LIKE $2 || '-%' AND status IN ('completed', 'failed')`, users, run).Scan(&done); err != nil {
			b.Fatal(err)
		}
		if done >= b.N-int(failed.Load()) {
			break
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d submissions failed", failed.Load())
	}
	var completed int
	var p50, p99 float64
	if err := store.Pool().QueryRow(ctx, `SELECT count(*),
		COALESCE(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)), 0),
		COALESCE(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)), 0)
		FROM jobs WHERE user_id = ANY($1) AND idempotency_key LIKE $2 || '-%' AND status = 'completed'`, users, run).Scan(&completed, &p50, &p99); err != nil {
		b.Fatal(err)
	}
	if completed != b.N {
		b.Fatalf("%d of %d jobs completed", completed, b.N)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(float64(len(all)-1)*p)].Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(pct(0.50), "202-p50-ms")
	b.ReportMetric(pct(0.99), "202-p99-ms")
	b.ReportMetric(p50*1000, "done-p50-ms")
	b.ReportMetric(p99*1000, "done-p99-ms")
	b.ReportMetric(0, "ns/op")
}
