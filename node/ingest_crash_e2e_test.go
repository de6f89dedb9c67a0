package node_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/protos/walletpb"
)

// TestIngestKilled kills `dw ingest run` with SIGKILL in the middle of a directory, three
// times, then lets it finish: every job is stored once and charged once, the totals are exact,
// and the wallet paid exactly the priced usage.
func TestIngestKilled(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDB(t)
	ctx := t.Context()
	st, err := persistence.Open(ctx, url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	w, err := st.CreateSharedWallet(ctx, "crash", persistence.AuditEntry{})
	if err != nil {
		t.Fatal(err)
	}
	wallets, stop := node.LocalWallets(st, slog.New(slog.DiscardHandler))
	_, err = wallets.Do(ctx, &walletpb.Request{Op: walletpb.Op_OP_DEPOSIT, WalletId: w.ID, Amount: 1_000_000, IdempotencyKey: "seed"})
	stop()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, _, err := st.AddMapping(ctx, accounting.Mapping{Group: "g", WalletID: w.ID}, persistence.AuditEntry{}, now); err != nil {
		t.Fatal(err)
	}
	// 2 points per node-hour: every job below is 1 node × 1 h = 2 points, whatever file it is in.
	if _, err := st.AddRate(ctx, accounting.Rate{NodeHourMillipoints: 2000, EffectiveFrom: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)},
		persistence.AuditEntry{}, now); err != nil {
		t.Fatal(err)
	}

	const files, perFile = 60, 1500
	logs := t.TempDir()
	for f := range files {
		var b bytes.Buffer
		b.WriteString("JobID|User|Group|Account|Partition|Cluster|State|Submit|Start|End|ElapsedRaw|AllocNodes|AllocTRES\n")
		for j := range perFile {
			id := f*perFile + j + 1
			day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(id) * time.Minute)
			fmt.Fprintf(&b, "%d|u%d|g|acct|cpu|crash|COMPLETED|%s|%s|%s|3600|1|cpu=8,node=1\n", id, id%50,
				day.Format("2006-01-02T15:04:05"), day.Format("2006-01-02T15:04:05"), day.Add(time.Hour).Format("2006-01-02T15:04:05"))
			fmt.Fprintf(&b, "%d.batch|||||crash|COMPLETED|%s|%s|%s|3600|1|cpu=8,node=1\n", id,
				day.Format("2006-01-02T15:04:05"), day.Format("2006-01-02T15:04:05"), day.Add(time.Hour).Format("2006-01-02T15:04:05"))
		}
		if err := os.WriteFile(filepath.Join(logs, fmt.Sprintf("sacct-%03d.txt", f)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, ok := dwCLI(t, "sources", "add", "--name", "crash", "--dir", logs, "--format", "slurm-sacct", "--cluster", "crash",
		"--ingest-root", logs, "--database-url", url); !ok {
		t.Fatalf("sources add: %s", out)
	}
	count := func(sql string) int64 {
		var n int64
		if err := st.Pool().QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for kill := range 3 {
		cmd := exec.Command(dwBinary, "ingest", "run", "--source", "crash", "--ingest-root", logs, "--database-url", url)
		cmd.Dir = t.TempDir()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		before := count(`SELECT count(*) FROM processed_files`)
		waitFor(t, 60*time.Second, "a file to be stored", func() bool {
			return count(`SELECT count(*) FROM processed_files`) > before
		})
		// Somewhere inside the next file: parsing it, or its transaction open.
		time.Sleep(time.Duration(kill) * 120 * time.Millisecond)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		done := count(`SELECT count(*) FROM processed_files`)
		t.Logf("kill %d: %d of %d files stored", kill+1, done, files)
		if done == files {
			t.Logf("the run finished before the kill; output: %s", out.String())
		}
	}
	if out, ok := dwCLI(t, "ingest", "run", "--source", "crash", "--ingest-root", logs, "--database-url", url); !ok {
		t.Fatalf("ingest run after the kills: %s", out)
	}

	const jobs = files * perFile
	if n := count(`SELECT count(*) FROM usage_records`); n != jobs {
		t.Errorf("%d usage records, want %d", n, jobs)
	}
	if n := count(`SELECT sum(node_seconds) FROM usage_records`); n != jobs*3600 {
		t.Errorf("%d node-seconds, want %d", n, jobs*3600)
	}
	// Every job priced and charged exactly once.
	if n := count(`SELECT sum(records) FROM usage_charges`); n != jobs {
		t.Errorf("charges cover %d jobs, want %d", n, jobs)
	}
	if n := count(`SELECT sum(points) FROM usage_charges`); n != 2*jobs {
		t.Errorf("charges of %d points, want %d", n, 2*jobs)
	}
	if n := count(`SELECT count(*) FROM usage_charges WHERE status <> 'charged'`); n != 0 {
		t.Errorf("%d charges not posted", n)
	}
	if n := count(`SELECT jobs FROM usage_rollups WHERE dim = 'all' AND grain = 'm' AND bucket = '2026-01-01'`) +
		count(`SELECT COALESCE(sum(jobs), 0) FROM usage_rollups WHERE dim = 'all' AND grain = 'm' AND bucket > '2026-01-01'`); n != jobs {
		t.Errorf("rollups count %d jobs, want %d", n, jobs)
	}
	if b := ledgerCheck(t, st, w.ID); b != 1_000_000-2*jobs {
		t.Errorf("wallet balance %d, want %d", b, 1_000_000-2*jobs)
	}
}
