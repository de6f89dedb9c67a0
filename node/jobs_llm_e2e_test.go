package node_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/interpret/llmtest"
	"github.com/divinewhispers/dw/persistence"
)

func llmArgs(srv *llmtest.Server) []string {
	return []string{"--llm-base-url", srv.URL(), "--llm-model", "test-model", "--llm-api-key", "sk-e2e-secret"}
}

// waitJob polls a job until it reaches status and returns it.
func waitJob(t *testing.T, base, token, id, status string, d time.Duration) map[string]any {
	t.Helper()
	var j map[string]any
	waitFor(t, d, "job "+id+" "+status, func() bool {
		r, err := call(t, "GET", base+"/api/v1/jobs/"+id, token, "", nil)
		if err != nil || r.status != 200 {
			return false
		}
		j = r.body
		return j["status"] == status
	})
	return j
}

// TestJobLLMFailures: a model server failing every attempt fails the job and returns its points;
// 429 with Retry-After and a timeout are retried, and the job then completes, charged once.
func TestJobLLMFailures(t *testing.T) {
	t.Parallel()
	srv := llmtest.NewServer(t)
	_, base, url := startSingle(t, append(llmArgs(srv), "--job-max-attempts", "3", "--job-attempt-timeout", "3s",
		"--result-retention", "4s")...)
	admin := createAdmin(t, base, "--database-url", url)
	token, wallet := register(t, base, "llm@e2e.test")
	mustCall(t, 201, "POST", base+"/api/v1/wallets/"+wallet+"/deposits", admin, "topup", map[string]any{"amount": 25})
	body := map[string]any{"type": "interpretation", "set": "liushi-jiazi", "number": 12, "question": "家人的病何時會好轉？", "topic": "health"}

	// Every attempt fails with a 500.
	srv.SetDefault(llmtest.Status500)
	id := mustCall(t, 202, "POST", base+"/api/v1/jobs", token, "fail-1", body)["job_id"].(string)
	j := waitJob(t, base, token, id, "failed", 30*time.Second)
	if j["attempts"] != 3.0 || j["error_code"] != "llm_unavailable" {
		t.Fatalf("failed job: %v", j)
	}
	if srv.Requests() != 3 {
		t.Fatalf("%d requests to the model server, want 3", srv.Requests())
	}
	waitFor(t, 10*time.Second, "hold released", func() bool {
		w := mustCall(t, 200, "GET", base+"/api/v1/wallets/"+wallet, token, "", nil)
		return w["balance"] == 25.0 && w["held"] == 0.0
	})
	if r, _ := call(t, "GET", base+"/api/v1/jobs/"+id+"/result", token, "", nil); r.status != 409 || r.body["code"] != "result_not_ready" {
		t.Fatalf("result of a failed job: %d %v", r.status, r.body)
	}
	if last := srv.LastRequest(); last.Header.Get("Authorization") != "Bearer sk-e2e-secret" {
		t.Fatalf("the model server got Authorization %q", last.Header.Get("Authorization"))
	}

	// 429 (retry after 1 s), then a hang past the attempt timeout, then a good answer.
	srv.SetDefault(llmtest.OK)
	srv.Enqueue(llmtest.RateLimited(time.Second), llmtest.Hang)
	start := time.Now()
	id = mustCall(t, 202, "POST", base+"/api/v1/jobs", token, "retry-1", body)["job_id"].(string)
	j = waitJob(t, base, token, id, "completed", 60*time.Second)
	if j["attempts"] != 3.0 {
		t.Fatalf("completed job: %v", j)
	}
	if took := time.Since(start); took < 4*time.Second {
		t.Fatalf("completed after %v: the Retry-After and the timeout were not waited for", took)
	}
	res := mustCall(t, 200, "GET", base+"/api/v1/jobs/"+id+"/result", token, "", nil)
	if res["model"] != "test-model" {
		t.Fatalf("result: %v", res)
	}
	waitFor(t, 10*time.Second, "captured", func() bool {
		w := mustCall(t, 200, "GET", base+"/api/v1/wallets/"+wallet, token, "", nil)
		return w["balance"] == 15.0 && w["held"] == 0.0
	})
	entries := ledger(t, base, token, wallet)
	holds, _ := countType(entries, "hold")
	captures, amount := countType(entries, "capture")
	releases, _ := countType(entries, "release")
	if holds != 2 || captures != 1 || amount != 10 || releases != 1 {
		t.Fatalf("ledger: %d holds, %d captures (%v points), %d releases", holds, captures, amount, releases)
	}
	// Results expire: hidden once past their retention, then swept from the database.
	waitFor(t, 15*time.Second, "the result to expire", func() bool {
		r, err := call(t, "GET", base+"/api/v1/jobs/"+id+"/result", token, "", nil)
		return err == nil && r.status == 404 && r.body["code"] == "result_expired"
	})
	store, err := persistence.Open(t.Context(), url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	waitFor(t, 15*time.Second, "the result row to be swept", func() bool {
		var n int
		_ = store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM job_results WHERE job_id = $1`, id).Scan(&n)
		return n == 0
	})

	// Cancelling a running job stops it and returns its points.
	srv.Enqueue(llmtest.Hang)
	id = mustCall(t, 202, "POST", base+"/api/v1/jobs", token, "cancel-1", body)["job_id"].(string)
	waitJob(t, base, token, id, "running", 20*time.Second)
	cancelled := mustCall(t, 200, "DELETE", base+"/api/v1/jobs/"+id, token, "", nil)
	if cancelled["status"] != "cancelled" {
		t.Fatalf("cancel: %v", cancelled)
	}
	if r, _ := call(t, "DELETE", base+"/api/v1/jobs/"+id, token, "", nil); r.status != 409 || r.body["code"] != "job_finished" {
		t.Fatalf("second cancel: %d %v", r.status, r.body)
	}
	waitFor(t, 10*time.Second, "the cancelled job's hold released", func() bool {
		w := mustCall(t, 200, "GET", base+"/api/v1/wallets/"+wallet, token, "", nil)
		return w["balance"] == 15.0 && w["held"] == 0.0
	})
	time.Sleep(500 * time.Millisecond) // a late answer of the cancelled attempt must not complete it
	if j := mustCall(t, 200, "GET", base+"/api/v1/jobs/"+id, token, "", nil); j["status"] != "cancelled" || j["settlement"] != "released" {
		t.Fatalf("cancelled job: %v", j)
	}

	// The model server's key never reaches the job's error or the logs.
	for _, e := range []string{fmt.Sprint(j)} {
		if bytes.Contains([]byte(e), []byte("sk-e2e-secret")) {
			t.Fatal("the API key leaked into a job")
		}
	}
}

// TestJobSurvivesNodeKill kill -9s the node running a job in a three-node cluster: another node
// takes the job over when its lease runs out, and it completes once, charged once.
func TestJobSurvivesNodeKill(t *testing.T) {
	t.Parallel()
	srv := llmtest.NewServer(t)
	srv.Enqueue(llmtest.Hang) // the first attempt hangs on whichever node runs it
	url := pgtest.NewDB(t)
	store, err := persistence.Open(t.Context(), url, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	nodes := startCluster(t, "j", url, append([]string{"--job-lease", "3s", "--job-attempt-timeout", "60s",
		"--price-interpretation", "10"}, llmArgs(srv)...)...)
	base := "http://" + nodes[0].http
	admin := createAdmin(t, base, "--database-url", url)
	token, wallet := register(t, base, "kill@e2e.test")
	mustCall(t, 201, "POST", base+"/api/v1/wallets/"+wallet+"/deposits", admin, "topup", map[string]any{"amount": 30})
	// A WebSocket client on every node: events travel through the cluster, so each sees the job
	// wherever it runs.
	var lives []*liveClient
	for _, p := range nodes {
		lc := dialLive(t, "http://"+p.http, token)
		waitFor(t, 10*time.Second, "hello", func() bool { return lc.has(func(ev map[string]any) bool { return ev["type"] == "hello" }) })
		lives = append(lives, lc)
	}
	body := map[string]any{"type": "interpretation", "set": "liushi-jiazi", "number": 3, "question": "這段感情能長久嗎？", "topic": "marriage"}
	id := mustCall(t, 202, "POST", base+"/api/v1/jobs", token, "kill-1", body)["job_id"].(string)
	waitJob(t, base, token, id, "running", 20*time.Second)
	waitFor(t, 10*time.Second, "the first attempt reaches the model server", func() bool { return srv.Requests() >= 1 })

	victim := -1
	for i, p := range nodes {
		if jobGrains("http://"+p.http) > 0 {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatal("no node reports the job's grain")
	}
	nodes[victim].kill()
	alive := nodes[(victim+1)%3]
	base = "http://" + alive.http
	t.Logf("killed %s, which ran the job; asking %s", nodes[victim].name, alive.name)

	j := waitJob(t, base, token, id, "completed", 60*time.Second)
	if j["attempts"] != 2.0 {
		t.Fatalf("job after the takeover: %v", j)
	}
	waitFor(t, 20*time.Second, "charged", func() bool {
		r, err := call(t, "GET", base+"/api/v1/wallets/"+wallet, token, "", nil)
		return err == nil && r.status == 200 && r.body["balance"] == 20.0 && r.body["held"] == 0.0
	})
	entries := ledger(t, base, token, wallet)
	if n, amount := countType(entries, "capture"); n != 1 || amount != 10 {
		t.Fatalf("%d captures of %v points, want one of 10", n, amount)
	}
	if n, _ := countType(entries, "hold"); n != 1 {
		t.Fatalf("%d holds, want 1", n)
	}
	ledgerCheck(t, store, wallet)
	runner := -1
	for i, p := range nodes {
		if i != victim && jobGrains("http://"+p.http) > 0 {
			runner = i
		}
	}
	for i, lc := range lives {
		if i == victim {
			continue
		}
		waitFor(t, 10*time.Second, fmt.Sprintf("%s's WebSocket client to see the completion (the job ran on %d)", nodes[i].name, runner),
			func() bool {
				s := lc.statuses(id)
				return len(s) > 0 && s[len(s)-1] == "completed"
			})
	}
}
