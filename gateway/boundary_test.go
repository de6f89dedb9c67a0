package gateway_test

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// testRefusedJobHoldsNothing: finding 5 of issue 9. A job refused for its input (NUL, invalid
// UTF-8, a poem number beyond int4, a bad or reserved Idempotency-Key) is refused before its
// points are held: the wallet's available amount stays its balance, and no job exists.
func testRefusedJobHoldsNothing(t *testing.T, tn *testNode) {
	svc, u := tn.newUser("service"), tn.newUser("user")
	tn.mustMove(svc.Access, "/api/v1/wallets/"+u.WalletID+"/deposits", map[string]any{"amount": 1000})
	var sets struct {
		Items []struct{ Slug string } `json:"items"`
	}
	decodeInto(t, tn.do("GET", "/api/v1/poem-sets", "", nil), 200, &sets)
	slug := sets.Items[0].Slug
	valid := `{"type":"interpretation","set":"` + slug + `","number":1,"question":"q"}`
	for _, c := range []struct {
		name, body, key, code string
	}{
		{"NUL in question", `{"type":"interpretation","set":"` + slug + `","number":1,"question":"a\u0000b"}`, "", "invalid_body"},
		{"NUL in context", `{"type":"interpretation","set":"` + slug + `","number":1,"question":"q","context":"\u0000"}`, "", "invalid_body"},
		{"invalid UTF-8 in question", `{"type":"interpretation","set":"` + slug + `","number":1,"question":"a` + "\xff" + `b"}`, "", "invalid_body"},
		{"number beyond int4", `{"type":"interpretation","set":"` + slug + `","number":99999999999,"question":"q"}`, "", "invalid"},
		{"number beyond int64", `{"type":"interpretation","set":"` + slug + `","number":99999999999999999999,"question":"q"}`, "", "invalid_body"},
		{"fractional number", `{"type":"interpretation","set":"` + slug + `","number":1.5,"question":"q"}`, "", "invalid_body"},
		{"draw id not a uuid", `{"type":"interpretation","draw_id":"x'--","question":"q"}`, "", "invalid"},
		{"invalid UTF-8 key", valid, "k\xffk", "invalid_idempotency_key"},
		{"reserved key", valid, "job-hold:" + uuid.NewString(), "reserved_idempotency_key"},
		{"key too long", valid, strings.Repeat("k", 201), "invalid_idempotency_key"},
	} {
		h := hdr{"Authorization": "Bearer " + u.Access}
		if c.key != "" {
			h["Idempotency-Key"] = c.key
		}
		r := tn.rawDo("POST", "/api/v1/jobs", h, []byte(c.body))
		wantProblem(t, c.name, r, 400, c.code)
	}
	w := tn.wallet(u.Access, u.WalletID)
	if w.Balance != 1000 || w.Held != 0 || w.Available != w.Balance {
		t.Errorf("refused jobs left a hold: %+v", w)
	}
	var jobs struct {
		Items []struct{ ID string } `json:"items"`
	}
	decodeInto(t, tn.do("GET", "/api/v1/jobs", u.Access, nil), 200, &jobs)
	if len(jobs.Items) != 0 {
		t.Errorf("refused jobs exist: %+v", jobs.Items)
	}
	// The history's search and topic filter refuse what they cannot mean.
	for name, q := range map[string]string{
		"unknown topic":   "topic=lottery",
		"search too long": "q=" + strings.Repeat("字", 101),
	} {
		wantProblem(t, name, tn.do("GET", "/api/v1/jobs?"+q, u.Access, nil), 400, "invalid_query")
	}
	decodeInto(t, tn.do("GET", "/api/v1/jobs?topic=career&q=%E6%8F%9B%E5%B7%A5%E4%BD%9C", u.Access, nil), 200, &jobs)
}

// activeWalletGrains reads dw_active_grains{kind="wallet"} from the node's /metrics.
func (tn *testNode) activeWalletGrains() int {
	tn.t.Helper()
	r := tn.do("GET", "/metrics", "", nil)
	sc := bufio.NewScanner(bytes.NewReader(r.Body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "dw_active_grains{") && strings.Contains(line, `kind="wallet"`) {
			n, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				tn.t.Fatalf("dw_active_grains: %v", err)
			}
			return int(n)
		}
	}
	return 0 // no wallet grain was ever activated
}

