package node_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/divinewhispers/dw/persistence/pgserver"
)

// The tests below run the dw binary on an embedded PostgreSQL of its own (no --database-url)
// and look for the server's processes in /proc: a command leaves none running, however it ends,
// unless another process still uses the server.

// postmasters returns the live (not zombie) processes whose command line names the PostgreSQL
// cluster of dataDir: its postmaster (backends rewrite their command line, and die with it).
func postmasters(t *testing.T, dataDir string) []int {
	t.Helper()
	want := []byte(filepath.Join(dataDir, "postgres"))
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		// The postmaster itself (argv[0] …/postgres), not the pg_ctl, su or sh that start it
		// and name the same directory for a moment.
		argv0, _, _ := bytes.Cut(cmdline, []byte{0})
		if err != nil || !bytes.Contains(cmdline, want) || filepath.Base(string(argv0)) != "postgres" {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if i := bytes.LastIndexByte(stat, ')'); err != nil || i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// waitNoPostgres waits until no postmaster of dataDir runs and its pid file is gone.
func waitNoPostgres(t *testing.T, dataDir, after string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pids := postmasters(t, dataDir)
		_, pidErr := os.Stat(filepath.Join(dataDir, "postgres", "postmaster.pid"))
		if len(pids) == 0 && errors.Is(pidErr, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: PostgreSQL of the data directory still running (pids %v, pid file: %v)", after, pids, pidErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cliDataDir is a fresh data directory for the embedded server; whatever still runs on it when
// the test ends is stopped.
func cliDataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dw-clileak-") // see embeddedServe: reachable by the postgres user
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Cleanup(func() {
		if _, ok := pgserver.RunningURL(dir); ok {
			if srv, err := pgserver.Start(context.Background(), pgserver.Options{DataDir: dir}); err == nil {
				_ = srv.Stop(context.Background())
			}
		}
	})
	return dir
}

// ingestSetup gives dataDir eight ingest sources of 20,000 jobs each, added with the CLI (which
// starts the server and stops it again), so that `dw ingest run` prints a report line per
// source for a few seconds: "mid-command" is after its first line.
func ingestSetup(t *testing.T, dataDir string) (logs string) {
	t.Helper()
	logs = t.TempDir()
	for s := range 8 {
		dir := filepath.Join(logs, fmt.Sprint("s", s))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.WriteString("JobID|User|Group|Account|Partition|Cluster|State|Submit|Start|End|ElapsedRaw|AllocNodes|AllocTRES\n")
		for j := range 20000 {
			day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(j) * time.Minute).Format("2006-01-02T15:04:05")
			fmt.Fprintf(&b, "%d|u%d|g|acct|cpu|leak|COMPLETED|%s|%s|%s|60|1|cpu=8,node=1\n", s*100000+j+1, j%50, day, day, day)
		}
		if err := os.WriteFile(filepath.Join(dir, "sacct.txt"), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, ok := dwCLI(t, "sources", "add", "--name", fmt.Sprint("s", s), "--dir", dir, "--format", "slurm-sacct",
			"--cluster", "leak", "--ingest-root", logs, "--data-dir", dataDir); !ok {
			t.Fatalf("sources add: %s", out)
		}
	}
	waitNoPostgres(t, dataDir, "dw sources add")
	return logs
}

// startIngest starts `dw ingest run` on dataDir with stdout a pipe and returns after its first
// line, with the command still running (the other sources ahead of it).
func startIngest(t *testing.T, dataDir, logs string) (cmd *exec.Cmd, stdout *os.File, stderr *bytes.Buffer) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(dwBinary, "ingest", "run", "--ingest-root", logs, "--data-dir", dataDir)
	cmd.Dir = t.TempDir()
	stderr = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = w, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); r.Close() })
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the first line of dw ingest run: %v (stderr: %s)", err, stderr)
	}
	if !strings.HasPrefix(line, "s") {
		t.Fatalf("first line of dw ingest run: %q (stderr: %s)", line, stderr)
	}
	if len(postmasters(t, dataDir)) == 0 {
		t.Fatal("dw ingest run prints without a PostgreSQL of its own running")
	}
	return cmd, r, stderr
}

// exitCode waits for cmd and returns its exit code (-1 when a signal killed it).
func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	err := cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode()
}

