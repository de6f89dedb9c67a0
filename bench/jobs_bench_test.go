package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/divinewhispers/dw/auth"
	"github.com/divinewhispers/dw/node"
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
		iss, err := auth.NewIssuer([]byte("bench-key-0123456789-0123456789-0123456789"), "dw", node.Defaults().AccessTTL)
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
			// A token needs an open session: a refresh-token family of the user.
			family := uuid.NewString()
			if err := store.CreateRefreshToken(ctx, u.ID, family, []byte("bench-"+family), time.Now().Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
			tok, _, _ := iss.Issue(auth.Subject{UserID: u.ID, Role: u.Role, WalletID: u.WalletID, SessionID: family}, time.Now())
			jobTokens, jobUserIDs = append(jobTokens, tok), append(jobUserIDs, u.ID)
		}
	})
	return jobTokens, jobUserIDs
}

// jobRun is one benchmark's submissions: who sent which job when, and how long each 202 took.
type jobRun struct {
	b      *testing.B
	tokens []string
	client *http.Client
	url    string
	body   []byte
	run    string // prefix of this run's Idempotency-Keys

	mu     sync.Mutex
	sentAt map[string]time.Time // job id → when its submission was due
	lat    []time.Duration      // 202 latencies
	failed atomic.Int64
}

func newJobRun(b *testing.B) *jobRun {
	setup(b)
	tokens, _ := jobUsers(b)
	body, _ := json.Marshal(map[string]any{"type": "interpretation", "set": "liushi-jiazi", "number": 23,
		"question": "我今年適合創業嗎？想知道財運與時機。", "topic": "wealth"})
	r := &jobRun{b: b, tokens: tokens, body: body, run: uuid.NewString()[:8], sentAt: map[string]time.Time{},
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: submitters, MaxConnsPerHost: submitters}},
		url:    "http://" + benchNode.HTTPAddr() + "/api/v1/jobs"}
	// Warm up, unmeasured: every submitter opens its connection and sends a few jobs, so that
	// the run measures a node at work rather than 200 TCP handshakes and first activations.
	var wg sync.WaitGroup
	for s := range submitters {
		wg.Go(func() {
			for i := range 3 {
				r.submit(s, -1-s*3-i, time.Now())
			}
		})
	}
	wg.Wait()
	if n := r.failed.Load(); n > 0 {
		b.Fatalf("%d warm-up submissions failed", n)
	}
	r.sentAt, r.lat = map[string]time.Time{}, nil
	return r
}

// submit posts job i as submitter s; due is when it should have been sent (the latency of a
// late submission counts from then, so that a slow server cannot hide its queue).
func (r *jobRun) submit(s, i int, due time.Time) {
	req, _ := http.NewRequest("POST", r.url, bytes.NewReader(r.body))
	req.Header.Set("Authorization", "Bearer "+r.tokens[s])
	req.Header.Set("Idempotency-Key", fmt.Sprint(r.run, "-", i))
	resp, err := r.client.Do(req)
	took := time.Since(due)
	if err != nil {
		r.failed.Add(1)
		return
	}
	var out struct {
		JobID string `json:"job_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	_, _ = io.Copy(io.Discard, resp.Body) // drained, so that the connection is reused
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || out.JobID == "" {
		r.failed.Add(1)
		return
	}
	r.mu.Lock()
	r.sentAt[out.JobID], r.lat = due, append(r.lat, took)
	r.mu.Unlock()
}

// finish waits until every job completed and reports jobs/s over the whole run, the 202
// latency and submit→completed latency (from when the submission was due to finished_at).
func (r *jobRun) finish(start time.Time) {
	b, ctx := r.b, context.Background()
	if n := r.failed.Load(); n > 0 {
		b.Fatalf("%d submissions failed", n)
	}
	ids := make([]string, 0, len(r.sentAt))
	for id := range r.sentAt {
		ids = append(ids, id)
	}
	var finished []time.Time
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		rows, err := store.Pool().Query(ctx, `SELECT finished_at FROM jobs WHERE id = ANY($1::uuid[]) AND status = 'completed' ORDER BY id`, ids)
		if err != nil {
			b.Fatal(err)
		}
		finished = finished[:0]
		for rows.Next() {
			var at time.Time
			if err := rows.Scan(&at); err != nil {
				b.Fatal(err)
			}
			finished = append(finished, at)
		}
		if len(finished) == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d jobs completed", len(finished), len(ids))
		}
	}
	last := slices.MaxFunc(finished, time.Time.Compare)
	b.StopTimer()
	slices.Sort(ids) // the order of the rows read
	done := make([]time.Duration, len(ids))
	for i, id := range ids {
		done[i] = finished[i].Sub(r.sentAt[id])
	}
	slices.Sort(done)
	slices.Sort(r.lat)
	pct := func(d []time.Duration, p float64) float64 {
		return float64(d[int(float64(len(d)-1)*p)].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(ids))/last.Sub(start).Seconds(), "jobs/s")
	b.ReportMetric(pct(r.lat, 0.50), "202-p50-ms")
	b.ReportMetric(pct(r.lat, 0.99), "202-p99-ms")
	b.ReportMetric(pct(done, 0.50), "done-p50-ms")
	b.ReportMetric(pct(done, 0.99), "done-p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkJobs submits b.N interpretation jobs over HTTP from 200 concurrent submitters (each
// its own user and wallet), each sending its next job as soon as the last was accepted, to one
// node with the built-in interpreter: the node's throughput, from the first submission until
// the last job completed. The baseline, in the same run, writes every job transition in its own
// transaction (no grouping). With 200 submitters always waiting, latency here is queueing
// (Little's law: 200 / throughput); BenchmarkJobsPaced measures latency below saturation.
func BenchmarkJobs(b *testing.B) {
	for _, c := range []struct {
		name  string
		group int
	}{{"one-write-per-tx", 1}, {"grouped", 0}} {
		b.Run(c.name, func(b *testing.B) {
			r := newJobRun(b)
			benchNode.Jobs().Store.SetJobWriteGroup(c.group)
			defer benchNode.Jobs().Store.SetJobWriteGroup(0)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for s := range submitters {
				wg.Go(func() {
					for i := int(next.Add(1)) - 1; i < b.N; i = int(next.Add(1)) - 1 {
						r.submit(s, i, time.Now())
					}
				})
			}
			wg.Wait()
			r.finish(start)
		})
	}
}

// BenchmarkJobsPaced sends b.N jobs from 200 concurrent submitters at a steady total rate
// (JOBS_RATE per second, default 1,000: half of what BenchmarkJobs sustains), each submission
// due at its own time whether or not earlier ones were answered: the 202 answer's latency and
// submit→completed latency of a loaded node that keeps up.
func BenchmarkJobsPaced(b *testing.B) {
	r := newJobRun(b)
	rate := 1000.0
	if v, err := strconv.ParseFloat(os.Getenv("JOBS_RATE"), 64); err == nil && v > 0 {
		rate = v
	}
	interval := time.Duration(float64(time.Second) / rate)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for s := range submitters {
		wg.Go(func() {
			for i := s; i < b.N; i += submitters {
				due := start.Add(time.Duration(i) * interval)
				time.Sleep(time.Until(due))
				r.submit(s, i, due)
			}
		})
	}
	wg.Wait()
	r.finish(start)
}
