// Package realacct finds the real scheduler logs shared with the project (shared/realacct, beside
// the repository or a directory above it; DW_REALACCT names another place) for the tests that
// read them in place. They are never copied into the repository.
package realacct

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the directory of the real logs of one kind (sub: "sacct-xdmod", "pbs", …; "" for
// the whole collection), or skips the test, saying how to point at them, when they are absent.
func Dir(t testing.TB, sub string) string {
	t.Helper()
	if d := os.Getenv("DW_REALACCT"); d != "" {
		return filepath.Join(d, sub)
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "realacct", sub)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skipf("real accounting logs not found: no shared/realacct/%s above the test's directory (set DW_REALACCT to the realacct directory)", sub)
		}
		dir = parent
	}
}
