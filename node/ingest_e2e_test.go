package node_test

import (
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
	_, _, url := startSingle(t)
	store, err := persistence.Open(t.Context(), url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	logs := t.TempDir()
	if out, ok := dwCLI(t, "sources", "add", "--name", "live", "--dir", logs, "--format", "slurm-sacct",
		"--cluster", "live", "--interval", "1s", "--database-url", url); !ok {
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
	var milli int64
	if err := store.Pool().QueryRow(t.Context(), `SELECT node_milli_hours FROM usage_records WHERE job_id = '9901'`).Scan(&milli); err != nil || milli != 2000 {
		t.Fatalf("appended job: %d node milli-hours (%v), want 2000 (2 nodes × 1 h)", milli, err)
	}
}
