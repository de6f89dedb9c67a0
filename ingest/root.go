package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/persistence"
)

// The ingest roots are the directories a node's sources may read (`dw serve --ingest-root`,
// DW_INGEST_ROOTS). A source names a directory inside one of them, after symlinks are
// resolved, and a glob that selects files of that directory only. The rule is checked when a
// source is added or changed (API and CLI, through Validate) and again at every scan (Run),
// where every file is also opened through an os.Root, so that a symlink swapped or planted
// after the check cannot lead outside the root.

// Error codes of a source refused by the ingest roots (the rule is accounting's).
const (
	CodeRootRequired = accounting.CodeRootRequired
	CodeOutsideRoots = accounting.CodeOutsideRoots
	CodeGlobEscapes  = accounting.CodeGlobEscapes
)

// RootFlag names the setting of the roots in messages.
const RootFlag = accounting.RootSetting

// IsRefused reports whether err refuses a source for the ingest roots: the refusals that are
// audited.
func IsRefused(err error) bool { return accounting.IsRefused(err) }

// Roots are a node's ingest roots as the accounting service checks a source's directory by
// them (accounting.Dirs).
type Roots []string

// SourceDir returns dir made absolute when it is a directory inside one of the roots. Errors:
// invalid, keyed by field dir (code ingest_root_required or dir_outside_ingest_roots for a
// refusal by the roots).
func (r Roots) SourceDir(dir string) (string, error) {
	var ps accounting.Problems
	resolved, _, p := checkDir(r, dir)
	if p == nil {
		if fi, err := os.Stat(resolved); err != nil {
			p = &dirProblem{format: "{dir} %s: no such directory", args: []any{dir}}
		} else if !fi.IsDir() {
			p = &dirProblem{format: "{dir} %s is a file, not a directory: give the directory and select files with {glob}", args: []any{dir}}
		}
	}
	if p != nil {
		if p.code != "" {
			ps.AddCoded(p.code, "dir", p.format, p.args...)
		} else {
			ps.Add("dir", p.format, p.args...)
		}
		return "", ps.Err()
	}
	abs, _ := filepath.Abs(dir)
	return abs, nil
}

// dirProblem is what is wrong with a directory, its message naming the field as {dir}.
type dirProblem struct {
	code   string
	format string
	args   []any
}

// err is the problem as an error whose message names the field by its CLI flag.
func (p *dirProblem) err() error {
	msg := fmt.Sprintf(strings.NewReplacer("{dir}", "--dir", "{glob}", "--glob").Replace(p.format), p.args...)
	if p.code == "" {
		return dw.Errorf(dw.KindInvalid, "%s", msg)
	}
	return dw.Coded(dw.KindInvalid, p.code, "%s", msg)
}

// CheckDir returns dir (made absolute, symlinks resolved) when it lies inside one of roots.
// Containment is decided before existence, and the message of a directory outside the roots
// names only the dir given: it reads the same whether that path exists or not.
// Errors: invalid with code ingest_root_required (no roots), dir_outside_ingest_roots, or
// invalid for a path inside a root that does not exist.
func CheckDir(roots []string, dir string) (string, error) {
	resolved, _, p := checkDir(roots, dir)
	if p != nil {
		return "", p.err()
	}
	return resolved, nil
}

// checkDir is CheckDir that also returns the resolved root dir lies in, and its problem.
func checkDir(roots []string, dir string) (resolved, root string, p *dirProblem) {
	if len(roots) == 0 {
		return "", "", &dirProblem{code: CodeRootRequired,
			format: "no ingest root is configured: sources may only read directories under a root the node is started with, %s DIR", args: []any{RootFlag}}
	}
	outside := &dirProblem{code: CodeOutsideRoots, format: "{dir} %s is not inside an ingest root (%s): sources may only read directories under %s",
		args: []any{dir, strings.Join(roots, ", "), RootFlag}}
	if dir == "" || strings.IndexByte(dir, 0) >= 0 {
		return "", "", outside
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", outside
	}
	resolved, whole := resolve(abs)
	for _, r := range resolveRoots(roots) {
		if within(r, resolved) {
			if !whole {
				return "", "", &dirProblem{format: "{dir} %s: no such directory", args: []any{dir}}
			}
			return resolved, r, nil
		}
	}
	return "", "", outside
}

