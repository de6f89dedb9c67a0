package node_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/divinewhispers/dw/persistence"
)

// TestIngestRootAttack replays finding 1 of issue 9 against a running `dw serve`: an operator
// names the node's data directory (glob jwt.key), or /etc (glob shadow), as an ingest source,
// to read the first line of the file back from GET /api/v1/accounting/errors. With
// --ingest-root the node refuses every such source — whatever the path, symlinks and globs
// used — answers the same for paths outside the roots that exist and that do not, audits
// each refusal, never reads a symlinked file leading outside the root, and refuses at scan
// time a source whose directory was swapped for a symlink after it was added.
func TestIngestRootAttack(t *testing.T) {
	t.Parallel()
	root, dataDir := t.TempDir(), t.TempDir()
	keyPath := filepath.Join(dataDir, "jwt.key")
	if err := os.WriteFile(keyPath, []byte(jwtKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, base, url := startSingle(t, "--data-dir", dataDir, "--ingest-root", root)
	store, err := persistence.Open(t.Context(), url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if out, ok := dwCLI(t, "user", "create", "--email", "op@root.test", "--password", "Ingest-Root-Operator-7q!", "--role", "operator", "--database-url", url); !ok {
		t.Fatalf("user create: %s", out)
	}
	op := mustCall(t, 200, "POST", base+"/api/v1/auth/login", "", "", map[string]string{"email": "op@root.test", "password": "Ingest-Root-Operator-7q!"})["access_token"].(string)
	admin := createAdmin(t, base, "--database-url", url)

	outside := func(dir string) string {
		return "dir " + dir + " is not inside an ingest root (" + root + "): sources may only read directories under --ingest-root (DW_INGEST_ROOTS)"
	}
	if err := os.Symlink(dataDir, filepath.Join(root, "keys")); err != nil {
		t.Fatal(err)
	}
	refusals := 0
	for _, c := range []struct{ name, dir, glob, code, detail string }{
		{"the data dir", dataDir, "jwt.key", "dir_outside_ingest_roots", outside(dataDir)},
		{"/etc", "/etc", "shadow", "dir_outside_ingest_roots", outside("/etc")},
		{"a dir outside that does not exist", "/etc-not-here", "shadow", "dir_outside_ingest_roots", outside("/etc-not-here")},
		{"dot-dot from the root", root + "/../" + filepath.Base(dataDir), "jwt.key", "dir_outside_ingest_roots", outside(root + "/../" + filepath.Base(dataDir))},
		{"a symlink in the root to the data dir", filepath.Join(root, "keys"), "jwt.key", "dir_outside_ingest_roots", outside(filepath.Join(root, "keys"))},
		{"a glob climbing out", root, "../" + filepath.Base(dataDir) + "/jwt.key", "glob_outside_dir", ""},
	} {
		r, err := call(t, "POST", base+"/api/v1/accounting/sources", op, "", map[string]any{
			"name": "steal", "dir": c.dir, "glob": c.glob, "format": "slurm-sacct", "cluster": "x", "interval": "1s"})
		if err != nil {
			t.Fatal(err)
		}
		refusals++
		if r.status != 400 || r.body["code"] != c.code || c.detail != "" && r.body["detail"] != c.detail {
			t.Errorf("%s: %d %v; want 400 %s %q", c.name, r.status, r.body, c.code, c.detail)
		}
	}
	// The same message shape for a path that exists and one that does not.
	etc := mustCallStatus(t, 400, "POST", base+"/api/v1/accounting/sources", op, map[string]any{"name": "s", "dir": "/etc", "glob": "shadow", "format": "pbs", "cluster": "x"})
	gone := mustCallStatus(t, 400, "POST", base+"/api/v1/accounting/sources", op, map[string]any{"name": "s", "dir": "/etd", "glob": "shadow", "format": "pbs", "cluster": "x"})
	refusals += 2
	if strings.Replace(etc["detail"].(string), "/etc", "/etd", 1) != gone["detail"] || etc["code"] != gone["code"] {
		t.Errorf("existing and missing paths outside answer differently:\n%v\n%v", etc, gone)
	}
	if srcs := mustCall(t, 200, "GET", base+"/api/v1/accounting/sources", op, "", nil)["items"].([]any); len(srcs) != 0 {
		t.Fatalf("refused sources were stored: %v", srcs)
	}

	// A source inside the root whose directory holds a symlink to the key and a real log.
	logs := filepath.Join(root, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(keyPath, filepath.Join(logs, "jwt.key")); err != nil {
		t.Fatal(err)
	}
	fixture, err := os.ReadFile("../accounting/testdata/sacct.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logs, "sacct.txt"), fixture, 0o644); err != nil {
		t.Fatal(err)
	}
	src := mustCall(t, 201, "POST", base+"/api/v1/accounting/sources", op, "", map[string]any{
		"name": "logs", "dir": logs, "format": "slurm-sacct", "cluster": "rooted", "interval": "1s"})
	srcID := src["id"].(string)
	count := func() int {
		var n int
		_ = store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM usage_records WHERE cluster = 'rooted'`).Scan(&n)
		return n
	}
	waitFor(t, 30*time.Second, "the log beside the symlinked key to be ingested", func() bool { return count() == 13 })
	files := mustCall(t, 200, "GET", base+"/api/v1/accounting/sources/"+srcID+"/files", op, "", nil)["items"].([]any)
	if len(files) != 1 || !strings.HasSuffix(files[0].(map[string]any)["path"].(string), "sacct.txt") {
		t.Errorf("files read: %v; want only sacct.txt, not the symlinked key", files)
	}

	// Patching the source to the data dir is refused too.
	if r, _ := call(t, "PATCH", base+"/api/v1/accounting/sources/"+srcID, op, "", map[string]any{"dir": dataDir, "glob": "jwt.key"}); r.status != 400 || r.body["code"] != "dir_outside_ingest_roots" {
		t.Errorf("patch to the data dir: %d %v", r.status, r.body)
	}
	refusals++

	// The directory swapped for a symlink to the data dir: the next scans are refused, once
	// recorded as an error of the source and audited.
	if err := os.Rename(logs, logs+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dataDir, logs); err != nil {
		t.Fatal(err)
	}
	refusedScans := func() (msgs []string) {
		for _, e := range mustCall(t, 200, "GET", base+"/api/v1/accounting/errors?source=logs", op, "", nil)["items"].([]any) {
			if e := e.(map[string]any); e["line"].(float64) == 0 {
				msgs = append(msgs, e["message"].(string))
			}
		}
		return msgs
	}
	waitFor(t, 30*time.Second, "the swapped source's scan to be refused", func() bool { return len(refusedScans()) > 0 })
	if msg := refusedScans()[0]; !strings.Contains(msg, "scan refused") || !strings.Contains(msg, "not inside an ingest root") {
		t.Errorf("refused scan recorded as %q", msg)
	}
	refusals++

	// Nothing of the key anywhere an operator can read, and every refusal audited.
	for _, path := range []string{"/api/v1/accounting/errors?limit=1000", "/api/v1/accounting/sources/" + srcID + "/files"} {
		r, err := call(t, "GET", base+path, op, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if b := fmt.Sprint(r.body); strings.Contains(b, jwtKey[:16]) {
			t.Errorf("GET %s shows the key: %s", path, b)
		}
	}
	waitFor(t, 10*time.Second, "every refusal audited", func() bool {
		rows := mustCall(t, 200, "GET", base+"/api/v1/admin/audit-logs?action=accounting.source.refused&page_size=100", admin, "", nil)["items"].([]any)
		return len(rows) == refusals
	})
	// Repeated refused scans are not recorded again.
	refused := func() int { return metric(base, `dw_ingest_scans_total{node="single",outcome="error",source="logs"}`) }
	after := refused()
	waitFor(t, 30*time.Second, "two more refused scans", func() bool { return refused() >= after+2 })
	if n := len(refusedScans()); n != 1 {
		t.Errorf("%d refusals recorded for the swapped source, want 1", n)
	}
}

// mustCallStatus calls without an idempotency key and wants status.
func mustCallStatus(t *testing.T, want int, method, url, token string, body any) map[string]any {
	t.Helper()
	return mustCall(t, want, method, url, token, "", body)
}

// TestIngestRootRequired: a node started without --ingest-root refuses every source with a
// message naming the flag, and so does `dw sources add`.
func TestIngestRootRequired(t *testing.T) {
	t.Parallel()
	_, base, url := startSingle(t)
	admin := createAdmin(t, base, "--database-url", url)
	r, err := call(t, "POST", base+"/api/v1/accounting/sources", admin, "", map[string]any{
		"name": "x", "dir": t.TempDir(), "format": "slurm-sacct", "cluster": "x"})
	if err != nil {
		t.Fatal(err)
	}
	detail, _ := r.body["detail"].(string)
	if r.status != 400 || r.body["code"] != "ingest_root_required" || !strings.Contains(detail, "--ingest-root") || !strings.Contains(detail, "DW_INGEST_ROOTS") {
		t.Errorf("no root: %d %v; want 400 ingest_root_required naming --ingest-root and DW_INGEST_ROOTS", r.status, r.body)
	}
	out, ok := dwCLI(t, "sources", "add", "--name", "x", "--dir", t.TempDir(), "--format", "slurm-sacct", "--cluster", "x", "--database-url", url)
	if ok || !strings.Contains(out, "--ingest-root") {
		t.Errorf("dw sources add without a root: ok=%t %s", ok, out)
	}
	// DW_INGEST_ROOTS is read by the CLI too.
	logs := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dwBinary, "sources", "add", "--name", "y", "--dir", logs, "--format", "slurm-sacct", "--cluster", "y", "--database-url", url)
	cmd.Dir, cmd.Env = t.TempDir(), append(os.Environ(), "DW_INGEST_ROOTS=/nonexistent-root,"+filepath.Dir(logs))
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "--ingest-root /nonexistent-root must be an existing directory") {
		t.Errorf("DW_INGEST_ROOTS with a missing root: %v %s", err, b)
	}
	cmd = exec.Command(dwBinary, "sources", "add", "--name", "y", "--dir", logs, "--format", "slurm-sacct", "--cluster", "y", "--database-url", url)
	cmd.Dir, cmd.Env = t.TempDir(), append(os.Environ(), "DW_INGEST_ROOTS="+filepath.Dir(logs))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("DW_INGEST_ROOTS: %v %s", err, b)
	}

	// `dw ingest run` checks again: the directory swapped for a symlink to a secret is refused,
	// said, and not read.
	secretDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(secretDir, "shadow"), []byte("root:$6$CLISECRET:19000::::::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(logs); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secretDir, logs); err != nil {
		t.Fatal(err)
	}
	out, ok = dwCLI(t, "ingest", "run", "--ingest-root", filepath.Dir(logs), "--database-url", url)
	if ok || !strings.Contains(out, "y: refused: --dir "+logs+" is not inside an ingest root") || strings.Contains(out, "CLISECRET") {
		t.Errorf("dw ingest run of a swapped source: ok=%t %s", ok, out)
	}
	if out, _ := dwCLI(t, "ingest", "errors", "--database-url", url); strings.Contains(out, "CLISECRET") || !strings.Contains(out, "scan refused") {
		t.Errorf("dw ingest errors: %s", out)
	}
}

// TestDataDirInsideIngestRoot: a node whose data directory (keys, the embedded PostgreSQL)
// lies inside an ingest root, or holds one, refuses to start, naming both settings.
func TestDataDirInsideIngestRoot(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	link := filepath.Join(t.TempDir(), "root-link")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		env  string
	}{
		{"data dir inside a root", []string{"--data-dir", filepath.Join(root, "var"), "--ingest-root", root}, ""},
		{"the data dir is a root", []string{"--data-dir", root, "--ingest-root", root}, ""},
		{"a root inside the data dir", []string{"--data-dir", filepath.Dir(root), "--ingest-root", root}, ""},
		{"inside through a symlink", []string{"--data-dir", filepath.Join(link, "var"), "--ingest-root", root}, ""},
		{"roots from DW_INGEST_ROOTS", []string{"--data-dir", filepath.Join(root, "var")}, "DW_INGEST_ROOTS=" + t.TempDir() + "," + root},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		cmd := exec.CommandContext(ctx, dwBinary, append(serveArgs("overlap", freePort(t), freePort(t), freePort(t)), c.args...)...)
		cmd.Dir, cmd.Env = t.TempDir(), append(os.Environ(), "DW_JWT_KEY="+jwtKey)
		if c.env != "" {
			cmd.Env = append(cmd.Env, c.env)
		}
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil || !strings.Contains(string(out), "overlap") || !strings.Contains(string(out), "--data-dir") {
			t.Errorf("%s: dw serve started or failed otherwise: %v\n%s", c.name, err, out)
		}
	}
}
