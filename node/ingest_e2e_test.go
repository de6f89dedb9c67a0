package node_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/divinewhispers/dw/persistence"
)

// TestScheduledIngest: a node scans its ingest sources on their interval with no command run —
// a file dropped into the directory is ingested within seconds, and a file that grows is
// followed.
func TestScheduledIngest(t *testing.T) {
	t.Parallel()
	logs := t.TempDir()
	_, _, url := startSingle(t, "--ingest-root", logs)
	store, err := persistence.Open(t.Context(), url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if out, ok := dwCLI(t, "sources", "add", "--name", "live", "--dir", logs, "--format", "slurm-sacct",
		"--cluster", "live", "--interval", "1s", "--ingest-root", logs, "--database-url", url); !ok {
		t.Fatalf("sources add: %s", out)
	}
	count := func() int {
		var n int
		_ = store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM usage_records WHERE cluster = 'live'`).Scan(&n)
		return n
	}
	fixture, err := os.ReadFile("../accounting/testdata/sacct.txt")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(logs, "sacct.txt")
	if err := os.WriteFile(path, fixture, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the dropped file to be ingested by the node", func() bool { return count() == 13 })

	// The file grows by one finished job: only that job is added.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("9901|9901|zoe|phys|proj1|cpu|normal|COMPLETED|2024-03-05T08:00:00|2024-03-05T09:00:00|2024-03-05T10:00:00|01:00:00|3600|2|64|billing=64,cpu=64,node=2|c[01-02]|0:0\n")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the appended job to be ingested", func() bool { return count() == 14 })
	var secs int64
	if err := store.Pool().QueryRow(t.Context(), `SELECT node_seconds FROM usage_records WHERE job_id = '9901'`).Scan(&secs); err != nil || secs != 7200 {
		t.Fatalf("appended job: %d node-seconds (%v), want 7200 (2 nodes × 1 h)", secs, err)
	}
}

const sacctHeader = "JobID|JobIDRaw|User|Group|Account|Partition|QOS|Cluster|State|Submit|Start|End|Elapsed|ElapsedRaw|AllocNodes|AllocCPUS|AllocTRES|NodeList\n"

// TestLiveCharging: with a short scan interval a running node charges new usage within
// seconds of the file being written, and the quota thresholds it crosses reach an operator's
// WebSocket as they happen.
func TestLiveCharging(t *testing.T) {
	t.Parallel()
	logs := t.TempDir()
	_, base, url := startSingle(t, "--ingest-root", logs)
	db := []string{"--database-url", url}
	cli := func(args ...string) string {
		t.Helper()
		out, ok := dwCLI(t, append(args, db...)...)
		if !ok {
			t.Fatalf("dw %v: %s", args, out)
		}
		return out
	}
	cli("wallet", "create", "--name", "lab")
	cli("wallet", "deposit", "lab", "100")
	cli("rates", "add", "--node-hour-points", "1.5", "--gpu-hour-points", "4", "--from", "2026-01-01")
	cli("mappings", "add", "--group", "phys", "--wallet", "lab")
	cli("quotas", "set", "--wallet", "lab", "--period", "total", "--node-hours", "2.5")
	cli("sources", "add", "--name", "live", "--dir", logs, "--format", "slurm-sacct", "--cluster", "live", "--interval", "1s", "--ingest-root", logs)

	admin := createAdmin(t, base, db...)
	live := dialLive(t, base, admin)
	waitFor(t, 10*time.Second, "the WebSocket hello", func() bool {
		return live.has(func(ev map[string]any) bool { return ev["type"] == "hello" })
	})
	store, err := persistence.Open(t.Context(), url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	lab, err := store.WalletByRef(t.Context(), "lab")
	if err != nil {
		t.Fatal(err)
	}

	// 2 nodes × 1 h = 2 node-hours = 3 points, and 80% of the 2.5 node-hour quota.
	job := sacctHeader + "1|1|ann|phys|p1|cpu|normal|live|COMPLETED|2026-02-01T08:00:00|2026-02-01T08:00:00|2026-02-01T09:00:00|01:00:00|3600|2|64|cpu=64,node=2|n[1-2]\n"
	if err := os.WriteFile(filepath.Join(logs, "sacct-1.txt"), []byte(job), 0o644); err != nil {
		t.Fatal(err)
	}
	written := time.Now()
	waitFor(t, 30*time.Second, "the job to be charged", func() bool { return ledgerCheck(t, store, lab.ID) == 97 })
	t.Logf("charged %s after the file was written", time.Since(written).Round(time.Millisecond))
	quota := func(threshold float64) func(map[string]any) bool {
		return func(ev map[string]any) bool {
			if ev["type"] != "quota.threshold" || ev["wallet_id"] != lab.ID {
				return false
			}
			var d map[string]any
			if s, ok := ev["data"].(string); ok {
				_ = json.Unmarshal([]byte(s), &d)
			} else {
				d, _ = ev["data"].(map[string]any)
			}
			return d["threshold"] == threshold
		}
	}
	waitFor(t, 15*time.Second, "the 80% quota event on the WebSocket", func() bool { return live.has(quota(80)) })
	if live.has(quota(100)) {
		t.Fatal("100% reported at 80% of the quota")
	}
	// One more hour crosses 100%.
	job2 := "2|2|ann|phys|p1|cpu|normal|live|COMPLETED|2026-02-02T08:00:00|2026-02-02T08:00:00|2026-02-02T09:00:00|01:00:00|3600|1|64|cpu=64,node=1|n1\n"
	if err := os.WriteFile(filepath.Join(logs, "sacct-2.txt"), []byte(sacctHeader+job2), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the 100% quota event on the WebSocket", func() bool { return live.has(quota(100)) })
	waitFor(t, 30*time.Second, "the second job to be charged", func() bool { return ledgerCheck(t, store, lab.ID) == 95 })
	// Operators see it in the metrics too.
	for prefix, want := range map[string]int{`dw_ingest_records_total{node="single",source="live"}`: 2,
		`dw_usage_charges_total{node="single",status="charged"}`: 2, `dw_usage_charged_points_total{node="single"}`: 5} {
		if got := metric(base, prefix); got != want {
			t.Errorf("%s = %d, want %d", prefix, got, want)
		}
	}
}
