package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/gateway"
	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/ratelimit"
)

// limitedGateways serves n gateways on loopback ports over one fresh database, each with its own
// limiter sharing the counts through that database (as the nodes of a cluster do), with these
// rates and trusted proxies. Users are made through the account core so that the auth class
// counts only what a test sends.
type limitedGateways struct {
	t     *testing.T
	nodes []*testNode
	store *persistence.Store
	reg   []*prometheus.Registry
}

func startLimited(t *testing.T, n int, rates map[string]ratelimit.Rate, trusted []string) *limitedGateways {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := node.Defaults()
	cfg.JWTKey = testJWTKey
	cfg.DatabaseURL = pgtest.NewDB(t)
	store, err := persistence.Open(ctx, cfg.DatabaseURL, 8)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(store.Close)
	lg := &limitedGateways{t: t, store: store}
	for range n {
		accounts, issuer, err := node.Accounts(cfg, store)
		if err != nil {
			t.Fatalf("accounts: %v", err)
		}
		reg := prometheus.NewRegistry()
		limiter := ratelimit.New(ratelimit.Config{Rates: rates, Store: store.RateLimits(), Registerer: reg,
			OnRefused: func(class, key string, _ time.Time) {
				_ = store.Audit(context.Background(), persistence.AuditEntry{Action: "rate_limit.exceeded", TargetType: "rate_limit", TargetID: class + ":" + key})
			}})
		srv := gateway.New(gateway.Config{Accounts: accounts, Issuer: issuer, Store: store, Registry: reg,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Limiter: limiter, TrustedProxies: trusted})
		base, client := serveGateway(t, srv)
		lg.reg = append(lg.reg, reg)
		lg.nodes = append(lg.nodes, &testNode{t: t, cfg: cfg, base: base, client: client, store: store, accounts: accounts})
	}
	return lg
}

// user makes a signed-in user through the account core (no request of the auth class).
func (lg *limitedGateways) user() *user {
	lg.t.Helper()
	u := &user{Email: fmt.Sprintf("limited-%d@example.com", userSeq.Add(1)), Password: "quartz-lantern-limited-1"}
	acc := lg.nodes[0].accounts
	created, err := acc.Register(lg.t.Context(), account.RegisterInput{Email: u.Email, Password: u.Password})
	if err != nil {
		lg.t.Fatal(err)
	}
	tok, _, err := acc.Login(lg.t.Context(), account.LoginInput{Email: u.Email, Password: u.Password})
	if err != nil {
		lg.t.Fatal(err)
	}
	u.ID, u.WalletID, u.Access = created.ID, created.WalletID, tok.AccessToken
	return u
}

// want429 checks a refusal by the rate limits: 429, Retry-After within the window, problem body.
func want429(t *testing.T, what string, r response, window time.Duration) {
	t.Helper()
	wantProblem(t, what, r, http.StatusTooManyRequests, "rate_limited")
	s, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || s < 1 || time.Duration(s)*time.Second > window {
		t.Errorf("%s: Retry-After %q, want 1 to %v seconds", what, r.Header.Get("Retry-After"), window.Seconds())
	}
}

func statuses(rs []response) map[int]int {
	m := map[int]int{}
	for _, r := range rs {
		m[r.Status]++
	}
	return m
}

