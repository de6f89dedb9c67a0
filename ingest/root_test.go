package ingest_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/ingest"
	"github.com/divinewhispers/dw/persistence"
)

// tree is a root with a subdirectory, a sibling whose name extends the root's, a directory
// outside, and symlinks across the boundary both ways.
type tree struct {
	root, sub, sibling, outside string
}

func newTree(tb testing.TB) tree {
	tb.Helper()
	base, err := filepath.EvalSymlinks(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tr := tree{root: filepath.Join(base, "logs"), sibling: filepath.Join(base, "logs2"), outside: filepath.Join(base, "secret")}
	tr.sub = filepath.Join(tr.root, "alpha")
	for _, d := range []string{tr.sub, tr.sibling, tr.outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	mustSymlink(tb, tr.outside, filepath.Join(tr.root, "escape"))      // inside → outside
	mustSymlink(tb, tr.sub, filepath.Join(base, "alias"))              // outside → inside
	mustSymlink(tb, "/etc", filepath.Join(tr.root, "etc"))             // inside → /etc
	mustSymlink(tb, "nowhere", filepath.Join(tr.root, "dangling"))     // inside, dangling
	mustSymlink(tb, tr.root+"/../secret", filepath.Join(tr.sub, "up")) // inside → .. → outside
	return tr
}

func mustSymlink(tb testing.TB, target, link string) {
	tb.Helper()
	if err := os.Symlink(target, link); err != nil {
		tb.Fatal(err)
	}
}

func TestCheckDir(t *testing.T) {
	t.Parallel()
	tr := newTree(t)
	roots := []string{tr.root}
	outside := func(dir string) string {
		return "--dir " + dir + " is not inside an ingest root (" + tr.root + "): sources may only read directories under --ingest-root (DW_INGEST_ROOTS)"
	}
	for _, tc := range []struct {
		name, dir string
		want      string // the resolved directory; "" when refused
		code      string
		msg       string
	}{
		{"the root itself", tr.root, tr.root, "", ""},
		{"a subdirectory", tr.sub, tr.sub, "", ""},
		{"up and down again", tr.sub + "/../alpha", tr.sub, "", ""},
		{"a symlink from outside into the root", filepath.Join(filepath.Dir(tr.root), "alias"), tr.sub, "", ""},
		{"missing inside", filepath.Join(tr.root, "nope"), "", "invalid", "--dir " + filepath.Join(tr.root, "nope") + ": no such directory"},
		{"dangling symlink inside", filepath.Join(tr.root, "dangling"), "", "invalid", "--dir " + filepath.Join(tr.root, "dangling") + ": no such directory"},
		{"a sibling sharing the root's prefix", tr.sibling, "", ingest.CodeOutsideRoots, outside(tr.sibling)},
		{"dot-dot out of the root", tr.root + "/../secret", "", ingest.CodeOutsideRoots, outside(tr.root + "/../secret")},
		{"a symlink inside leading outside", filepath.Join(tr.root, "escape"), "", ingest.CodeOutsideRoots, outside(filepath.Join(tr.root, "escape"))},
		{"below a symlink leading outside", filepath.Join(tr.root, "escape", "x"), "", ingest.CodeOutsideRoots, outside(filepath.Join(tr.root, "escape", "x"))},
		{"a symlink to /etc", filepath.Join(tr.root, "etc"), "", ingest.CodeOutsideRoots, outside(filepath.Join(tr.root, "etc"))},
		{"a relative symlink climbing out", filepath.Join(tr.sub, "up"), "", ingest.CodeOutsideRoots, outside(filepath.Join(tr.sub, "up"))},
		// The same answer for what exists outside and what does not.
		{"/etc", "/etc", "", ingest.CodeOutsideRoots, outside("/etc")},
		{"missing outside", "/no/such/dir", "", ingest.CodeOutsideRoots, outside("/no/such/dir")},
		{"missing under an existing outside dir", tr.outside + "/none", "", ingest.CodeOutsideRoots, outside(tr.outside + "/none")},
		{"/", "/", "", ingest.CodeOutsideRoots, outside("/")},
		{"a NUL byte", tr.root + "\x00", "", ingest.CodeOutsideRoots, outside(tr.root + "\x00")},
	} {
		got, err := ingest.CheckDir(roots, tc.dir)
		switch {
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("%s: CheckDir(%q) = %q, %v; want %q", tc.name, tc.dir, got, err, tc.want)
		case tc.want == "" && err == nil:
			t.Errorf("%s: CheckDir(%q) = %q; want refused", tc.name, tc.dir, got)
		case tc.want == "" && (dw.CodeOf(err) != tc.code || dw.MessageOf(err) != tc.msg || dw.KindOf(err) != dw.KindInvalid):
			t.Errorf("%s: CheckDir(%q): %s %q; want %s %q", tc.name, tc.dir, dw.CodeOf(err), dw.MessageOf(err), tc.code, tc.msg)
		}
	}

	_, err := ingest.CheckDir(nil, tr.sub)
	if dw.CodeOf(err) != ingest.CodeRootRequired || !strings.Contains(dw.MessageOf(err), "--ingest-root") || !strings.Contains(dw.MessageOf(err), "DW_INGEST_ROOTS") {
		t.Errorf("no roots: %v; want %s naming --ingest-root and DW_INGEST_ROOTS", err, ingest.CodeRootRequired)
	}
	// A root given through a symlink is resolved too.
	if got, err := ingest.CheckDir([]string{filepath.Join(filepath.Dir(tr.root), "alias")}, tr.sub); err != nil || got != tr.sub {
		t.Errorf("root through a symlink: %q, %v", got, err)
	}
}

func TestCheckGlob(t *testing.T) {
	t.Parallel()
	for _, g := range []string{"*", "*.log", "sacct-*.txt*", "[a-z]?.gz", ".hidden*"} {
		if err := ingest.CheckGlob(g); err != nil {
			t.Errorf("CheckGlob(%q) = %v", g, err)
		}
	}
	for _, g := range []string{"../*", "..", "a/b", "*/shadow", "/etc/shadow", `..\x`, "[/]etc", "x\x00"} {
		if err := ingest.CheckGlob(g); dw.CodeOf(err) != ingest.CodeGlobEscapes {
			t.Errorf("CheckGlob(%q) = %v; want %s", g, err, ingest.CodeGlobEscapes)
		}
	}
}

func TestCheckRoots(t *testing.T) {
	t.Parallel()
	tr := newTree(t)
	base := filepath.Dir(tr.root)
	mustSymlink(t, tr.root, filepath.Join(base, "rootlink"))
	for _, tc := range []struct {
		name    string
		roots   []string
		data    string
		wantErr string
	}{
		{"apart", []string{tr.root}, tr.outside, ""},
		{"apart, data dir not made yet", []string{tr.root}, filepath.Join(tr.outside, "var"), ""},
		{"no roots", nil, tr.outside, ""},
		{"data dir inside a root", []string{tr.root}, filepath.Join(tr.root, "var"), "overlap"},
		{"data dir is a root", []string{tr.sub}, tr.sub, "overlap"},
		{"a root inside the data dir", []string{tr.sub}, tr.root, "overlap"},
		{"data dir inside through a symlink", []string{filepath.Join(base, "rootlink")}, filepath.Join(tr.sub, "var"), "overlap"},
		{"data dir reaching a root through a symlink", []string{tr.sub}, filepath.Join(base, "alias", "var"), "overlap"},
		{"root /", []string{"/"}, tr.outside, "overlap"},
		{"missing root", []string{filepath.Join(base, "none")}, tr.outside, "must be an existing directory"},
		{"empty root", []string{""}, tr.outside, "must not be empty"},
	} {
		err := ingest.CheckRoots(tc.roots, tc.data)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: CheckRoots(%q, %q) = %v; want %q", tc.name, tc.roots, tc.data, err, tc.wantErr)
		}
	}
}

// FuzzCheckDir: whatever path string is given, what CheckDir accepts resolves inside the root
// on whole components, and what lies outside gets the one message naming only the path given.
func FuzzCheckDir(f *testing.F) {
	for _, s := range []string{"", ".", "..", "../", "/", "/etc", "/etc/shadow", "ROOT", "ROOT/", "ROOT/..", "ROOT/../secret",
		"ROOT/alpha", "ROOT/alpha/../../secret", "ROOTx", "ROOT2", "ROOT/escape", "ROOT/escape/..", "ROOT/etc/shadow",
		"ROOT/./alpha//", "ROOT/alpha/up", "ROOT/dangling", "ROOT\x00/alpha", "ROOT/\xff", "//ROOT", "ROOT/alpha/../../logs/alpha"} {
		f.Add(s)
	}
	tr := newTree(f)
	f.Fuzz(func(t *testing.T, s string) {
		dir := strings.ReplaceAll(s, "ROOT", tr.root)
		got, err := ingest.CheckDir([]string{tr.root}, dir)
		if err == nil {
			if got != tr.root && !strings.HasPrefix(got, tr.root+"/") {
				t.Fatalf("CheckDir(%q) = %q: outside the root %s", dir, got, tr.root)
			}
			if r, err := filepath.EvalSymlinks(got); err != nil || r != got {
				t.Fatalf("CheckDir(%q) = %q, which is not resolved (%q, %v)", dir, got, r, err)
			}
			return
		}
		switch dw.CodeOf(err) {
		case ingest.CodeOutsideRoots:
			want := "--dir " + dir + " is not inside an ingest root (" + tr.root + "): sources may only read directories under --ingest-root (DW_INGEST_ROOTS)"
			if dw.MessageOf(err) != want {
				t.Fatalf("CheckDir(%q): %q; want %q", dir, dw.MessageOf(err), want)
			}
		case "invalid":
			if !strings.HasSuffix(dw.MessageOf(err), ": no such directory") {
				t.Fatalf("CheckDir(%q): %v", dir, err)
			}
		default:
			t.Fatalf("CheckDir(%q): %v", dir, err)
		}
	})
}

// A source whose directory is swapped for a symlink leading outside after it was added is
// refused at its next scan, which reads nothing; the refusal is recorded as an error of the
// source and audited. A file of an allowed directory that is a symlink to a file outside the
// root is not read.
func TestRunRechecksRoots(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "slurm-sacct", "alpha", "*")
	roots := []string{e.dir}
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "shadow")
	if err := os.WriteFile(secret, []byte("root:$6$SECRETHASH:19000:0:99999:7:::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(e.dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	src := persistence.IngestSource{Name: "swap", Dir: logs, Format: "slurm-sacct", Cluster: "alpha", Enabled: true}
	if err := ingest.Validate(&src, roots); err != nil {
		t.Fatal(err)
	}
	src, err := e.store.AddSource(e.ctx, src, persistence.AuditEntry{})
	if err != nil {
		t.Fatal(err)
	}

	// A symlinked file to outside: listed, refused, never read. A fifo does not hang the scan.
	mustSymlink(t, secret, filepath.Join(logs, "shadow"))
	if err := syscall.Mkfifo(filepath.Join(logs, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := ingest.Run(e.ctx, e.store, src, roots, time.Now())
	if err != nil || rep.Refused != 1 || rep.Files != 0 || rep.Errors != 0 {
		t.Fatalf("symlinked file: %+v, %v; want it refused and not read", rep, err)
	}

	// The directory swapped for a symlink to outside.
	if err := os.Rename(logs, logs+".old"); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, secretDir, logs)
	rep, err = ingest.Run(e.ctx, e.store, src, roots, time.Now())
	if !ingest.IsRefused(err) || dw.CodeOf(err) != ingest.CodeOutsideRoots || rep.Files != 0 {
		t.Fatalf("swapped dir: %+v, %v; want refused with %s", rep, err, ingest.CodeOutsideRoots)
	}
	if err := ingest.RecordRefusal(e.ctx, e.store, src, persistence.AuditEntry{}, err, time.Now()); err != nil {
		t.Fatal(err)
	}
	errs, err := e.store.IngestErrors(e.ctx, "swap", 50)
	if err != nil || len(errs) != 1 || errs[0].File != logs || !strings.Contains(errs[0].Message, "scan refused") {
		t.Fatalf("ingest errors %+v, %v; want the refusal", errs, err)
	}
	audit, _, err := e.store.ListAudit(e.ctx, persistence.AuditFilter{Action: ingest.RefusedAction, Limit: 10})
	var detail struct{ Via, Code string }
	if err == nil && len(audit) == 1 {
		err = json.Unmarshal(audit[0].Detail, &detail)
	}
	if err != nil || len(audit) != 1 || audit[0].TargetID != src.ID || detail.Via != "scan" || detail.Code != ingest.CodeOutsideRoots {
		t.Fatalf("audit %+v, %v; want one %s row", audit, err, ingest.RefusedAction)
	}
	for _, row := range errs {
		if strings.Contains(row.Message, "SECRETHASH") {
			t.Fatalf("an error shows the secret: %+v", row)
		}
	}

	// No roots at all: nothing is scanned.
	if _, err := ingest.Run(e.ctx, e.store, src, nil, time.Now()); dw.CodeOf(err) != ingest.CodeRootRequired {
		t.Fatalf("no roots: %v; want %s", err, ingest.CodeRootRequired)
	}
}
