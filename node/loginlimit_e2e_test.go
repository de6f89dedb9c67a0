package node_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/divinewhispers/dw/captcha"
	"github.com/divinewhispers/dw/internal/pgtest"
)

// clientFrom returns an HTTP client whose connections come from the loopback address ip, as
// another machine's would.
func clientFrom(t *testing.T, ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

type loginAnswer struct {
	Status     int
	RetryAfter string
	Code       string         `json:"code"`
	Captcha    map[string]any `json:"captcha"`
}

func postLogin(t *testing.T, c *http.Client, base string, body map[string]string) loginAnswer {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := c.Post(base+"/api/v1/auth/login", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("login at %s: %v", base, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := loginAnswer{Status: res.StatusCode, RetryAfter: res.Header.Get("Retry-After")}
	_ = json.Unmarshal(raw, &a)
	return a
}

// TestLoginLimitsAcrossCluster: failed logins from one address, spread over the three nodes of
// a cluster, meet one count: captchas after the free rate and 429 at the limit on every node. A
// captcha asked by one node is solved on a second and refused when replayed on the third. The
// owner, from another address, logs in throughout. The limits are set by flags.
func TestLoginLimitsAcrossCluster(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDB(t)
	nodes := startCluster(t, "limits", url, "--captcha-pow-max", "1000", "--login-address-captcha-after", "6", "--login-address-limit", "12")
	base := func(i int) string { return "http://" + nodes[i%3].http }
	attacker, owner := clientFrom(t, "127.0.3.1"), clientFrom(t, "127.0.3.2")

	email, password := "victim@e2e.test", "victim-pass-123"
	mustCall(t, 201, "POST", base(0)+"/api/v1/auth/register", "", "", map[string]string{"email": email, "password": password})
	victim2 := "victim2@e2e.test"
	mustCall(t, 201, "POST", base(1)+"/api/v1/auth/register", "", "", map[string]string{"email": victim2, "password": password})

	// 6 failures over the three nodes (two accounts, so that the per-account rate of 3 is not
	// what asks), then every node asks for a captcha.
	for i := range 6 {
		target := []string{email, victim2}[i%2]
		if a := postLogin(t, attacker, base(i), map[string]string{"email": target, "password": fmt.Sprint("guess-", i)}); a.Status != 401 {
			t.Fatalf("guess %d on node %d: %+v", i, i%3, a)
		}
	}
	var ask loginAnswer
	for i := range 3 {
		ask = postLogin(t, attacker, base(i), map[string]string{"email": victim2, "password": "guess-x"})
		if ask.Status != 403 || ask.Code != "captcha_required" || ask.Captcha["provider"] != "altcha" {
			t.Fatalf("node %d after 6 failures: %+v", i, ask)
		}
	}
	if a := postLogin(t, owner, base(2), map[string]string{"email": email, "password": password}); a.Status != 200 {
		t.Fatalf("owner from another address: %+v", a)
	}

	// Asked by node 2, solved on node 0, replayed on node 1.
	sol, ok := captcha.Solve(ask.Captcha)
	if !ok {
		t.Fatalf("no solution to %v", ask.Captcha)
	}
	if a := postLogin(t, attacker, base(0), map[string]string{"email": victim2, "password": "guess-y", "captcha": sol.Encode()}); a.Status != 401 {
		t.Fatalf("solved captcha on another node: %+v", a)
	}
	if a := postLogin(t, attacker, base(1), map[string]string{"email": victim2, "password": "guess-z", "captcha": sol.Encode()}); a.Status != 403 || a.Code != "captcha_invalid" {
		t.Fatalf("replay on a third node: %+v", a)
	}

	// Solving on: failures 8..12 are checked, then 429 on every node.
	for i := range 5 {
		ask = postLogin(t, attacker, base(i), map[string]string{"email": victim2, "password": "guess"})
		sol, _ := captcha.Solve(ask.Captcha)
		if a := postLogin(t, attacker, base(i+1), map[string]string{"email": email, "password": "guess", "captcha": sol.Encode()}); a.Status != 401 {
			t.Fatalf("solved guess %d: %+v (ask %+v)", i, a, ask)
		}
	}
	for i := range 3 {
		if a := postLogin(t, attacker, base(i), map[string]string{"email": email, "password": password}); a.Status != 429 || a.Code != "rate_limited" || a.RetryAfter == "" {
			t.Fatalf("node %d past the limit: %+v", i, a)
		}
	}
	if a := postLogin(t, owner, base(1), map[string]string{"email": email, "password": password}); a.Status != 200 {
		t.Fatalf("owner from another address after the attack: %+v", a)
	}
}
