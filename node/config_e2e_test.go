package node_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/persistence"
)

// configOf reads GET /api/v1/admin/config on base as key → setting.
func configOf(t *testing.T, base, token string) map[string]map[string]any {
	t.Helper()
	body := mustCall(t, 200, "GET", base+"/api/v1/admin/config", token, "", nil)
	out := map[string]map[string]any{}
	list, _ := body["settings"].([]any)
	for _, s := range list {
		m := s.(map[string]any)
		out[m["key"].(string)] = m
	}
	return out
}

// TestRuntimeConfigEveryNode: on a cluster of three `dw serve` processes, a PATCH of
// /api/v1/admin/config through one node is in force on the others within seconds: the next
// job on each costs the new price, and a draw limit lowered through the API refuses the
// third draw. Invalid values are refused, naming each bad key, and change nothing; a change
// is audited with its old and new values; null puts the flag's value back; only admins may
// read or change the configuration.
func TestRuntimeConfigEveryNode(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDB(t)
	nodes := startCluster(t, "cfg", url, "--rate-limit", "on", "--rate-limit-draws", "1000/24h", "--price-interpretation", "12")
	base := func(i int) string { return "http://" + nodes[i%3].http }
	admin := createAdmin(t, base(0), "--database-url", url)
	me := mustCall(t, 200, "GET", base(0)+"/api/v1/me", admin, "", nil)
	adminID := me["id"].(string)

	newUser := func(email string) session {
		mustCall(t, 201, "POST", base(0)+"/api/v1/auth/register", "", "", map[string]string{"email": email, "password": "config-pass-123"})
		return loginSession(t, base(1), email, "config-pass-123")
	}
	u := newUser("cfg-user@e2e.test")
	mustCall(t, 201, "POST", base(0)+"/api/v1/wallets/"+u.wallet+"/deposits", admin, "dep-1", map[string]any{"amount": 1000})

	// Who may: admins only.
	for _, m := range []string{"GET", "PATCH"} {
		if r, _ := call(t, m, base(2)+"/api/v1/admin/config", u.access, "", map[string]any{"price_interpretation": 1}); r.status != 403 || r.body["code"] != "forbidden" {
			t.Fatalf("%s by a user: %d %v", m, r.status, r.body)
		}
	}

	cfg := configOf(t, base(2), admin)
	if p := cfg["price_interpretation"]; p["value"] != 12.0 || p["default"] != 12.0 || p["source"] != "flag" || p["updated_at"] != nil {
		t.Fatalf("price before: %v", p)
	}
	if r := cfg["rate_limit_draws"]; r["value"] != "1000/24h" || r["source"] != "flag" {
		t.Fatalf("draw limit before: %v", r)
	}
	if r := cfg["rate_limit_money"]; r["value"] != "600/m" || r["source"] != "default" {
		t.Fatalf("money limit before: %v", r)
	}
	for _, k := range []string{"retention_job_results", "retention_ingest_errors", "retention_mail_outbox", "retention_tokens", "retention_audit_logs"} {
		if cfg[k] == nil {
			t.Fatalf("no setting %s: %v", k, cfg)
		}
	}

	// Invalid: every bad key named, nothing changed, nothing audited.
	r, err := call(t, "PATCH", base(1)+"/api/v1/admin/config", admin, "", map[string]any{
		"price_interpretation": -1, "rate_limit_draws": "many", "retention_tokens": "1h", "no_such_setting": 1, "rate_limit_jobs": "5/m"})
	if err != nil || r.status != 400 || r.body["code"] != "invalid" {
		t.Fatalf("invalid patch: %d %v %v", r.status, r.body, err)
	}
	errs, _ := r.body["errors"].(map[string]any)
	for _, k := range []string{"price_interpretation", "rate_limit_draws", "retention_tokens", "no_such_setting"} {
		if errs[k] == nil {
			t.Errorf("the 400 does not name %s: %v", k, r.body)
		}
	}
	if len(errs) != 4 {
		t.Errorf("the 400 names %d keys, want 4: %v", len(errs), errs)
	}
	for _, bad := range []string{`[]`, `"x"`, `{"price_interpretation": 1.5}`, `{"price_interpretation": "10"}`, `{}`} {
		req, _ := http.NewRequest("PATCH", base(1)+"/api/v1/admin/config", bytes.NewReader([]byte(bad)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("PATCH %s: %d, want 400", bad, resp.StatusCode)
		}
	}
	if cfg := configOf(t, base(0), admin); cfg["price_interpretation"]["value"] != 12.0 || cfg["rate_limit_jobs"]["value"] != "60/m" {
		t.Fatalf("a refused patch changed something: %v %v", cfg["price_interpretation"], cfg["rate_limit_jobs"])
	}
	audits := mustCall(t, 200, "GET", base(0)+"/api/v1/admin/audit-logs?action=config.changed", admin, "", nil)
	if items, _ := audits["items"].([]any); len(items) != 0 {
		t.Fatalf("a refused patch was audited: %v", items)
	}

	// A job at the flag's price.
	submit := func(i int, key string) (string, float64) {
		j := mustCall(t, 202, "POST", base(i)+"/api/v1/jobs", u.access, key, map[string]any{"type": "interpretation",
			"set": "liushi-jiazi", "number": 1, "question": "will the config apply?"})
		id := j["job_id"].(string)
		got := mustCall(t, 200, "GET", base(i)+"/api/v1/jobs/"+id, u.access, "", nil)
		return id, got["price"].(float64)
	}
	if _, p := submit(2, "before"); p != 12 {
		t.Fatalf("job before the change costs %v, want 12", p)
	}

	// The change, through node 1.
	changed := mustCall(t, 200, "PATCH", base(0)+"/api/v1/admin/config", admin, "", map[string]any{
		"price_interpretation": 25, "rate_limit_draws": "2/24h"})
	at := time.Now()
	list, _ := changed["settings"].([]any)
	for _, s := range list {
		m := s.(map[string]any)
		if m["key"] == "price_interpretation" && (m["value"] != 25.0 || m["default"] != 12.0 || m["source"] != "database" ||
			m["updated_by"] != adminID || m["updated_at"] == nil) {
			t.Fatalf("price after the PATCH: %v", m)
		}
	}
	// In force on every node within seconds: the next job there costs 25.
	for i := range 3 {
		n := 0
		waitFor(t, 5*time.Second, fmt.Sprintf("node %d charging 25", i+1), func() bool {
			n++
			_, p := submit(i, fmt.Sprintf("after-%d-%d", i, n))
			return p == 25
		})
		if _, p := submit(i, fmt.Sprintf("next-%d", i)); p != 25 {
			t.Fatalf("node %d went back to %v", i+1, p)
		}
	}
	t.Logf("the new price was in force on every node %v after the PATCH", time.Since(at).Round(time.Millisecond))
	// A replayed key keeps the price its job was made with.
	if _, p := submit(2, "before"); p != 12 {
		t.Fatalf("a replay costs %v, want the first price 12", p)
	}
	// The draw limit too: a new user's third draw on node 3 is refused.
	d := newUser("cfg-draws@e2e.test")
	for k, want := range []int{201, 201, 429} {
		if r, _ := call(t, "POST", base(2)+"/api/v1/draws", d.access, "", map[string]string{"set": "liushi-jiazi"}); r.status != want {
			t.Fatalf("draw %d on node 3: %d %v, want %d", k+1, r.status, r.body, want)
		}
	}

	// Audited with the old and new values.
	audits = mustCall(t, 200, "GET", base(1)+"/api/v1/admin/audit-logs?action=config.changed", admin, "", nil)
	items, _ := audits["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("config.changed rows: %v", items)
	}
	row := items[0].(map[string]any)
	detail, _ := json.Marshal(row["detail"])
	var ch struct {
		Changes map[string]struct{ Old, New any } `json:"changes"`
	}
	_ = json.Unmarshal(detail, &ch)
	if row["actor_id"] != adminID || ch.Changes["price_interpretation"].Old != 12.0 || ch.Changes["price_interpretation"].New != 25.0 ||
		ch.Changes["rate_limit_draws"].Old != "1000/24h" || ch.Changes["rate_limit_draws"].New != "2/24h" || len(ch.Changes) != 2 {
		t.Fatalf("config.changed row: %v", row)
	}

	// null puts the flag's value back, everywhere.
	mustCall(t, 200, "PATCH", base(2)+"/api/v1/admin/config", admin, "", map[string]any{"price_interpretation": nil})
	if p := configOf(t, base(1), admin)["price_interpretation"]; p["value"] != 12.0 || p["source"] != "flag" {
		t.Fatalf("price after null: %v", p)
	}
	for i := range 3 {
		n := 0
		waitFor(t, 5*time.Second, fmt.Sprintf("node %d charging 12 again", i+1), func() bool {
			n++
			_, p := submit(i, fmt.Sprintf("reset-%d-%d", i, n))
			return p == 12
		})
	}

	// What is on sale changes the same way: a bad list is refused naming the key, a good one is
	// offered by every node.
	if r, _ := call(t, "PATCH", base(0)+"/api/v1/admin/config", admin, "", map[string]any{"payment_packages": "x:0:TWD:1"}); r.status != 400 {
		t.Fatalf("bad packages: %d %v", r.status, r.body)
	}
	mustCall(t, 200, "PATCH", base(0)+"/api/v1/admin/config", admin, "", map[string]any{"payment_packages": " trial:10:TWD:30 , big:5000:TWD:5000"})
	if p := configOf(t, base(1), admin)["payment_packages"]; p["value"] != "trial:10:TWD:30,big:5000:TWD:5000" || p["source"] != "database" {
		t.Fatalf("packages setting: %v", p)
	}
	for i := range 3 {
		waitFor(t, 5*time.Second, fmt.Sprintf("node %d selling the new packages", i+1), func() bool {
			items, _ := mustCall(t, 200, "GET", base(i)+"/api/v1/payments/packages", "", "", nil)["items"].([]any)
			return len(items) == 2 && items[0].(map[string]any)["id"] == "trial" && items[0].(map[string]any)["price"] == 30.0
		})
	}

	// Every wallet still equals its ledger once the jobs settled.
	store, err := persistence.Open(t.Context(), url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	waitFor(t, 60*time.Second, "every job settled", func() bool {
		var open int
		_ = store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM jobs WHERE NOT settled`).Scan(&open)
		return open == 0
	})
	ledgerCheck(t, store, u.wallet)
}