// TestCLIStopsItsPostgres: `dw ingest run … | head -1` (the reader of stdout gone after one
// line), SIGINT, SIGTERM and SIGHUP in the middle of the command: the command ends, with the
// exit code of the signal, and leaves no PostgreSQL running.
func TestCLIStopsItsPostgres(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		end  func(cmd *exec.Cmd, stdout *os.File) // ends the command mid-way
		code int
	}{
		{"stdout closed", func(_ *exec.Cmd, stdout *os.File) { stdout.Close() }, 128 + int(syscall.SIGPIPE)},
		{"SIGINT", func(cmd *exec.Cmd, _ *os.File) { _ = cmd.Process.Signal(syscall.SIGINT) }, 128 + int(syscall.SIGINT)},
		{"SIGTERM", func(cmd *exec.Cmd, _ *os.File) { _ = cmd.Process.Signal(syscall.SIGTERM) }, 128 + int(syscall.SIGTERM)},
		{"SIGHUP", func(cmd *exec.Cmd, _ *os.File) { _ = cmd.Process.Signal(syscall.SIGHUP) }, 128 + int(syscall.SIGHUP)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dataDir := cliDataDir(t)
			logs := ingestSetup(t, dataDir)
			cmd, stdout, stderr := startIngest(t, dataDir, logs)
			tc.end(cmd, stdout)
			if tc.name != "stdout closed" {
				go func() { _, _ = bufio.NewReader(stdout).WriteTo(devNull{}) }() // a reader that stays
			}
			if code := exitCode(t, cmd); code != tc.code {
				t.Errorf("exit code %d, want %d (stderr: %s)", code, tc.code, stderr)
			}
			waitNoPostgres(t, dataDir, "dw ingest run ended by "+tc.name)
		})
	}
}

type devNull struct{}

func (devNull) Write(p []byte) (int, error) { return len(p), nil }

// TestCLIRecoversLeftover: a command killed with SIGKILL leaves its server running (nothing can
// stop it), with the small shared_buffers of a command; the next command adopts it and stops
// it at its end.
func TestCLIRecoversLeftover(t *testing.T) {
	t.Parallel()
	dataDir := cliDataDir(t)
	logs := ingestSetup(t, dataDir)
	cmd, _, _ := startIngest(t, dataDir, logs)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	url, ok := pgserver.RunningURL(dataDir)
	if !ok {
		t.Fatal("no PostgreSQL left running after SIGKILL")
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	var sb string
	err = conn.QueryRow(t.Context(), "SHOW shared_buffers").Scan(&sb)
	conn.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sb != pgserver.CommandSharedBuffers {
		t.Errorf("a command's PostgreSQL runs with shared_buffers %s, want %s", sb, pgserver.CommandSharedBuffers)
	}

	if out, ok := dwCLI(t, "sources", "list", "--data-dir", dataDir); !ok || !strings.Contains(out, "s7") {
		t.Fatalf("sources list after the kill: %s", out)
	}
	waitNoPostgres(t, dataDir, "the command after a SIGKILLed one")
}

// TestCLILeavesServeRunning: a command run while `dw serve` uses the data directory's server
// adopts it and leaves it running; `dw serve` stops it when it stops.
func TestCLILeavesServeRunning(t *testing.T) {
	t.Parallel()
	dir, newProc, base := embeddedServe(t, "clileak")
	p := newProc()
	p.start(t)
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			p.dump(t)
		}
	})
	waitFor(t, 60*time.Second, "dw serve ready", func() bool { return ready(base) })
	pids := postmasters(t, dir)
	if len(pids) != 1 {
		t.Fatalf("postmasters of dw serve: %v", pids)
	}
	for range 2 {
		if out, ok := dwCLI(t, "migrate", "status", "--data-dir", dir); !ok || !strings.Contains(out, "applied") {
			t.Fatalf("migrate status: %s", out)
		}
		if got := postmasters(t, dir); len(got) != 1 || got[0] != pids[0] {
			t.Fatalf("after a command the postmasters are %v, want %v", got, pids)
		}
		if !ready(base) {
			t.Fatal("dw serve not ready after a command")
		}
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatal("dw serve did not stop on SIGTERM")
	}
	waitNoPostgres(t, dir, "dw serve stopped")
}

// TestCLIConcurrentCommands: a command run while another command uses the server that one
// started adopts it and leaves it running (the first is not cut off: it finishes all its
// sources); the first, last to let go, stops it.
func TestCLIConcurrentCommands(t *testing.T) {
	t.Parallel()
	dataDir := cliDataDir(t)
	logs := ingestSetup(t, dataDir)
	first, stdout, stderr := startIngest(t, dataDir, logs)
	pids := postmasters(t, dataDir)

	if out, ok := dwCLI(t, "sources", "list", "--data-dir", dataDir); !ok || !strings.Contains(out, "s7") {
		t.Fatalf("sources list beside dw ingest run: %s", out)
	}
	if got := postmasters(t, dataDir); len(got) != 1 || len(pids) != 1 || got[0] != pids[0] {
		t.Fatalf("postmasters %v after the second command, %v before", got, pids)
	}

	var rest bytes.Buffer
	if _, err := rest.ReadFrom(stdout); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, first); code != 0 {
		t.Fatalf("dw ingest run: exit code %d (stderr: %s)", code, stderr)
	}
	if !strings.Contains(rest.String(), "s7") {
		t.Errorf("dw ingest run did not finish its sources after the first line: %s", rest.String())
	}
	waitNoPostgres(t, dataDir, "both commands done")
}
