package node_test

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/divinewhispers/dw/internal/pgtest"
)

// liveClient collects the events of one WebSocket connection.
type liveClient struct {
	conn   *websocket.Conn
	mu     sync.Mutex
	events []map[string]any
}

func dialLive(t *testing.T, base, token string) *liveClient {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/ws?access_token=" + url.QueryEscape(token)
	conn, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("websocket dial: %v (status %d)", err, status)
	}
	lc := &liveClient{conn: conn}
	go func() {
		for {
			var ev map[string]any
			if err := conn.ReadJSON(&ev); err != nil {
				return
			}
			lc.mu.Lock()
			lc.events = append(lc.events, ev)
			lc.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return lc
}

// statuses lists the job.status events seen for a job, in order.
func (lc *liveClient) statuses(jobID string) []string {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	var out []string
	for _, ev := range lc.events {
		if ev["type"] == "job.status" && ev["job_id"] == jobID {
			out = append(out, ev["status"].(string))
		}
	}
	return out
}

func (lc *liveClient) has(pred func(map[string]any) bool) bool {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for _, ev := range lc.events {
		if pred(ev) {
			return true
		}
	}
	return false
}

// register makes a user through the API and returns its token and wallet.
func register(t *testing.T, base, email string) (token, wallet string) {
	t.Helper()
	mustCall(t, 201, "POST", base+"/api/v1/auth/register", "", "", map[string]string{"email": email, "password": "user-pass-123"})
	tok := mustCall(t, 200, "POST", base+"/api/v1/auth/login", "", "", map[string]string{"email": email, "password": "user-pass-123"})
	token = tok["access_token"].(string)
	me := mustCall(t, 200, "GET", base+"/api/v1/me", token, "", nil)
	return token, me["wallet_id"].(string)
}

func ledger(t *testing.T, base, token, wallet string) []map[string]any {
	t.Helper()
	page := mustCall(t, 200, "GET", base+"/api/v1/wallets/"+wallet+"/transactions?page_size=500&sort=created_at", token, "", nil)
	var out []map[string]any
	for _, it := range page["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

func countType(entries []map[string]any, typ string) (n int, amount float64) {
	for _, e := range entries {
		if e["type"] == typ {
			n++
			amount += e["amount"].(float64)
		}
	}
	return n, amount
}

func startSingle(t *testing.T, extra ...string) (*proc, string, string) {
	t.Helper()
	url := pgtest.NewDB(t)
	p := &proc{name: "single", http: freePort(t), bind: freePort(t), log: &bytes.Buffer{}}
	p.args = serveArgs(p.name, p.http, p.bind, freePort(t), append([]string{"--database-url", url, "--data-dir", t.TempDir(),
		"--price-interpretation", "10"}, extra...)...)
	p.start(t)
	t.Cleanup(func() {
		if t.Failed() {
			p.dump(t)
		}
		p.kill()
	})
	base := "http://" + p.http
	waitFor(t, 30*time.Second, "dw serve ready", func() bool { return ready(base) })
	return p, base, url
}

// TestJobLifecycle submits an interpretation job on the built-in interpreter and follows it
// live: pending, running, completed over the WebSocket, the result, and points captured once.
func TestJobLifecycle(t *testing.T) {
	t.Parallel()
	_, base, url := startSingle(t)
	admin := createAdmin(t, base, "--database-url", url)
	token, wallet := register(t, base, "seeker@e2e.test")
	mustCall(t, 201, "POST", base+"/api/v1/wallets/"+wallet+"/deposits", admin, "topup-1", map[string]any{"amount": 25})

	sets := mustCall(t, 200, "GET", base+"/api/v1/poem-sets", "", "", nil)
	set := sets["items"].([]any)[0].(map[string]any)
	if set["poems"].(float64) != 60 {
		t.Fatalf("bundled set: %v", set)
	}
	slug := set["slug"].(string)

	live := dialLive(t, base, token)
	waitFor(t, 10*time.Second, "hello", func() bool { return live.has(func(ev map[string]any) bool { return ev["type"] == "hello" }) })

	body := map[string]any{"type": "interpretation", "set": slug, "number": 7, "question": "我下個月該不該換工作？", "topic": "career"}
	acc := mustCall(t, 202, "POST", base+"/api/v1/jobs", token, "job-key-1", body)
	id := acc["job_id"].(string)
	if acc["status"] != "pending" {
		t.Fatalf("202 body %v", acc)
	}
	waitFor(t, 20*time.Second, "completed over the WebSocket", func() bool {
		s := live.statuses(id)
		return len(s) > 0 && s[len(s)-1] == "completed"
	})
	if got := strings.Join(live.statuses(id), ","); got != "pending,running,completed" {
		t.Fatalf("statuses over the WebSocket: %s", got)
	}
	if !live.has(func(ev map[string]any) bool {
		text, _ := ev["data"].(string)
		return ev["type"] == "job.progress" && ev["job_id"] == id && len(text) > 20
	}) {
		t.Fatal("no streamed output (job.progress) reached the WebSocket")
	}
	res := mustCall(t, 200, "GET", base+"/api/v1/jobs/"+id+"/result", token, "", nil)
	r := res["result"].(map[string]any)
	if r["summary"] == "" || len(r["poem_lines"].([]any)) == 0 || r["model"] != "builtin" {
		t.Fatalf("result %v", res)
	}
	// The balance event reached the same connection.
	waitFor(t, 10*time.Second, "balance event", func() bool {
		return live.has(func(ev map[string]any) bool {
			d, _ := ev["data"].(map[string]any)
			return ev["type"] == "wallet.balance" && d != nil && d["balance"] == 15.0 && d["held"] == 0.0
		})
	})

	// The same key again: the same job, no second hold.
	again := mustCall(t, 202, "POST", base+"/api/v1/jobs", token, "job-key-1", body)
	if again["job_id"] != id {
		t.Fatalf("replay made job %v, want %s", again["job_id"], id)
	}
	body2 := map[string]any{"type": "interpretation", "set": slug, "number": 8, "question": "another", "topic": "career"}
	if r, _ := call(t, "POST", base+"/api/v1/jobs", token, "job-key-1", body2); r.status != 422 || r.body["code"] != "idempotency_conflict" {
		t.Fatalf("reused key with another body: %d %v", r.status, r.body)
	}
	entries := ledger(t, base, token, wallet)
	if n, _ := countType(entries, "hold"); n != 1 {
		t.Fatalf("%d holds in the ledger, want 1", n)
	}
	if n, amount := countType(entries, "capture"); n != 1 || amount != 10 {
		t.Fatalf("%d captures of %v points, want 1 of 10", n, amount)
	}
	w := mustCall(t, 200, "GET", base+"/api/v1/wallets/"+wallet, token, "", nil)
	if w["balance"] != 15.0 || w["held"] != 0.0 {
		t.Fatalf("wallet after the job: %v", w)
	}
	// The job's writes (create, start, complete, settled; the replays found the job in a write
	// of their own) went through the grouped writer, and it counted them.
	if n := metric(base, "dw_job_write_group_writes_sum"); n < 4 {
		t.Fatalf("dw_job_write_group_writes_sum = %d, want at least 4", n)
	}
	if n := metric(base, `dw_job_write_groups_total{node=`); n < 1 {
		t.Fatalf("dw_job_write_groups_total = %d", n)
	}

	// SSE on the finished job: its status, then the stream ends.
	req, _ := http.NewRequest("GET", base+"/api/v1/jobs/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" || !strings.Contains(strings.Join(lines, "\n"), `"status":"completed"`) {
		t.Fatalf("SSE: %s %q", resp.Header.Get("Content-Type"), lines)
	}

	// Not enough points: 402 and no job.
	poor, _ := register(t, base, "poor@e2e.test")
	if r, _ := call(t, "POST", base+"/api/v1/jobs", poor, "k", body); r.status != 402 || r.body["code"] != "insufficient_funds" {
		t.Fatalf("job without points: %d %v", r.status, r.body)
	}
	list := mustCall(t, 200, "GET", base+"/api/v1/jobs", poor, "", nil)
	if n := len(list["items"].([]any)); n != 0 {
		t.Fatalf("a job without points was created: %v", list)
	}

}
