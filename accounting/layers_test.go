package accounting_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestAccountingImportsNoAdapter keeps the core a core: besides the standard library it
// imports only the error taxonomy (package dw). The database and the node's directories are
// reached through Store and Dirs, which persistence and ingest implement.
func TestAccountingImportsNoAdapter(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(p, "/")
			if strings.Contains(first, ".") && p != "github.com/divinewhispers/dw" {
				t.Errorf("%s imports %s: the accounting core imports the standard library and package dw only", path, p)
			}
		}
	}
}
