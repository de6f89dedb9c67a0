package node_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/divinewhispers/dw/internal/pgtest"
)

// TestClusterRateLimit: three `dw serve` processes with a draws limit of 10 per window share
// one count through PostgreSQL: 30 draws of one user spread round-robin over the nodes get 10
// answers and 20 refusals (429 rate_limited with Retry-After) — exactly, because nodes lease
// tokens from the shared count and a lease never takes it past the limit. Another user is not
// affected, and every node counts its refusals in dw_rate_limited_total{class="draws"}.
func TestClusterRateLimit(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDB(t)
	// A day's window: none ends during the test (but at midnight UTC).
	nodes := startCluster(t, "rl", url, "--rate-limit", "on", "--rate-limit-draws", "10/24h")
	base := func(i int) string { return "http://" + nodes[i%3].http }
	sets := mustCall(t, 200, "GET", base(0)+"/api/v1/poem-sets", "", "", nil)
	items, _ := sets["items"].([]any)
	if len(items) == 0 {
		t.Fatalf("no poem sets: %v", sets)
	}
	slug, _ := items[0].(map[string]any)["slug"].(string)
	user := func(email string) string {
		mustCall(t, 201, "POST", base(0)+"/api/v1/auth/register", "", "", map[string]string{"email": email, "password": "rate-limit-pass-1"})
		tok := mustCall(t, 200, "POST", base(1)+"/api/v1/auth/login", "", "", map[string]string{"email": email, "password": "rate-limit-pass-1"})
		return tok["access_token"].(string)
	}
	a, b := user("rl-a@e2e.test"), user("rl-b@e2e.test")

	draw := func(i int, token string) (int, string, string) {
		body, _ := json.Marshal(map[string]string{"set": slug})
		req, _ := http.NewRequest("POST", base(i)+"/api/v1/draws", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("draw %d: %v", i, err)
		}
		defer resp.Body.Close()
		var p struct {
			Code string `json:"code"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return resp.StatusCode, p.Code, resp.Header.Get("Retry-After")
	}
	got := map[int]int{}
	perNode := map[int]int{}
	for i := range 30 {
		status, code, retry := draw(i, a)
		got[status]++
		if status == 201 {
			perNode[i%3]++
		}
		if status == 429 {
			if s, err := strconv.Atoi(retry); code != "rate_limited" || err != nil || s < 1 || s > 24*3600 {
				t.Fatalf("draw %d refused with code %q, Retry-After %q", i, code, retry)
			}
		}
	}
	t.Logf("30 draws over 3 nodes, limit 10: %v (accepted per node %v)", got, perNode)
	if got[201] != 10 || got[429] != 20 {
		t.Fatalf("30 draws over 3 nodes, limit 10: %v, want 10 × 201 and 20 × 429", got)
	}
	if status, _, _ := draw(0, b); status != 201 {
		t.Fatalf("another user's draw: %d", status)
	}
	for i := range 3 {
		if n := metric(base(i), `dw_rate_limited_total{class="draws"`); n < 1 {
			t.Errorf("node %d: dw_rate_limited_total{class=\"draws\"} = %d", i+1, n)
		}
	}
}
