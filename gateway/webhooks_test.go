package gateway_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/divinewhispers/dw/actors"
	"github.com/divinewhispers/dw/auth"
	"github.com/divinewhispers/dw/gateway"
	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/webhooks"
)

// webhookGateway serves a gateway with the webhooks core over a database of its own, and runs
// a delivery worker, without a cluster (this package's tests start one Proto.Actor node only).
func webhookGateway(t *testing.T, allowPrivate bool) (*testNode, *webhooks.Service) {
	t.Helper()
	cfg := node.Defaults()
	cfg.JWTKey = testJWTKey
	cfg.PasswordParams = &auth.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
	cfg.DatabaseURL = pgtest.NewDB(t)
	store, err := persistence.Open(t.Context(), cfg.DatabaseURL, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	accounts, issuer, err := node.Accounts(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	svc := &webhooks.Service{Store: store, Guard: webhooks.Guard{AllowPrivate: allowPrivate},
		Backoff: webhooks.Backoff{Base: 20 * time.Millisecond, Max: 100 * time.Millisecond, MaxAge: time.Minute}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := gateway.New(gateway.Config{Accounts: accounts, Issuer: issuer, Store: store, Charger: &actors.Charger{},
		Registry: prometheus.NewRegistry(), Log: log, Webhooks: svc})
	base, client := serveGateway(t, srv)
	w := &webhooks.Worker{Service: svc, Node: "gw", Log: log, Poll: 20 * time.Millisecond, Timeout: 2 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	tn := &testNode{t: t, cfg: cfg, base: base, client: client, store: store, accounts: accounts}
	tn.makeAdmin("hooks-admin@example.com")
	return tn, svc
}

type webhookView struct {
	ID        string    `json:"id"`
	OwnerID   string    `json:"owner_id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Secret    string    `json:"secret"`
	CreatedAt time.Time `json:"created_at"`
}

type deliveryView struct {
	ID           string `json:"id"`
	EventID      string `json:"event_id"`
	EventType    string `json:"event_type"`
	Status       string `json:"status"`
	AttemptCount int    `json:"attempt_count"`
	Attempts     []struct {
		Attempt    int    `json:"attempt"`
		HTTPStatus int    `json:"http_status"`
		Error      string `json:"error"`
		DurationMS int64  `json:"duration_ms"`
	} `json:"attempts"`
}

// TestWebhookEndpoints: the endpoints' contract — who may register, the secret shown once,
// listing, reading and deleting one's own (an admin everyone's), the deliveries with their
// attempts, and a redelivery.
func TestWebhookEndpoints(t *testing.T) {
	t.Parallel()
	tn, svc := webhookGateway(t, true)
	integrator, stranger, person := tn.newUser("service"), tn.newUser("service"), tn.newUser("user")
	var hits atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(receiver.Close)
	body := map[string]any{"url": receiver.URL + "/hook", "events": []string{"payment.succeeded", "job.completed"}}

	wantProblem(t, "a user", tn.do("POST", "/api/v1/webhooks", person.Access, body), 403, "forbidden")
	wantProblem(t, "no token", tn.do("GET", "/api/v1/webhooks", "", nil), 401, "missing_token")
	res := tn.do("POST", "/api/v1/webhooks", integrator.Access, body)
	var created webhookView
	decodeInto(t, res, 201, &created)
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(created.Secret, "whsec_"))
	if !strings.HasPrefix(created.Secret, "whsec_") || err != nil || len(key) != 32 {
		t.Errorf("secret %q: want whsec_ + base64 of 32 bytes", created.Secret)
	}
	if created.ID == "" || created.URL != receiver.URL+"/hook" || created.OwnerID != integrator.ID || created.CreatedAt.IsZero() ||
		strings.Join(created.Events, ",") != "job.completed,payment.succeeded" {
		t.Errorf("created %+v", created)
	}

	// The secret is never shown again.
	for _, path := range []string{"/api/v1/webhooks", "/api/v1/webhooks/" + created.ID} {
		r := tn.do("GET", path, integrator.Access, nil)
		if r.Status != 200 || strings.Contains(string(r.Body), "secret") || strings.Contains(string(r.Body), created.Secret[6:20]) {
			t.Errorf("GET %s: %s", path, r)
		}
	}
	var list struct{ Items []webhookView }
	decodeInto(t, tn.do("GET", "/api/v1/webhooks", integrator.Access, nil), 200, &list)
	if len(list.Items) != 1 || list.Items[0].ID != created.ID {
		t.Errorf("own list %+v", list)
	}
	decodeInto(t, tn.do("GET", "/api/v1/webhooks", stranger.Access, nil), 200, &list)
	if list.Items == nil || len(list.Items) != 0 {
		t.Errorf("a stranger's list %+v", list)
	}
	decodeInto(t, tn.do("GET", "/api/v1/webhooks", tn.admin.Access, nil), 200, &list)
	if len(list.Items) != 1 {
		t.Errorf("the admin's list %+v", list)
	}
	wantProblem(t, "a stranger's endpoint", tn.do("GET", "/api/v1/webhooks/"+created.ID, stranger.Access, nil), 404, "not_found")
	wantProblem(t, "a malformed id", tn.do("GET", "/api/v1/webhooks/nope", integrator.Access, nil), 404, "not_found")
	decodeInto(t, tn.do("GET", "/api/v1/webhooks/"+created.ID, tn.admin.Access, nil), 200, nil)

	for name, bad := range map[string]map[string]any{
		"an unknown event":  {"url": receiver.URL, "events": []string{"job.exploded"}},
		"no events":         {"url": receiver.URL, "events": []string{}},
		"no url":            {"events": []string{"job.completed"}},
		"an ftp url":        {"url": "ftp://example.com/", "events": []string{"job.completed"}},
		"an unknown field":  {"url": receiver.URL, "events": []string{"job.completed"}, "secret": "mine"},
		"events not a list": {"url": receiver.URL, "events": "job.completed"},
	} {
		r := tn.do("POST", "/api/v1/webhooks", integrator.Access, bad)
		if r.Status != 400 {
			t.Errorf("%s: %s, want 400", name, r)
		}
	}
	r := tn.do("POST", "/api/v1/webhooks", integrator.Access, map[string]any{"url": receiver.URL, "events": []string{"job.completed", "job.exploded"}})
	wantProblem(t, "an unknown event", r, 400, "invalid")
	if !strings.Contains(r.problem().Detail, "events[1]") {
		t.Errorf("the problem does not name the field: %s", r)
	}

	// A delivery, listed with its attempt, then sent again.
	if _, err := svc.Publish(t.Context(), webhooks.Event{ID: "evt-gw-1", Type: webhooks.PaymentSucceeded, Data: webhooks.PaymentData{PaymentID: "p"}}); err != nil {
		t.Fatal(err)
	}
	deliveries := func() []deliveryView {
		var page struct{ Items []deliveryView }
		decodeInto(t, tn.do("GET", "/api/v1/webhooks/"+created.ID+"/deliveries?page_size=10", integrator.Access, nil), 200, &page)
		return page.Items
	}
	waitHook(t, "the delivery", func() bool { ds := deliveries(); return len(ds) == 1 && ds[0].Status == "succeeded" })
	d := deliveries()[0]
	if d.EventID != "evt-gw-1" || d.EventType != "payment.succeeded" || d.AttemptCount != 1 || len(d.Attempts) != 1 || d.Attempts[0].HTTPStatus != 200 {
		t.Errorf("delivery %+v", d)
	}
	wantProblem(t, "a stranger's deliveries", tn.do("GET", "/api/v1/webhooks/"+created.ID+"/deliveries", stranger.Access, nil), 404, "not_found")
	wantProblem(t, "a bad cursor", tn.do("GET", "/api/v1/webhooks/"+created.ID+"/deliveries?cursor=zz", integrator.Access, nil), 400, "bad_cursor")
	wantProblem(t, "a stranger's redelivery", tn.do("POST", "/api/v1/webhooks/"+created.ID+"/deliveries/"+d.ID+"/redeliver", stranger.Access, nil), 404, "not_found")
	decodeInto(t, tn.do("POST", "/api/v1/webhooks/"+created.ID+"/deliveries/"+d.ID+"/redeliver", integrator.Access, nil), 202, nil)
	waitHook(t, "the redelivery", func() bool {
		ds := deliveries()
		return len(ds) == 1 && ds[0].Status == "succeeded" && len(ds[0].Attempts) == 2
	})
	if n := hits.Load(); n != 2 {
		t.Errorf("the receiver was hit %d times, want 2", n)
	}

	wantProblem(t, "a stranger deletes", tn.do("DELETE", "/api/v1/webhooks/"+created.ID, stranger.Access, nil), 404, "not_found")
	decodeInto(t, tn.do("DELETE", "/api/v1/webhooks/"+created.ID, integrator.Access, nil), 204, nil)
	wantProblem(t, "a deleted endpoint", tn.do("GET", "/api/v1/webhooks/"+created.ID, integrator.Access, nil), 404, "not_found")
	wantProblem(t, "deleted twice", tn.do("DELETE", "/api/v1/webhooks/"+created.ID, integrator.Access, nil), 404, "not_found")

	// Audited: who, which endpoint, its host and events; never the secret.
	rows, err := tn.store.Pool().Query(t.Context(), `SELECT action, actor_id::text, detail::text FROM audit_logs
		WHERE target_id = $1 ORDER BY id`, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	var audit []string
	for rows.Next() {
		var action, actor, detail string
		if err := rows.Scan(&action, &actor, &detail); err != nil {
			t.Fatal(err)
		}
		if actor != integrator.ID || strings.Contains(detail, "whsec_") || !strings.Contains(detail, "payment.succeeded") {
			t.Errorf("audit row %s by %s: %s", action, actor, detail)
		}
		audit = append(audit, action)
	}
	if strings.Join(audit, ",") != "webhook.created,webhook.deleted" {
		t.Errorf("audit %v", audit)
	}
}

// TestWebhookSSRF: without --webhook-allow-private, URLs whose host is or resolves to a
// loopback, private, link-local, CGNAT or reserved address are refused at registration.
func TestWebhookSSRF(t *testing.T) {
	t.Parallel()
	tn, _ := webhookGateway(t, false)
	integrator := tn.newUser("service")
	for _, u := range []string{
		"http://127.0.0.1/hook", "http://10.1.2.3/", "http://172.16.0.5/", "http://172.31.255.1/", "http://192.168.1.1/",
		"http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[fc00::1]/", "http://[fd00:ec2::254]/",
		"http://[fe80::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:a9fe:a9fe]/", "http://100.64.0.1/",
		"http://localhost/", "http://localhost:8080/hook", "http://0.0.0.0/", "https://[::]/",
	} {
		r := tn.do("POST", "/api/v1/webhooks", integrator.Access, map[string]any{"url": u, "events": []string{"job.completed"}})
		wantProblem(t, u, r, 400, "webhook_url_forbidden")
	}
	var list struct{ Items []json.RawMessage }
	decodeInto(t, tn.do("GET", "/api/v1/webhooks", integrator.Access, nil), 200, &list)
	if len(list.Items) != 0 {
		t.Errorf("%d endpoints registered", len(list.Items))
	}
}

// waitHook polls cond until it holds or 15 s pass.
func waitHook(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Who may call the webhook routes (TestGateway/RBACMatrix), in this file to keep rbac_test.go's
// table free of merge conflicts.
func init() {
	for route, roles := range map[string][]string{
		"POST /api/v1/webhooks":                                      movers,
		"GET /api/v1/webhooks":                                       movers,
		"GET /api/v1/webhooks/{id}":                                  movers,
		"DELETE /api/v1/webhooks/{id}":                               movers,
		"GET /api/v1/webhooks/{id}/deliveries":                       movers,
		"POST /api/v1/webhooks/{id}/deliveries/{delivery}/redeliver": movers,
	} {
		rbacTable[route] = roles
	}
}
