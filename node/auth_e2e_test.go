package node_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/divinewhispers/dw/persistence"
)

// peakRSS reads a process's peak resident set (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

type loginResult struct {
	status     int
	code       string
	retryAfter string
	err        error
}

// TestLoginFlood fires 200 concurrent logins for unknown emails at a `dw serve` with the default
// argon2id cost (64 MiB a hash): unbounded, 64 of them took a node from 0.5 to 6.2 GB. Now the
// node stays under 1.5 GB peak, /healthz answers within a second all along, the logins it has
// room for are answered 401, and the rest 503 busy with Retry-After.
func TestLoginFlood(t *testing.T) {
	t.Parallel()
	p, base, _ := startSingle(t)
	const n = 200
	// Each login comes from an address of its own (as from a botnet): the per-address login
	// limits, which would refuse most of them before any hashing, do not apply, so the flood
	// meets the hashing bound itself.
	login := func(i int) loginResult {
		body, _ := json.Marshal(map[string]string{"email": fmt.Sprintf("nobody-%d@flood.test", i), "password": "not-the-password-1"})
		resp, err := clientFrom(t, fmt.Sprintf("127.0.%d.%d", 20+i/250, 1+i%250)).Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
		if err != nil {
			return loginResult{err: err}
		}
		defer resp.Body.Close()
		var prob struct {
			Code string `json:"code"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&prob)
		return loginResult{status: resp.StatusCode, code: prob.Code, retryAfter: resp.Header.Get("Retry-After")}
	}

	var (
		results = make([]loginResult, n)
		start   = make(chan struct{})
		wg      sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() { <-start; results[i] = login(i) })
	}
	// /healthz, polled while the flood runs, on a connection of its own.
	health := &http.Client{Timeout: 5 * time.Second}
	floodDone := make(chan struct{})
	var (
		checks  int
		slowest time.Duration
		healthE error
	)
	healthDone := make(chan struct{})
	go func() {
		defer close(healthDone)
		for {
			t0 := time.Now()
			resp, err := health.Get(base + "/healthz")
			d := time.Since(t0)
			if err != nil || resp.StatusCode != 200 {
				if err == nil {
					resp.Body.Close()
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
				healthE = err
				return
			}
			resp.Body.Close()
			checks, slowest = checks+1, max(slowest, d)
			select {
			case <-floodDone:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t0 := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(t0)
	close(floodDone)
	<-healthDone

	counts := map[string]int{}
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("login %d: %v", i, r.err)
			counts["no answer"]++
			continue
		case r.status == 401 && r.code == "invalid_credentials":
		case r.status == 503 && r.code == "busy":
			if r.retryAfter != "1" {
				t.Errorf("login %d: 503 busy with Retry-After %q, want 1", i, r.retryAfter)
			}
		default:
			t.Errorf("login %d: %d %s, want 401 invalid_credentials or 503 busy", i, r.status, r.code)
		}
		counts[fmt.Sprint(r.status, " ", r.code)]++
	}
	peak := peakRSS(t, p.cmd.Process.Pid)
	t.Logf("%d logins in %v: %v; /healthz answered %d times, slowest %v; peak RSS %d MiB; refused metric %d",
		n, took.Round(time.Millisecond), counts, checks, slowest.Round(time.Millisecond), peak>>20,
		metric(base, "dw_password_hashes_refused_total"))
	if healthE != nil {
		t.Fatalf("/healthz during the flood: %v", healthE)
	}
	if checks == 0 || slowest > time.Second {
		t.Errorf("/healthz answered %d times during the flood, the slowest in %v (want within 1s)", checks, slowest)
	}
	if counts["401 invalid_credentials"] == 0 || counts["503 busy"] == 0 {
		t.Errorf("want some logins checked (401) and the rest refused (503 busy): %v", counts)
	}
	if peak >= 1500<<20 {
		t.Errorf("peak RSS %d MiB, want under 1500 MiB", peak>>20)
	}
	if got := metric(base, "dw_password_hashes_refused_total"); got != counts["503 busy"] {
		t.Errorf("dw_password_hashes_refused_total %d, %d answered busy", got, counts["503 busy"])
	}
	// The node is itself again: a login is checked, not refused.
	waitFor(t, 10*time.Second, "a login checked after the flood", func() bool { return login(n).status == 401 })
}

// TestLastAdminAndTakenEmails checks, against a real `dw serve`: the last active admin can be
// neither demoted nor suspended, even when the two last admins demote or suspend themselves at
// the same time; registering a taken email answers 409 email_taken, at most 5 times an hour from
// one address, after which every registration from it is refused (429) whatever the email.
func TestLastAdminAndTakenEmails(t *testing.T) {
	t.Parallel()
	_, base, url := startSingle(t)
	store, err := persistence.Open(t.Context(), url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	activeAdmins := func() int {
		var n int
		if err := store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM users WHERE role = 'admin' AND status = 'active'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	adminA := createAdmin(t, base, "--database-url", url)
	idA := mustCall(t, 200, "GET", base+"/api/v1/me", adminA, "", nil)["id"].(string)
	patch := func(token, id string, body map[string]string) apiResult {
		r, err := call(t, "PATCH", base+"/api/v1/admin/users/"+id, token, "", body)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, body := range []map[string]string{{"role": "operator"}, {"status": "suspended"}, {"role": "user", "status": "suspended"}} {
		if r := patch(adminA, idA, body); r.status != 409 || r.body["code"] != "last_admin" {
			t.Fatalf("the last admin applies %v to itself: %d %v, want 409 last_admin", body, r.status, r.body)
		}
	}

	_, _ = register(t, base, "second-admin@e2e.test")
	idB := mustCall(t, 200, "GET", base+"/api/v1/admin/users?q=second-admin", adminA, "", nil)["items"].([]any)[0].(map[string]any)["id"].(string)
	loginAs := func(email, password string) string {
		return mustCall(t, 200, "POST", base+"/api/v1/auth/login", "", "", map[string]string{"email": email, "password": password})["access_token"].(string)
	}
	admins := map[string]struct{ email, password string }{
		idA: {"admin@e2e.test", "admin-pass-123"}, idB: {"second-admin@e2e.test", "user-pass-123"},
	}
	changes := []map[string]string{{"role": "user"}, {"status": "suspended"}}
	for round := range 6 {
		// Make both admins again (the survivor of the last round restores the other).
		for id := range admins {
			mustCall(t, 200, "PATCH", base+"/api/v1/admin/users/"+id, adminA, "", map[string]string{"role": "admin", "status": "active"})
		}
		tokens := map[string]string{}
		for id, a := range admins {
			tokens[id] = loginAs(a.email, a.password)
		}
		results := map[string]apiResult{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		i := 0
		for id := range admins {
			body := changes[(round+i)%2]
			i++
			wg.Go(func() {
				r := patch(tokens[id], id, body)
				mu.Lock()
				results[id] = r
				mu.Unlock()
			})
		}
		wg.Wait()
		var ok, refused int
		survivor := ""
		for id, r := range results {
			switch {
			case r.status == 200:
				ok++
			case r.status == 409 && r.body["code"] == "last_admin":
				refused++
				survivor = id
			default:
				t.Fatalf("round %d: %d %v", round, r.status, r.body)
			}
		}
		if ok != 1 || refused != 1 || activeAdmins() != 1 {
			t.Fatalf("round %d: %d changes made, %d refused, %d active admins left; want 1, 1, 1", round, ok, refused, activeAdmins())
		}
		adminA = tokens[survivor]
	}

	// Taken emails: answered as such, five times an hour from one address, then no registration
	// from it at all (a refusal for taken emails only would answer the question itself).
	mustCall(t, 201, "POST", base+"/api/v1/auth/register", "", "", map[string]string{"email": "taken@e2e.test", "password": "user-pass-123"})
	for i := range 5 {
		r, err := call(t, "POST", base+"/api/v1/auth/register", "", "", map[string]string{"email": "taken@e2e.test", "password": "user-pass-456"})
		if err != nil || r.status != 409 || r.body["code"] != "email_taken" {
			t.Fatalf("taken email, try %d: %v %d %v, want 409 email_taken", i+1, err, r.status, r.body)
		}
	}
	for _, email := range []string{"taken@e2e.test", "fresh@e2e.test"} {
		b, _ := json.Marshal(map[string]string{"email": email, "password": "user-pass-789"})
		resp, err := client.Post(base+"/api/v1/auth/register", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		var prob struct{ Code string }
		_ = json.NewDecoder(resp.Body).Decode(&prob)
		resp.Body.Close()
		if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != 429 || prob.Code != "rate_limited" || ra < 3000 || ra > 3600 {
			t.Fatalf("register %s after 5 taken emails: %d %s Retry-After %q, want 429 rate_limited within the hour",
				email, resp.StatusCode, prob.Code, resp.Header.Get("Retry-After"))
		}
	}
}