// TestRateLimits: HTTP against gateways whose limits are on, the counts shared through
// PostgreSQL.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	perDay := func(n int) ratelimit.Rate { return ratelimit.Rate{Limit: n, Per: 24 * time.Hour} } // no window ends during the test (but at midnight UTC)

	t.Run("PerAddressSpoofIgnored", func(t *testing.T) {
		// Logins are counted by address; X-Forwarded-For from a peer that is not a trusted proxy
		// changes nothing, whatever it says.
		t.Parallel()
		lg := startLimited(t, 1, map[string]ratelimit.Rate{ratelimit.ClassAuth: perDay(3)}, []string{"10.0.0.0/8"})
		tn := lg.nodes[0]
		var rs []response
		for i := range 6 {
			rs = append(rs, tn.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "x@example.com", "password": "wrong-password"},
				hdr{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i+1)}))
		}
		if got := statuses(rs); got[401] != 3 || got[429] != 3 {
			t.Fatalf("6 logins with 6 forged X-Forwarded-For: %v, want 3 × 401 then 3 × 429", got)
		}
		want429(t, "4th login", rs[3], 24*time.Hour)
		if r := rs[3]; !strings.Contains(string(r.Body), `"class":"auth"`) {
			t.Errorf("problem body names no class: %s", r)
		}
		// One audit row for the key and window, however many refusals.
		var rows int
		if err := lg.store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM audit_logs WHERE action = 'rate_limit.exceeded'`).Scan(&rows); err != nil || rows != 1 {
			t.Fatalf("audit rows %d (%v), want 1", rows, err)
		}
		if got := metricValue(t, lg.reg[0], "dw_rate_limited_total", "auth"); got != 3 {
			t.Fatalf("dw_rate_limited_total{class=auth} = %v, want 3", got)
		}
	})

	t.Run("TrustedProxy", func(t *testing.T) {
		// Behind a trusted proxy the client is the rightmost X-Forwarded-For entry the proxy did
		// not add itself; entries left of it are the client's own and may be forged.
		t.Parallel()
		lg := startLimited(t, 1, map[string]ratelimit.Rate{ratelimit.ClassAuth: perDay(2)}, []string{"127.0.0.1", "192.0.2.0/24"})
		tn := lg.nodes[0]
		login := func(xff string) int {
			return tn.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "x@example.com", "password": "wrong-password"},
				hdr{"X-Forwarded-For": xff}).Status
		}
		for i, c := range []struct {
			xff  string
			want int
		}{
			{"198.51.100.1", 401}, {"198.51.100.1", 401}, {"198.51.100.1", 429},
			{"198.51.100.2", 401},                  // another client: its own count
			{"198.51.100.7, 198.51.100.1", 429},    // a forged entry on the left: still 198.51.100.1
			{"198.51.100.1, 192.0.2.9", 429},       // through a second trusted proxy: 198.51.100.1
			{"198.51.100.2, 198.51.100.3", 401},    // the rightmost untrusted entry is the client
			{"not-an-address", 401},                // garbage: the peer (127.0.0.1) is the client
			{"not-an-address", 401},                //
			{"not-an-address", 429},                //
			{"[2001:db8::1]:4711, 192.0.2.9", 401}, // an address with a port, IPv6
			{"2001:db8::1", 401},                   // the same client
			{"2001:db8::1", 429},                   //
		} {
			if got := login(c.xff); got != c.want {
				t.Fatalf("request %d (X-Forwarded-For: %s): %d, want %d", i+1, c.xff, got, c.want)
			}
		}
		// c.IP() is the same client everywhere: the audit rows of the failed logins name it.
		rows, err := lg.store.Pool().Query(t.Context(), `SELECT DISTINCT ip FROM audit_logs WHERE ip <> '' ORDER BY ip`)
		if err != nil {
			t.Fatal(err)
		}
		ips, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if want := []string{"127.0.0.1", "198.51.100.1", "198.51.100.2", "198.51.100.3", "2001:db8::1"}; err != nil || !slices.Equal(ips, want) {
			t.Fatalf("audited addresses %v (%v), want %v", ips, err, want)
		}
	})

	t.Run("PerUser", func(t *testing.T) {
		// Signed-in reads are counted by user: one user's limit leaves another at the same
		// address alone; anonymous reads are counted by address.
		t.Parallel()
		lg := startLimited(t, 1, map[string]ratelimit.Rate{ratelimit.ClassReads: perDay(5)}, nil)
		tn := lg.nodes[0]
		a, b := lg.user(), lg.user()
		for i := range 5 {
			if r := tn.do("GET", "/api/v1/me", a.Access, nil); r.Status != 200 {
				t.Fatalf("read %d of user a: %s", i+1, r)
			}
		}
		want429(t, "6th read of user a", tn.do("GET", "/api/v1/me", a.Access, nil), 24*time.Hour)
		if r := tn.do("GET", "/api/v1/me", b.Access, nil); r.Status != 200 {
			t.Fatalf("user b after user a's limit: %s", r)
		}
		for i := range 5 {
			if r := tn.do("GET", "/api/v1/poem-sets", "", nil); r.Status != 200 {
				t.Fatalf("anonymous read %d: %s", i+1, r)
			}
		}
		want429(t, "6th anonymous read", tn.do("GET", "/api/v1/poem-sets", "", nil), 24*time.Hour)
		if r := tn.do("GET", "/api/v1/me", b.Access, nil); r.Status != 200 {
			t.Fatalf("user b after the address's anonymous limit: %s", r)
		}
	})

	t.Run("SharedAcrossGateways", func(t *testing.T) {
		// Three gateways (as three nodes) share one count: 30 reads spread round-robin over them
		// meet one limit of 10 — exactly, since leases never take the count past the limit.
		t.Parallel()
		lg := startLimited(t, 3, map[string]ratelimit.Rate{ratelimit.ClassReads: perDay(10)}, nil)
		u := lg.user()
		var rs []response
		for i := range 30 {
			rs = append(rs, lg.nodes[i%3].do("GET", "/api/v1/me", u.Access, nil))
		}
		if got := statuses(rs); got[200] != 10 || got[429] != 20 {
			t.Fatalf("30 reads over 3 gateways, limit 10: %v", got)
		}
		for _, r := range rs {
			if r.Status == 429 {
				want429(t, "read over the limit", r, 24*time.Hour)
			}
		}
	})

	t.Run("WebSocketsPerUser", func(t *testing.T) {
		t.Parallel()
		lg := startLimited(t, 1, map[string]ratelimit.Rate{ratelimit.ClassWS: perDay(2)}, nil)
		tn := lg.nodes[0]
		a, b := lg.user(), lg.user()
		upgrade := func(u *user) response {
			return tn.do("GET", "/api/v1/ws", u.Access, nil, hdr{"Connection": "Upgrade", "Upgrade": "websocket",
				"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
		}
		for i := range 2 {
			if r := upgrade(a); r.Status != http.StatusSwitchingProtocols {
				t.Fatalf("WebSocket %d of user a: %s", i+1, r)
			}
		}
		want429(t, "3rd WebSocket of user a", upgrade(a), 24*time.Hour)
		if r := upgrade(b); r.Status != http.StatusSwitchingProtocols {
			t.Fatalf("user b's WebSocket after a's limit: %s", r)
		}
	})
}

// metricValue reads a counter of reg with label class.
func metricValue(t *testing.T, reg *prometheus.Registry, name, class string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "class" && l.GetValue() == class {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}
