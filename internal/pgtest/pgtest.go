// Package pgtest gives every test its own real PostgreSQL database, fast.
//
// One private server (persistence/pgserver with NoFsync, in a temporary
// directory) runs per test binary. Main creates a template database and
// migrates it once; NewDB clones it for each test (CREATE DATABASE ...
// TEMPLATE, a file-level copy that takes milliseconds).
//
//	func TestMain(m *testing.M) {
//		os.Exit(pgtest.Main(m, pgtest.Options{Migrate: migrations.Up}))
//	}
//
//	func TestX(t *testing.T) {
//		url := pgtest.NewDB(t)
//		...
//	}
//
// A failed test's database is kept (and logged with a psql command) and the
// data directory is left in place after the run, with the server stopped.
package pgtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/divinewhispers/dw/persistence/pgserver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options configures Main.
type Options struct {
	// Migrate brings the template database (given by URL) to the current
	// schema. It must close all its connections before returning.
	Migrate func(ctx context.Context, databaseURL string) error
}

const templateDB = "pgtest_template"

var (
	srv       *pgserver.Server
	admin     *pgxpool.Pool // maintenance connections to the postgres database
	cloneMu   sync.Mutex    // Postgres refuses concurrent use of the template
	cloneOpts string        // extra CREATE DATABASE options
	seq       atomic.Int64
	kept      atomic.Bool // a failed test kept its database: keep the data dir
)

// Main starts one private server for the whole test binary, creates the
// template database migrated with o.Migrate, runs the tests, stops the
// server and removes its directory. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, opts)) }
func Main(m *testing.M, o Options) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	dir, err := setup(ctx, o)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		if srv != nil {
			_ = srv.Stop(context.Background())
		}
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
		return 1
	}
	// If the test binary dies without running the code below (go test
	// -timeout panic, a signal, os.Exit in a test), the watchdog stops the
	// server and removes the directory, so no orphan postgres is left.
	watchdog := startWatchdog(dir)

	code := m.Run()

	admin.Close()
	if watchdog != nil {
		_ = watchdog.Process.Kill()
		_ = watchdog.Wait()
	}
	stopErr := srv.Stop(context.Background())
	if stopErr != nil {
		fmt.Fprintf(os.Stderr, "pgtest: stop server: %v\n", stopErr)
	}
	if kept.Load() || stopErr != nil {
		fmt.Fprintf(os.Stderr, "pgtest: kept PostgreSQL data directory %s (server stopped; restart it with: %s)\n", dir, restartHint())
	} else if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: remove %s: %v\n", dir, err)
	}
	if code == 0 && stopErr != nil {
		code = 1
	}
	return code
}

func setup(ctx context.Context, o Options) (dir string, err error) {
	if _, err := pgserver.FindBinaries(); err != nil {
		return "", err
	}
	dir, err = os.MkdirTemp("", "dw-pgtest-")
	if err != nil {
		return "", err
	}
	if os.Geteuid() == 0 {
		// The server runs as the postgres user, which must traverse it.
		if err := os.Chmod(dir, 0o711); err != nil {
			return dir, err
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err = pgserver.Start(ctx, pgserver.Options{DataDir: dir, NoFsync: true, Logger: log})
	if err != nil {
		return dir, err
	}
	cfg, err := pgxpool.ParseConfig(ServerURL())
	if err != nil {
		return dir, err
	}
	cfg.MaxConns = 8
	if admin, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return dir, err
	}
	var version int
	if err := admin.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return dir, err
	}
	if version >= 150000 {
		// FILE_COPY (copy the files, checkpoint) beats the PG15 default
		// WAL_LOG (copy block by block through WAL) for small databases,
		// more so with fsync off.
		cloneOpts = " STRATEGY FILE_COPY"
	}
	tmpl := pgx.Identifier{templateDB}.Sanitize()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+tmpl); err != nil {
		return dir, fmt.Errorf("create template database: %w", err)
	}
	if o.Migrate != nil {
		if err := o.Migrate(ctx, srv.URLFor(templateDB)); err != nil {
			return dir, fmt.Errorf("migrate template database: %w", err)
		}
	}
	// Connections the migration left open would make every clone fail.
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", templateDB); err != nil {
		return dir, err
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+tmpl+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return dir, err
	}
	return dir, nil
}

// NewDB creates a database cloned from the migrated template and returns its
// URL. It is dropped when the test ends, unless the test failed: then it is
// kept for inspection and its psql command is logged.
func NewDB(t testing.TB) string {
	t.Helper()
	if srv == nil || admin == nil {
		t.Fatal("pgtest: NewDB needs a TestMain that calls pgtest.Main")
	}
	name := dbName(t.Name())
	ident := pgx.Identifier{name}.Sanitize()
	ctx := context.Background()

	cloneMu.Lock()
	_, err := admin.Exec(ctx, "CREATE DATABASE "+ident+" TEMPLATE "+pgx.Identifier{templateDB}.Sanitize()+cloneOpts)
	cloneMu.Unlock()
	if err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	url := srv.URLFor(name)
	t.Cleanup(func() {
		if t.Failed() {
			kept.Store(true)
			t.Logf("kept database %s for inspection: psql %q", name, url)
			return
		}
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return url
}

// ServerURL is the URL of the server's maintenance database (postgres), for
// tests that need to create extra databases.
func ServerURL() string {
	if srv == nil {
		panic("pgtest: ServerURL needs a TestMain that calls pgtest.Main")
	}
	return srv.URLFor("postgres")
}

// dbName makes a unique, valid database name that shows which test owns it.
func dbName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := fmt.Sprintf("t%d_%s", seq.Add(1), b.String())
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

func restartHint() string {
	bin, err := pgserver.FindBinaries()
	if err != nil || srv == nil {
		return "pg_ctl start"
	}
	cmd := fmt.Sprintf("%s -D %s -l %s.log start", filepath.Join(bin, "pg_ctl"), srv.DataDir(), srv.DataDir())
	if os.Geteuid() == 0 {
		cmd = "su postgres -s /bin/sh -c '" + cmd + "'"
	}
	return cmd
}

// watchdogScript waits for process $1 to end, then fast-stops the server in
// $2/postgres (SIGINT to the postmaster) and removes $2.
const watchdogScript = `
while kill -0 "$1" 2>/dev/null; do sleep 1; done
pid=$(head -n 1 "$2/postgres/postmaster.pid" 2>/dev/null) && kill -INT "$pid" 2>/dev/null
i=0
while [ -e "$2/postgres/postmaster.pid" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
rm -rf "$2"
`

func startWatchdog(dir string) *exec.Cmd {
	cmd := exec.Command("/bin/sh", "-c", watchdogScript, "pgtest-watchdog", fmt.Sprint(os.Getpid()), dir)
	// Own process group: a ^C to go test must not kill it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: no watchdog (server may be orphaned if the tests crash): %v\n", err)
		return nil
	}
	return cmd
}
