package node_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/persistence"
)

// dwCLI runs the dw binary with args and returns its combined output and whether it succeeded.
func dwCLI(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(dwBinary, args...)
	cmd.Dir = t.TempDir() // no stray .env
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// TestCLI drives the CLI as an operator would, against a migrated database.
func TestCLI(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDB(t)
	db := []string{"--database-url", url}

	out, ok := dwCLI(t, append([]string{"migrate", "status"}, db...)...)
	if !ok || !strings.Contains(out, "applied") || !strings.Contains(out, "001_foundation.sql") {
		t.Fatalf("migrate status: %s", out)
	}
	out, ok = dwCLI(t, append([]string{"user", "create", "--email", "op@cli.test", "--password", "operator-pass-1", "--role", "operator"}, db...)...)
	if !ok || !strings.Contains(out, "created operator user op@cli.test") {
		t.Fatalf("user create: %s", out)
	}
	if out, ok := dwCLI(t, append([]string{"user", "create", "--email", "op@cli.test", "--password", "operator-pass-1"}, db...)...); ok || !strings.Contains(out, "already exists") {
		t.Fatalf("duplicate user: %s", out)
	}
	if out, ok := dwCLI(t, append([]string{"user", "create", "--email", "not-an-email", "--password", "short"}, db...)...); ok || !strings.Contains(out, "email") || !strings.Contains(out, "8") {
		t.Fatalf("bad user input: %s", out)
	}
	out, _ = dwCLI(t, append([]string{"user", "list", "--role", "operator"}, db...)...)
	fields := strings.Fields(strings.Split(out, "\n")[1])
	if len(fields) < 5 || fields[1] != "op@cli.test" {
		t.Fatalf("user list: %s", out)
	}
	wallet := fields[4]

	out, ok = dwCLI(t, append([]string{"wallet", "deposit", wallet, "70", "--reference", "inv-1", "--idempotency-key", "inv-1"}, db...)...)
	if !ok || !strings.Contains(out, "deposited 70") {
		t.Fatalf("deposit: %s", out)
	}
	out, _ = dwCLI(t, append([]string{"wallet", "deposit", wallet, "70", "--reference", "inv-1", "--idempotency-key", "inv-1"}, db...)...)
	if !strings.Contains(out, "already done with this idempotency key") {
		t.Fatalf("replayed deposit: %s", out)
	}
	for _, bad := range [][]string{{"wallet", "deposit", wallet, "-5"}, {"wallet", "deposit", "nope", "5"}, {"wallet", "deposit", wallet, "1e3"}} {
		if out, ok := dwCLI(t, append(bad, db...)...); ok {
			t.Fatalf("%v succeeded: %s", bad, out)
		}
	}
	out, _ = dwCLI(t, append([]string{"wallet", "show", wallet}, db...)...)
	if !strings.Contains(out, "balance   70") || !strings.Contains(out, "seq       1") {
		t.Fatalf("wallet show: %s", out)
	}

	// Poems: the bundled set is stored on `dw serve`'s first start; here we import it ourselves.
	dir := t.TempDir()
	csv := filepath.Join(dir, "set.csv")
	if out, ok := dwCLI(t, "poems", "list", "--database-url", url); !ok {
		t.Fatalf("poems list: %s", out)
	}
	good := "set_slug,set_name,language,number,title,line1,line2,line3,line4,level,overall\n" +
		"cli-set,測試,zh-TW,1,一,春來花自開,夏至雨初來,秋深葉漸落,冬雪待春回,上,順其自然。\n" +
		"cli-set,測試,zh-TW,2,二,山高路自遠,水長舟自行,莫愁前路險,心定事自成,中,守成待時。\n"
	if err := os.WriteFile(csv, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, ok := dwCLI(t, append([]string{"poems", "import", csv}, db...)...); !ok || !strings.Contains(out, "imported cli-set (測試): 2 poems") {
		t.Fatalf("import: %s", out)
	}
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte(strings.Replace(strings.Replace(good, ",中,", ",大吉,", 1), "cli-set", "cli-bad", -1)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, ok = dwCLI(t, append([]string{"poems", "import", bad}, db...)...)
	if ok || !strings.Contains(out, "line 3") || !strings.Contains(out, "level") || !strings.Contains(out, "nothing was imported") {
		t.Fatalf("bad import: %s", out)
	}
	store, err := persistence.Open(t.Context(), url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Set(t.Context(), "cli-bad"); err == nil {
		t.Fatal("a refused set was stored")
	}
	out, ok = dwCLI(t, append([]string{"poems", "export", "cli-set", "--format", "csv"}, db...)...)
	if !ok || !strings.Contains(out, "春來花自開") || !strings.HasPrefix(out, "set_slug") {
		t.Fatalf("export: %s", out)
	}
	if out, ok := dwCLI(t, append([]string{"poems", "export", "missing"}, db...)...); ok || !strings.Contains(out, "dw poems list") {
		t.Fatalf("export of a missing set: %s", out)
	}
	// Compute accounting: a source, an ingest pass, a second pass that reads nothing again.
	logs := t.TempDir()
	fixture, err := os.ReadFile("../accounting/testdata/sacct.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logs, "sacct-2024-03.txt"), fixture, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, ok := dwCLI(t, append([]string{"sources", "add", "--name", "hpc1", "--dir", logs, "--format", "slurm-sacct",
		"--cluster", "hpc1", "--glob", "*.txt", "--interval", "30s", "--timezone", "Asia/Taipei", "--ingest-root", logs}, db...)...); !ok {
		t.Fatalf("sources add: %s", out)
	}
	if out, ok := dwCLI(t, append([]string{"sources", "add", "--name", "bad", "--dir", "/no/such/dir", "--format", "lsf", "--cluster", "x", "--ingest-root", logs}, db...)...); ok || !strings.Contains(out, "--format") || !strings.Contains(out, "--dir") {
		t.Fatalf("bad source: %s", out)
	}
	if out, _ := dwCLI(t, append([]string{"sources", "list"}, db...)...); !strings.Contains(out, "hpc1") || !strings.Contains(out, "slurm-sacct") {
		t.Fatalf("sources list: %s", out)
	}
	first, ok := dwCLI(t, append([]string{"ingest", "run", "--source", "hpc1", "--ingest-root", logs}, db...)...)
	if !ok {
		t.Fatalf("ingest run: %s", first)
	}
	var records int
	if err := store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM usage_records`).Scan(&records); err != nil || records != 13 {
		t.Fatalf("after the first pass: %d usage records (%v), want 13; output: %s", records, err, first)
	}
	if out, ok := dwCLI(t, append([]string{"ingest", "run", "--ingest-root", logs}, db...)...); !ok {
		t.Fatalf("second ingest run: %s", out)
	}
	if err := store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM usage_records`).Scan(&records); err != nil || records != 13 {
		t.Fatalf("after the second pass: %d usage records, want still 13", records)
	}
	if out, _ := dwCLI(t, append([]string{"ingest", "errors", "--source", "hpc1"}, db...)...); !strings.Contains(out, "17") {
		t.Fatalf("ingest errors (the fixture's bad line 17): %s", out)
	}
	if out, ok := dwCLI(t, append([]string{"sources", "remove", "hpc1"}, db...)...); !ok {
		t.Fatalf("sources remove: %s", out)
	}

	// Without SET: the only set there is.
	if out, ok := dwCLI(t, append([]string{"poems", "export"}, db...)...); !ok || !strings.Contains(out, `"slug": "cli-set"`) {
		t.Fatalf("export without a set: %s", out)
	}
}

// TestCLIWritesNoKey: a command that signs no token, run with --database-url from some
// directory, leaves no ./var/jwt.key behind (one was once committed from a test's directory).
func TestCLIWritesNoKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(dwBinary, "user", "create", "--email", "nokey@cli.test", "--password", "quartz-lantern-nokey-1",
		"--database-url", pgtest.NewDB(t))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "created user user nokey@cli.test") {
		t.Fatalf("user create: %v\n%s", err, out)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Fatalf("the command left files in its directory: %v %v", entries, err)
	}
}
