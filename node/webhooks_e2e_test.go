package node_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/divinewhispers/dw/internal/pgtest"
)

// hookReceiver is the integrator's server: while hanging it holds every request until the
// sender gives up (a slow receiver, so that attempts are in flight); then it answers 200 and
// keeps what it got.
type hookReceiver struct {
	*httptest.Server
	hanging  atomic.Bool
	inFlight atomic.Int32
	mu       sync.Mutex
	got      []received
}

type received struct {
	header http.Header
	body   []byte
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.hanging.Store(true)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if r.hanging.Load() {
			r.inFlight.Add(1)
			<-req.Context().Done() // the sender's timeout, or its death
			r.inFlight.Add(-1)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Clone(), body})
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// TestWebhooksNodeKilled: jobs complete while the integrator's receiver hangs; the node is
// killed (SIGKILL) with deliveries in flight and others waiting to be retried; another node
// on the same database takes over when the leases run out. Each job.completed reaches the
// receiver exactly once, signed so that the Standard Webhooks library verifies it, and each
// delivery is recorded once as succeeded after its failed attempts.
func TestWebhooksNodeKilled(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDB(t)
	hookArgs := []string{"--database-url", url, "--price-interpretation", "1", "--webhook-allow-private",
		"--webhook-retry-base", "200ms", "--webhook-timeout", "1s"}
	start := func(name string) (*proc, string) {
		p := &proc{name: name, http: freePort(t), bind: freePort(t), log: &bytes.Buffer{}}
		p.args = serveArgs(p.name, p.http, p.bind, freePort(t), append([]string{"--data-dir", t.TempDir()}, hookArgs...)...)
		p.start(t)
		t.Cleanup(func() {
			if t.Failed() {
				p.dump(t)
			}
			p.kill()
		})
		base := "http://" + p.http
		waitFor(t, 30*time.Second, name+" ready", func() bool { return ready(base) })
		return p, base
	}
	a, base := start("hooks-a")
	admin := createAdmin(t, base, "--database-url", url)
	receiver := newHookReceiver(t)
	ep := mustCall(t, 201, "POST", base+"/api/v1/webhooks", admin, "", map[string]any{"url": receiver.URL + "/dw", "events": []string{"job.completed"}})
	endpoint, secret := ep["id"].(string), ep["secret"].(string)

	token, wallet := register(t, base, "hooks@e2e.test")
	mustCall(t, 201, "POST", base+"/api/v1/wallets/"+wallet+"/deposits", admin, "hooks-topup", map[string]any{"amount": 100})
	sets := mustCall(t, 200, "GET", base+"/api/v1/poem-sets", "", "", nil)
	slug := sets["items"].([]any)[0].(map[string]any)["slug"].(string)
	const n = 4
	jobs := map[string]bool{}
	for i := range n {
		acc := mustCall(t, 202, "POST", base+"/api/v1/jobs", token, fmt.Sprint("hooks-job-", i),
			map[string]any{"type": "interpretation", "set": slug, "number": i + 1, "question": "will it be delivered?", "topic": "career"})
		jobs[acc["job_id"].(string)] = true
	}
	for id := range jobs {
		waitFor(t, 30*time.Second, "job "+id+" completed", func() bool {
			j := mustCall(t, 200, "GET", base+"/api/v1/jobs/"+id, token, "", nil)
			return j["status"] == "completed"
		})
	}
	deliveries := func(base string) []map[string]any {
		page := mustCall(t, 200, "GET", base+"/api/v1/webhooks/"+endpoint+"/deliveries?page_size=100", admin, "", nil)
		var out []map[string]any
		for _, it := range page["items"].([]any) {
			out = append(out, it.(map[string]any))
		}
		return out
	}
	waitFor(t, 30*time.Second, "a failed attempt of every delivery, and one in flight", func() bool {
		ds := deliveries(base)
		for _, d := range ds {
			if len(d["attempts"].([]any)) == 0 {
				return false
			}
		}
		return len(ds) == n && receiver.inFlight.Load() > 0
	})
	a.kill()
	receiver.hanging.Store(false)

	_, base = start("hooks-b")
	waitFor(t, 60*time.Second, "every delivery succeeded on the other node", func() bool {
		ds := deliveries(base)
		for _, d := range ds {
			if d["status"] != "succeeded" {
				return false
			}
		}
		return len(ds) == n
	})
	seen := map[string]int{}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range receiver.requests() {
		if err := wh.Verify(r.body, r.header); err != nil {
			t.Errorf("Verify: %v", err)
		}
		var m struct {
			Type string `json:"type"`
			Data struct {
				JobID  string `json:"job_id"`
				Status string `json:"status"`
				Wallet string `json:"wallet_id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(r.body, &m); err != nil || m.Type != "job.completed" || !jobs[m.Data.JobID] || m.Data.Status != "completed" || m.Data.Wallet != wallet {
			t.Errorf("message %s (%v)", r.body, err)
		}
		seen[m.Data.JobID]++
	}
	for id := range jobs {
		if seen[id] != 1 {
			t.Errorf("job %s told %d times, want once", id, seen[id])
		}
	}
	for _, d := range deliveries(base) {
		var ok, failed int
		for _, a := range d["attempts"].([]any) {
			a := a.(map[string]any)
			if a["error"] == nil && a["http_status"] == 200.0 {
				ok++
			} else {
				failed++
			}
		}
		if ok != 1 || failed < 1 {
			t.Errorf("delivery %v: %d succeeded and %d failed attempts recorded", d["id"], ok, failed)
		}
	}
}
