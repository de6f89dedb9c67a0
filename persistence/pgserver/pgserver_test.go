package pgserver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func needBinaries(t *testing.T) {
	t.Helper()
	if _, err := FindBinaries(); err != nil {
		t.Fatalf("%v (make test installs them: run it, or scripts/ensure-deps.sh)", err)
	}
}

// dataDir returns a fresh data directory. When the tests run as root the
// server runs as the postgres user, which must be able to traverse to it;
// t.TempDir's parent is created 0700, so open it up (it is ours).
func dataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		for d := dir; d != os.TempDir() && d != filepath.Dir(d); d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
	}
	return filepath.Join(dir, "dw")
}

func start(t *testing.T, dir string) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{DataDir: dir, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("cleanup stop: %v", err)
		}
	})
	return s
}

func execSQL(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatal(err)
	}
}

func queryInt(t *testing.T, url, sql string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStartQueryStopRestart(t *testing.T) {
	needBinaries(t)
	dir := dataDir(t)
	t0 := time.Now()
	s := start(t, dir)
	t.Logf("fresh start (initdb+start+createdb) took %v", time.Since(t0))
	if !strings.HasPrefix(s.URL(), "postgres://dw:") || !strings.HasSuffix(s.URL(), "/dw?sslmode=disable") {
		t.Fatalf("unexpected URL shape")
	}
	execSQL(t, s.URL(), "CREATE TABLE t (v int); INSERT INTO t VALUES (1), (2)")
	if n := queryInt(t, s.URL(), "SELECT sum(v) FROM t"); n != 3 {
		t.Fatalf("sum = %d", n)
	}
	st, err := os.Stat(filepath.Join(dir, passwordFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v", st.Mode().Perm())
	}
	if url, ok := RunningURL(dir); !ok || url != s.URL() {
		t.Errorf("RunningURL = %v, %v", url != "", ok)
	}

	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, ok := RunningURL(dir); ok {
		t.Fatal("RunningURL after Stop reports running")
	}

	t0 = time.Now()
	s2 := start(t, dir)
	t.Logf("restart took %v", time.Since(t0))
	if s2.URL() != s.URL() {
		t.Fatal("URL (port/password) changed across restart")
	}
	if s2.Adopted() {
		t.Error("restart after Stop claims to have adopted")
	}
	if n := queryInt(t, s2.URL(), "SELECT sum(v) FROM t"); n != 3 {
		t.Fatalf("after restart sum = %d", n)
	}
}

func TestAdoptAndCrashRecovery(t *testing.T) {
	needBinaries(t)
	dir := dataDir(t)
	// With NoFsync (synchronous_commit=off) the last commits may be lost
	// in a crash, so test crash recovery with the production settings.
	s1, err := Start(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	execSQL(t, s1.URL(), "CREATE TABLE t (v int); INSERT INTO t VALUES (42)")

	// Our process "died" without stopping the server: a new Start adopts it.
	s2 := start(t, dir)
	if !s2.Adopted() {
		t.Fatal("second Start did not adopt the running server")
	}
	if s2.URL() != s1.URL() {
		t.Fatal("adopted server has another URL")
	}
	if n := queryInt(t, s2.URL(), "SELECT v FROM t"); n != 42 {
		t.Fatalf("v = %d", n)
	}

	// Now the postmaster itself is killed.
	pid, err := readPostmasterPID(s2.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatal("postmaster survived SIGKILL")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := RunningURL(dir); ok {
		t.Fatal("RunningURL reports a killed server as running")
	}

	t0 := time.Now()
	s3 := start(t, dir)
	t.Logf("start after SIGKILL of postmaster took %v", time.Since(t0))
	if s3.Adopted() {
		t.Error("Start after crash claims to have adopted")
	}
	if n := queryInt(t, s3.URL(), "SELECT v FROM t"); n != 42 {
		t.Fatalf("after crash recovery v = %d", n)
	}
}

func TestFindBinariesMissing(t *testing.T) {
	t.Setenv("PATH", "")
	old := BinaryGlob
	BinaryGlob = filepath.Join(t.TempDir(), "*", "bin")
	defer func() { BinaryGlob = old }()
	_, err := FindBinaries()
	if err == nil {
		t.Fatal("FindBinaries succeeded without binaries")
	}
	for _, want := range []string{"apt-get install postgresql", "--database-url", "DW_DATABASE_URL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestFindBinariesHighestVersion(t *testing.T) {
	t.Setenv("PATH", "")
	root := t.TempDir()
	for _, v := range []string{"9.6", "15", "13"} {
		bin := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"initdb", "pg_ctl", "postgres"} {
			if err := os.WriteFile(filepath.Join(bin, f), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	old := BinaryGlob
	BinaryGlob = filepath.Join(root, "*", "bin")
	defer func() { BinaryGlob = old }()
	dir, err := FindBinaries()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "15", "bin"); dir != want {
		t.Fatalf("FindBinaries = %s, want %s", dir, want)
	}
}

// TestRootTraversalCheck: as root, dw runs PostgreSQL as the postgres user, so a data directory
// that user cannot reach must be refused with a message naming it and --data-dir. Run as any
// other user, PostgreSQL runs as that same user and there is no such check to exercise (CI here
// runs as root, so it runs there).
func TestRootTraversalCheck(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the postgres-user traversal check exists only when dw runs as root (it then starts PostgreSQL as postgres)")
	}
	needBinaries(t)
	dir := dataDir(t)
	blocked := filepath.Join(filepath.Dir(dir), "private")
	if err := os.Mkdir(blocked, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{DataDir: filepath.Join(blocked, "dw"), NoFsync: true})
	if err == nil {
		t.Fatal("Start succeeded in a directory the postgres user cannot reach")
	}
	if !strings.Contains(err.Error(), blocked) || !strings.Contains(err.Error(), "--data-dir") {
		t.Fatalf("unhelpful error: %v", err)
	}
	t.Logf("error: %v", err)
}

func TestReadPort(t *testing.T) {
	dir := t.TempDir()
	conf := "# Do not edit this file manually!\nport = 5000\nwork_mem = '4MB'\nport = '6123' # later wins\n"
	if err := os.WriteFile(filepath.Join(dir, "postgresql.auto.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := readPort(dir)
	if err != nil || p != 6123 {
		t.Fatalf("readPort = %d, %v", p, err)
	}
}
