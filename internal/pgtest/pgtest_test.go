package pgtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"
)

func migrate(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE items (id serial PRIMARY KEY, owner text NOT NULL);
		INSERT INTO items (owner) VALUES ('migration')`)
	return err
}

func TestMain(m *testing.M) {
	code := Main(m, Options{Migrate: migrate})
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Two parallel tests write into their own databases and must not see each
// other's rows; both start from the migrated template.
func TestIsolation(t *testing.T) {
	for _, name := range []string{"a", "b"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t0 := time.Now()
			url := NewDB(t)
			t.Logf("NewDB took %v", time.Since(t0))
			conn := connect(t, url)
			ctx := context.Background()
			for i := 0; i < 5; i++ {
				if _, err := conn.Exec(ctx, "INSERT INTO items (owner) VALUES ($1)", name); err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Millisecond) // interleave with the other test
			}
			var mine, others, total int
			err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE owner = $1),
				count(*) FILTER (WHERE owner NOT IN ($1, 'migration')), count(*) FROM items`, name).Scan(&mine, &others, &total)
			if err != nil {
				t.Fatal(err)
			}
			if mine != 5 || others != 0 || total != 6 {
				t.Fatalf("mine=%d others=%d total=%d, want 5 0 6", mine, others, total)
			}
		})
	}
}

func TestNewDBSpeed(t *testing.T) {
	const n = 10
	var total time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		NewDB(t)
		total += time.Since(t0)
	}
	t.Logf("NewDB: %v on average over %d clones", total/n, n)
}

func TestDroppedAfterTest(t *testing.T) {
	var url string
	t.Run("inner", func(t *testing.T) { url = NewDB(t) })
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	var exists bool
	conn := connect(t, ServerURL())
	if err := conn.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", cfg.Database).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("database %s still exists after its test passed", cfg.Database)
	}
}

// fakeTB is a failed test, to check that its database is kept.
type fakeTB struct {
	testing.TB
	cleanups []func()
	logs     []string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Name() string      { return "FakeFailed" }
func (f *fakeTB) Failed() bool      { return true }
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Fatalf(format string, args ...any) { f.TB.Fatalf(format, args...) }

func TestFailedTestKeepsDB(t *testing.T) {
	f := &fakeTB{TB: t}
	url := NewDB(f)
	for _, fn := range f.cleanups {
		fn()
	}
	if len(f.logs) != 1 || !contains(f.logs[0], "kept database t") || !contains(f.logs[0], "psql") {
		t.Fatalf("logs = %q", f.logs)
	}
	if !kept.Load() {
		t.Fatal("kept flag not set")
	}
	// Clean up by hand, so this run still removes its data directory.
	kept.Store(false)
	cfg, _ := pgx.ParseConfig(url)
	conn := connect(t, ServerURL())
	if _, err := conn.Exec(context.Background(), "DROP DATABASE "+pgx.Identifier{cfg.Database}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Fatalf("kept database is not there: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