// testUnknownWalletsLeaveNoGrain: finding 6 of issue 9. 2,000 GETs of wallet ids that do not
// exist answer 404 and leave no wallet grain activated (each was kept until its idle timeout).
func testUnknownWalletsLeaveNoGrain(t *testing.T, tn *testNode) {
	admin := tn.newAdmin() // admins may read any wallet: their GETs reach the grain
	before := tn.activeWalletGrains()
	const n, workers = 2000, 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for range workers {
		wg.Go(func() {
			for range n / workers {
				r, err := tn.tryDo("GET", "/api/v1/wallets/"+uuid.NewString(), admin.Access, nil)
				if err != nil || r.Status != 404 || r.code() != "not_found" {
					mu.Lock()
					bad = append(bad, r.String()+" "+errString(err))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d GETs of unknown wallets did not answer 404 not_found, e.g. %s", len(bad), bad[0])
	}
	// Other scenarios activate wallets meanwhile: allow them, not 2,000.
	const slack = 200
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := tn.activeWalletGrains()
		if got <= before+slack {
			t.Logf("wallet grains: %d before, %d after %d GETs of unknown ids", before, got, n)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("wallet grains: %d before, %d after %d GETs of unknown ids", before, got, n)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// testSecurityHeaders: finding 6 of issue 9. Every answer (success, problem, unknown route,
// non-API) carries the security headers; every /api/v1 answer, and above all those carrying
// tokens, says Cache-Control: no-store.
func testSecurityHeaders(t *testing.T, tn *testNode) {
	u := tn.newUser("user")
	want := map[string]string{
		"X-Content-Type-Options":       "nosniff",
		"X-Frame-Options":              "DENY",
		"Referrer-Policy":              "no-referrer",
		"Cross-Origin-Opener-Policy":   "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
	}
	for _, c := range []struct {
		name, method, path, token string
		body                      any
		status                    int
		api                       bool
	}{
		{"login (tokens)", "POST", "/api/v1/auth/login", "", map[string]string{"email": u.Email, "password": u.Password}, 200, true},
		{"refresh (tokens)", "POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": u.Refresh}, 200, true},
		{"register", "POST", "/api/v1/auth/register", "", map[string]string{"email": "headers-" + u.Email, "password": "long-password-123"}, 201, true},
		{"wallet", "GET", "/api/v1/wallets/" + u.WalletID, u.Access, nil, 200, true},
		{"me", "GET", "/api/v1/me", u.Access, nil, 200, true},
		{"problem", "GET", "/api/v1/wallets/" + u.WalletID, "", nil, 401, true},
		{"bad input", "GET", "/api/v1/draws?set=%00", u.Access, nil, 400, true},
		{"unknown API route", "GET", "/api/v1/nothing-here", "", nil, 404, true},
		{"health", "GET", "/healthz", "", nil, 200, false},
		{"the web app (any other GET)", "GET", "/nothing-here", "", nil, 200, false},
		{"unknown file", "GET", "/nothing-here.txt", "", nil, 404, false},
	} {
		r := tn.do(c.method, c.path, c.token, c.body)
		if r.Status != c.status {
			t.Errorf("%s: %s, want %d", c.name, r, c.status)
			continue
		}
		for k, v := range want {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s: %s %q, want %q", c.name, k, got, v)
			}
		}
		csp := r.Header.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("%s: Content-Security-Policy %q lacks %s", c.name, csp, d)
			}
		}
		if cc := r.Header.Get("Cache-Control"); c.api && cc != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", c.name, cc)
		}
	}
	// A bad X-Request-Id is refused, and not echoed: the answer has a fresh one.
	r := tn.rawDo("GET", "/api/v1/me", hdr{"Authorization": "Bearer " + u.Access, "X-Request-Id": "id-\xff"}, nil)
	wantProblem(t, "bad X-Request-Id", r, 400, "invalid_header")
	if id := r.Header.Get("X-Request-Id"); uuid.Validate(id) != nil {
		t.Errorf("bad X-Request-Id: answered with X-Request-Id %q, want a fresh uuid", id)
	}
}
