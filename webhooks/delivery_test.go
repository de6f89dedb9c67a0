package webhooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.uber.org/goleak"

	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/webhooks"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m, pgtest.Options{Migrate: persistence.Migrate})
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("internal/poll.runtime_pollWait")); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// fastBackoff retries within milliseconds.
var fastBackoff = webhooks.Backoff{Base: 30 * time.Millisecond, Max: 200 * time.Millisecond, MaxAge: time.Minute, Jitter: 0.1}

// bundle is a store with one user and a service over it.
type bundle struct {
	store *persistence.Store
	svc   *webhooks.Service
	owner string
}

func setup(t *testing.T) bundle {
	t.Helper()
	store, err := persistence.Open(t.Context(), pgtest.NewDB(t), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	u, err := store.CreateUser(t.Context(), "integrator@example.com", "x", "service", persistence.AuditEntry{Action: "user.created"})
	if err != nil {
		t.Fatal(err)
	}
	return bundle{store: store, owner: u.ID, svc: &webhooks.Service{Store: store, Guard: webhooks.Guard{AllowPrivate: true}, Backoff: fastBackoff}}
}

// worker runs a worker over b's store (as one node) until t ends.
func (b bundle) worker(t *testing.T, node string, svc *webhooks.Service) {
	t.Helper()
	if svc == nil {
		svc = b.svc
	}
	w := &webhooks.Worker{Service: svc, Node: node, Poll: 20 * time.Millisecond, Lease: 2 * time.Second, Timeout: 2 * time.Second,
		Log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func (b bundle) endpoint(t *testing.T, url string, events ...string) webhooks.Endpoint {
	t.Helper()
	if len(events) == 0 {
		events = webhooks.EventTypes
	}
	e, err := b.svc.Create(t.Context(), webhooks.CreateInput{OwnerID: b.owner, URL: url, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// received is one request a receiver got.
type received struct {
	Header http.Header
	Body   []byte
}

// receiver is an HTTP server of the test's own that records what it receives and answers
// with status (200 unless set).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	status atomic.Int32
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = append(r.got, received{Header: req.Header.Clone(), Body: body})
	r.mu.Unlock()
	if s := r.status.Load(); s != 0 {
		w.WriteHeader(int(s))
	}
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// waitFor polls cond until it holds or 15 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (b bundle) deliveries(t *testing.T, endpointID string) []webhooks.Delivery {
	t.Helper()
	ds, _, err := b.svc.Deliveries(t.Context(), endpointID, "", 500, "")
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func allSucceeded(ds []webhooks.Delivery, n int) bool {
	if len(ds) != n {
		return false
	}
	for _, d := range ds {
		if d.Status != webhooks.StatusSucceeded {
			return false
		}
	}
	return true
}

// TestPublishSigned: a published event reaches the endpoint once, as a Standard Webhooks
// message the library's Verify accepts, with the typed data as data.
func TestPublishSigned(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := newReceiver(t)
	e := b.endpoint(t, r.URL+"/hook", webhooks.PaymentSucceeded)
	b.worker(t, "a", nil)
	at := time.Now().UTC().Round(0)
	data := webhooks.PaymentData{PaymentID: "p1", UserID: b.owner, Provider: "sandbox", Package: "small", Points: 100, Currency: "TWD", Amount: 150}
	for range 2 { // published twice (two nodes, a retry): delivered once
		if _, err := b.svc.Publish(t.Context(), webhooks.Event{ID: "payment.succeeded.p1", Type: webhooks.PaymentSucceeded, At: at, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the delivery", func() bool { return allSucceeded(b.deliveries(t, e.ID), 1) })
	got := r.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	wh, err := standardwebhooks.NewWebhook(e.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got[0].Body, got[0].Header); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id := got[0].Header.Get("webhook-id"); id != "payment.succeeded.p1" {
		t.Errorf("webhook-id %q", id)
	}
	var msg struct {
		Type      string               `json:"type"`
		Timestamp time.Time            `json:"timestamp"`
		Data      webhooks.PaymentData `json:"data"`
	}
	if err := json.Unmarshal(got[0].Body, &msg); err != nil || msg.Type != webhooks.PaymentSucceeded || !msg.Timestamp.Equal(at) || msg.Data != data {
		t.Errorf("message %s (%v)", got[0].Body, err)
	}
	// Another's secret does not verify.
	other, _ := standardwebhooks.NewWebhook(webhooks.NewSecret())
	if other.Verify(got[0].Body, got[0].Header) == nil {
		t.Error("another secret verified the message")
	}
}

// TestReceiverDownThenUp: while the receiver is down every attempt fails and is recorded;
// once it is up each event is delivered, recorded once as succeeded after its failed attempts.
func TestReceiverDownThenUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // down: connection refused
	e := b.endpoint(t, "http://"+addr+"/hook", webhooks.PaymentSucceeded)
	b.worker(t, "a", nil)
	b.worker(t, "b", nil)
	const n = 5
	for i := range n {
		if _, err := b.svc.Publish(t.Context(), webhooks.Event{ID: fmt.Sprintf("evt-%d", i), Type: webhooks.PaymentSucceeded,
			Data: webhooks.PaymentData{PaymentID: fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "two failed attempts of each", func() bool {
		ds := b.deliveries(t, e.ID)
		for _, d := range ds {
			if len(d.Tries) < 2 {
				return false
			}
		}
		return len(ds) == n
	})
	r := &receiver{}
	r.status.Store(204)
	var l2 net.Listener
	waitFor(t, "the port again", func() bool { l2, err = net.Listen("tcp", addr); return err == nil })
	r.Server = &httptest.Server{Listener: l2, Config: &http.Server{Handler: http.HandlerFunc(r.serve)}}
	r.Start()
	t.Cleanup(r.Close)
	waitFor(t, "every delivery succeeded", func() bool { return allSucceeded(b.deliveries(t, e.ID), n) })
	seen := map[string]int{}
	for _, q := range r.requests() {
		seen[q.Header.Get("webhook-id")]++
	}
	for _, d := range b.deliveries(t, e.ID) {
		var ok, failed int
		for _, a := range d.Tries {
			if a.Succeeded() {
				ok++
			} else if a.Error != "" {
				failed++
			}
		}
		if ok != 1 || failed < 2 || seen[d.EventID] != 1 || d.SucceededAt == nil || d.LastHTTP != 204 {
			t.Errorf("delivery %s: %d succeeded, %d failed attempts, received %d times: %+v", d.EventID, ok, failed, seen[d.EventID], d)
		}
	}
}

// TestTwoNodesOnce: many events published from two nodes at once, sent by two workers: each
// reaches the receiver exactly once.
func TestTwoNodesOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := newReceiver(t)
	e := b.endpoint(t, r.URL, webhooks.PaymentSucceeded)
	other := &webhooks.Service{Store: b.store, Guard: webhooks.Guard{AllowPrivate: true}, Backoff: fastBackoff}
	b.worker(t, "a", nil)
	b.worker(t, "b", other)
	const n = 40
	var wg sync.WaitGroup
	for _, svc := range []*webhooks.Service{b.svc, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				if _, err := svc.Publish(context.Background(), webhooks.Event{ID: fmt.Sprintf("evt-%d", i), Type: webhooks.PaymentSucceeded,
					Data: webhooks.PaymentData{PaymentID: fmt.Sprint(i)}}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	waitFor(t, "every delivery", func() bool { return allSucceeded(b.deliveries(t, e.ID), n) })
	seen := map[string]int{}
	for _, q := range r.requests() {
		seen[q.Header.Get("webhook-id")]++
	}
	for i := range n {
		if c := seen[fmt.Sprintf("evt-%d", i)]; c != 1 {
			t.Errorf("evt-%d received %d times", i, c)
		}
	}
}

// TestRedeliver: a delivery that failed for good is sent again on request, with the same
// webhook-id, and then succeeds.
func TestRedeliver(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.svc.Backoff.MaxAge = 100 * time.Millisecond // gives up after an attempt or two
	r := newReceiver(t)
	r.status.Store(500)
	e := b.endpoint(t, r.URL, webhooks.PaymentSucceeded)
	b.worker(t, "a", nil)
	if _, err := b.svc.Publish(t.Context(), webhooks.Event{ID: "evt-r", Type: webhooks.PaymentSucceeded, Data: webhooks.PaymentData{PaymentID: "r"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the delivery to fail", func() bool {
		ds := b.deliveries(t, e.ID)
		return len(ds) == 1 && ds[0].Status == webhooks.StatusFailed
	})
	d := b.deliveries(t, e.ID)[0]
	if d.LastHTTP != 500 || d.LastError == "" || d.Tries[len(d.Tries)-1].NextAttemptAt != nil {
		t.Errorf("failed delivery %+v", d)
	}
	r.status.Store(200)
	rd, err := b.svc.Redeliver(t.Context(), e.ID, "", d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rd.Status != webhooks.StatusPending || len(rd.Tries) != len(d.Tries) || rd.NextAttemptAt == nil || !rd.Deadline.After(d.Deadline) {
		t.Errorf("redelivery %+v", rd)
	}
	waitFor(t, "the redelivery", func() bool { return allSucceeded(b.deliveries(t, e.ID), 1) })
	got := r.requests()
	if last := got[len(got)-1]; last.Header.Get("webhook-id") != "evt-r" {
		t.Errorf("redelivered webhook-id %q", last.Header.Get("webhook-id"))
	}
	if _, err := b.svc.Redeliver(t.Context(), e.ID, "", "0193a4d0-0000-7000-8000-000000000000"); err == nil {
		t.Error("an unknown delivery was redelivered")
	}
}

// TestDeliveryRefusesPrivate: without allow-private the worker refuses to dial a private
// address (what a host that rebinds its DNS to one would reach) and does not follow redirects
// with it.
func TestDeliveryRefusesPrivate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := newReceiver(t)
	e := b.endpoint(t, r.URL, webhooks.PaymentSucceeded) // registered while private addresses were allowed
	strict := &webhooks.Service{Store: b.store, Backoff: webhooks.Backoff{Base: time.Hour, MaxAge: 2 * time.Hour}}
	b.worker(t, "strict", strict)
	if _, err := strict.Publish(t.Context(), webhooks.Event{ID: "evt-p", Type: webhooks.PaymentSucceeded, Data: webhooks.PaymentData{}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refused attempt", func() bool {
		ds := b.deliveries(t, e.ID)
		return len(ds) == 1 && len(ds[0].Tries) == 1
	})
	if a := b.deliveries(t, e.ID)[0].Tries[0]; a.HTTPStatus != 0 || a.Error == "" {
		t.Errorf("attempt %+v", a)
	}
	if n := len(r.requests()); n != 0 {
		t.Errorf("the private receiver got %d requests", n)
	}
}

// TestRedirectNotFollowed: a 3xx answer is a failed attempt; its target is never asked.
func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	target := newReceiver(t)
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	b.svc.Backoff = webhooks.Backoff{Base: time.Hour, MaxAge: 2 * time.Hour}
	e := b.endpoint(t, redirect.URL, webhooks.PaymentSucceeded)
	b.worker(t, "a", nil)
	if _, err := b.svc.Publish(t.Context(), webhooks.Event{ID: "evt-3xx", Type: webhooks.PaymentSucceeded, Data: webhooks.PaymentData{}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the attempt", func() bool {
		ds := b.deliveries(t, e.ID)
		return len(ds) == 1 && len(ds[0].Tries) == 1
	})
	if a := b.deliveries(t, e.ID)[0].Tries[0]; a.HTTPStatus != 307 || a.Succeeded() {
		t.Errorf("attempt %+v", a)
	}
	if n := len(target.requests()); n != 0 {
		t.Errorf("the redirect was followed (%d requests)", n)
	}
}

// TestPrune: events past the retention go with their deliveries; recent ones and those still
// being delivered stay.
func TestPrune(t *testing.T) {
	t.Parallel()
	b := setup(t)
	e := b.endpoint(t, "http://127.0.0.1:9/never", webhooks.PaymentSucceeded)
	for id, at := range map[string]time.Time{"old": time.Now().Add(-40 * 24 * time.Hour), "new": time.Now()} {
		if _, err := b.svc.Publish(t.Context(), webhooks.Event{ID: id, Type: webhooks.PaymentSucceeded, At: at, Data: webhooks.PaymentData{}}); err != nil {
			t.Fatal(err)
		}
	}
	b.exec(t, `UPDATE webhook_events SET occurred_at = now() - interval '40 days' WHERE id = 'new'`) // old, but still pending
	n, err := b.store.PruneWebhooks(t.Context(), time.Now().Add(-30*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want 1", n, err)
	}
	if ds := b.deliveries(t, e.ID); len(ds) != 1 || ds[0].EventID != "new" {
		t.Errorf("deliveries left: %+v", ds)
	}
}

// TestDeliveriesPaging: an endpoint's deliveries come newest first, page by page, each once.
func TestDeliveriesPaging(t *testing.T) {
	t.Parallel()
	b := setup(t)
	e := b.endpoint(t, "http://127.0.0.1:9/never", webhooks.PaymentSucceeded)
	const n = 7
	for i := range n {
		if _, err := b.svc.Publish(t.Context(), webhooks.Event{ID: fmt.Sprint("page-", i), Type: webhooks.PaymentSucceeded, Data: webhooks.PaymentData{}}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		ds, next, err := b.svc.Deliveries(t.Context(), e.ID, "", 3, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			got = append(got, d.EventID)
		}
		if next == "" {
			break
		}
		if page > n {
			t.Fatal("paging does not end")
		}
		cursor = next
	}
	if len(got) != n || got[0] != "page-6" || got[n-1] != "page-0" {
		t.Errorf("pages gave %v", got)
	}
	if _, _, err := b.svc.Deliveries(t.Context(), e.ID, b.owner+"x", 3, ""); err == nil {
		t.Error("another owner read the deliveries")
	}
}

// TestLeaseFences: a delivery claimed by a node that then goes silent (claimed here, never
// answered) is left alone until its lease runs out, then sent by another node as the next
// attempt; the silent node's late outcome is kept as an attempt and changes nothing.
func TestLeaseFences(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := newReceiver(t)
	e := b.endpoint(t, r.URL, webhooks.PaymentSucceeded)
	if _, err := b.svc.Publish(t.Context(), webhooks.Event{ID: "evt-lease", Type: webhooks.PaymentSucceeded, Data: webhooks.PaymentData{}}); err != nil {
		t.Fatal(err)
	}
	claimed, err := b.store.ClaimDeliveries(t.Context(), 10, 700*time.Millisecond) // the node that dies
	if err != nil || len(claimed) != 1 || claimed[0].Attempt != 1 {
		t.Fatalf("claim: %+v %v", claimed, err)
	}
	again, err := b.store.ClaimDeliveries(t.Context(), 10, time.Minute)
	if err != nil || len(again) != 0 {
		t.Fatalf("a leased delivery was claimed again: %+v %v", again, err)
	}
	started := time.Now()
	b.worker(t, "b", nil)
	waitFor(t, "the other node's delivery", func() bool { return allSucceeded(b.deliveries(t, e.ID), 1) })
	if waited := time.Since(started); waited < 500*time.Millisecond {
		t.Errorf("sent %v after the claim, before the lease ran out", waited)
	}
	// The silent node wakes up and reports a failure of attempt 1.
	next := time.Now().Add(time.Hour)
	if err := b.store.RecordAttempt(t.Context(), webhooks.Attempt{DeliveryID: claimed[0].DeliveryID, Attempt: 1, Error: "late",
		StartedAt: started, NextAttemptAt: &next}); err != nil {
		t.Fatal(err)
	}
	d := b.deliveries(t, e.ID)[0]
	if d.Status != webhooks.StatusSucceeded || d.Attempts != 2 || len(d.Tries) != 2 || len(r.requests()) != 1 {
		t.Errorf("after the late outcome: %+v, %d requests", d, len(r.requests()))
	}
}