// resolve evaluates the symlinks of the longest prefix of the clean absolute path p that
// exists and appends the rest unchanged; whole says the entire path resolved. A component that
// cannot be read (missing, no permission, a symlink loop) ends the prefix: what is returned
// depends only on what lies at and above the first such component.
func resolve(p string) (resolved string, whole bool) {
	p = filepath.Clean(p)
	var rest []string
	for cur := p; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			parts := append([]string{r}, rest...)
			return filepath.Join(parts...), len(rest) == 0
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p, false
		}
		rest = append([]string{filepath.Base(cur)}, rest...)
		cur = parent
	}
}

// resolveRoots returns the roots that exist, absolute and with their symlinks resolved.
func resolveRoots(roots []string) []string {
	out := make([]string, 0, len(roots))
	for _, r := range roots {
		if r == "" {
			continue
		}
		abs, err := filepath.Abs(r)
		if err != nil {
			continue
		}
		if res, err := filepath.EvalSymlinks(abs); err == nil {
			out = append(out, res)
		}
	}
	return out
}

// within reports whether the clean absolute path p is root or lies under it, on whole path
// components (/data/logs2 is not inside /data/logs).
func within(root, p string) bool {
	if p == root {
		return true
	}
	if !strings.HasSuffix(root, string(filepath.Separator)) {
		root += string(filepath.Separator)
	}
	return strings.HasPrefix(p, root)
}

// CheckGlob refuses a glob that could select files outside the source's directory: it must
// name files of that directory only, so it holds no path separator and no "..".
// Errors: invalid with code glob_outside_dir.
func CheckGlob(glob string) error {
	err := accounting.SourceInput{Glob: glob}.Validate()
	if inv, ok := accounting.AsInvalid(err); ok && inv.Code == CodeGlobEscapes {
		for _, p := range inv.Problems {
			if p.Field == "glob" {
				return dw.Coded(dw.KindInvalid, CodeGlobEscapes, "%s", p.Render(Flag))
			}
		}
	}
	return nil
}

// CheckRoots checks the roots a node or command is given: each must be an existing directory,
// and the data directory (keys, passwords, the embedded PostgreSQL) may neither lie inside a
// root nor hold one, symlinks resolved. dataDir "" is not checked. Errors: invalid.
func CheckRoots(roots []string, dataDir string) error {
	var errs []error
	for _, r := range roots {
		if r == "" {
			errs = append(errs, errors.New("--ingest-root (DW_INGEST_ROOTS) must not be empty"))
			continue
		}
		abs, err := filepath.Abs(r)
		if err == nil {
			var res string
			if res, err = filepath.EvalSymlinks(abs); err == nil {
				var fi os.FileInfo
				if fi, err = os.Stat(res); err == nil && !fi.IsDir() {
					err = errors.New("not a directory")
				}
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--ingest-root %s must be an existing directory (%v)", r, unwrapPath(err)))
		}
	}
	if dataDir != "" && len(errs) == 0 {
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			return dw.Errorf(dw.KindInvalid, "--data-dir %s: %v", dataDir, err)
		}
		data, _ := resolve(abs)
		for i, r := range resolveRoots(roots) {
			if within(r, data) || within(data, r) {
				errs = append(errs, fmt.Errorf("--ingest-root %s and --data-dir %s overlap: the data directory holds the node's keys and database and must lie outside every ingest root, and no root inside it",
					roots[i], dataDir))
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return dw.Errorf(dw.KindInvalid, "%s", errors.Join(errs...).Error())
}

// RefusedAction is the audit action of a source refused by the ingest roots.
const RefusedAction = accounting.RefusedAction

// refusedAudit fills the audit row of a refusal: what was asked (via: create, update or scan),
// which source, and why.
func refusedAudit(a persistence.AuditEntry, src persistence.IngestSource, via string, refusal error) persistence.AuditEntry {
	a.Action, a.TargetType = RefusedAction, "ingest_source"
	if src.ID != "" {
		a.TargetID = src.ID
	}
	a.Detail, _ = json.Marshal(accounting.RefusalDetail(src, via, refusal))
	return a
}

// RecordRefusal records a scan Run refused for the ingest roots: an ingest error on the
// source's directory, which the operators see with the source's other errors, and an audit
// row. Errors: database errors.
func RecordRefusal(ctx context.Context, store *persistence.Store, src persistence.IngestSource, a persistence.AuditEntry, refusal error, now time.Time) error {
	msg := accounting.Excerpt("scan refused: " + dw.MessageOf(refusal))
	return store.RefuseScan(ctx, src.ID, strings.ToValidUTF8(src.Dir, "\uFFFD"), msg, refusedAudit(a, src, "scan", refusal), now)
}
