package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/actors"
	"github.com/divinewhispers/dw/auth"
	"github.com/divinewhispers/dw/gateway"
	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/internal/testutil"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence"
)

// TestAccounting runs the compute-accounting API over real HTTP against a gateway of its own
// on a database of its own per scenario. The accounting routes need no cluster, so none is
// started: the scan hook is a fake that records its calls, and no charger posts charges (they
// stay pending, where the scenarios read them). The RBAC matrix and the OpenAPI check of these
// routes run against the real node in TestGateway.
func TestAccounting(t *testing.T) {
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *testNode, *fakeScanner)
	}{
		{"Sources", testSources},
		{"Scan", testScan},
		{"SharedWallets", testSharedWallets},
		{"Mappings", testMappings},
		{"Rates", testRates},
		{"Quotas", testQuotas},
		{"Reports", testReports},
		{"ClusterUsers", testClusterUsers},
		{"OperatorsOnly", testOperatorsOnly},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			scan := &fakeScanner{}
			sc.run(t, startGateway(t, scan.scan), scan)
		})
	}
	t.Run("NoIngestRoot", func(t *testing.T) {
		t.Parallel()
		tn := startGatewayWith(t, nil, nil)
		r := tn.do("POST", "/api/v1/accounting/sources", tn.admin.Access, map[string]any{
			"name": "x", "dir": t.TempDir(), "format": "slurm-sacct", "cluster": "alpha"})
		wantProblem(t, "no ingest root", r, http.StatusBadRequest, "ingest_root_required")
		if d := r.problem().Detail; !strings.Contains(d, "--ingest-root") || !strings.Contains(d, "DW_INGEST_ROOTS") {
			t.Errorf("detail %q does not name --ingest-root and DW_INGEST_ROOTS", d)
		}
		if rows := tn.audit(url.Values{"action": {"accounting.source.refused"}, "actor_id": {tn.admin.ID}}, 10); len(rows) != 1 {
			t.Errorf("%d refusals audited, want 1", len(rows))
		}
	})
	t.Run("ScanUnavailable", func(t *testing.T) {
		t.Parallel()
		tn := startGateway(t, nil)
		src := tn.newSource("nil-scan", t.TempDir())
		wantProblem(t, "scan without a scanner", tn.do("POST", "/api/v1/accounting/sources/"+src.ID+"/scan", tn.admin.Access, nil),
			http.StatusServiceUnavailable, "scan_unavailable")
	})
}

// fakeScanner stands for the node's ScanSource: it records the sources it was asked to scan
// and answers err.
type fakeScanner struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakeScanner) scan(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, id)
	return f.err
}

func (f *fakeScanner) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// startGateway serves a gateway on a loopback port over a fresh database, with a first admin.
func startGateway(t *testing.T, scan func(context.Context, string) error) *testNode {
	t.Helper()
	// Every directory the test makes with t.TempDir lies in one parent: the ingest root.
	return startGatewayWith(t, scan, []string{filepath.Dir(t.TempDir())})
}

// startGatewayWith is startGateway with the given ingest roots.
func startGatewayWith(t *testing.T, scan func(context.Context, string) error, roots []string) *testNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := node.Defaults()
	cfg.JWTKey = testJWTKey
	cfg.PasswordParams = &auth.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
	testLimits(&cfg)
	cfg.DatabaseURL = pgtest.NewDB(t)
	store, err := persistence.Open(ctx, cfg.DatabaseURL, 8)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(store.Close)
	accounts, issuer, err := node.Accounts(cfg, store)
	if err != nil {
		t.Fatalf("accounts: %v", err)
	}
	srv := gateway.New(gateway.Config{Accounts: accounts, Issuer: issuer, Store: store, ScanSource: scan, IngestRoots: roots,
		Charger: &actors.Charger{}, Registry: prometheus.NewRegistry(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	base, client := serveGateway(t, srv)
	tn := &testNode{t: t, cfg: cfg, base: base, client: client, store: store, accounts: accounts}
	tn.makeAdmin(fmt.Sprintf("acct-admin-%d@example.com", userSeq.Add(1)))
	return tn
}

// sourceView is the contract's form of an ingest source.
type sourceView struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Dir             string    `json:"dir"`
	Glob            string    `json:"glob"`
	Format          string    `json:"format"`
	Cluster         string    `json:"cluster"`
	Interval        string    `json:"interval"`
	IntervalSeconds int64     `json:"interval_seconds"`
	Timezone        string    `json:"timezone"`
	Enabled         bool      `json:"enabled"`
	CreatedAt       time.Time `json:"created_at"`
}

func (tn *testNode) newSource(name, dir string) sourceView {
	tn.t.Helper()
	var src sourceView
	decodeInto(tn.t, tn.do("POST", "/api/v1/accounting/sources", tn.admin.Access, map[string]any{
		"name": name, "dir": dir, "format": "slurm-sacct", "cluster": "alpha"}), 201, &src)
	return src
}

// saveFile stores usage records (and line errors) as if the source had read them from path.
func (tn *testNode) saveFile(sourceID, path string, recs []accounting.Record, lineErrs ...accounting.LineError) persistence.Saved {
	tn.t.Helper()
	sum := sha256.Sum256([]byte(path))
	mismatches := 0
	for _, r := range recs {
		if r.ClusterMismatch() {
			mismatches++
		}
	}
	saved, err := tn.store.SaveFile(context.Background(), persistence.FileResult{
		File: persistence.ProcessedFile{SourceID: sourceID, Path: path, Size: 1234, MTime: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
			SHA256: sum[:], Offset: 1234, Lines: len(recs) + len(lineErrs), Records: len(recs), Errors: len(lineErrs), Status: persistence.FileDone,
			ClusterMismatches: mismatches},
		Records: recs, Errors: lineErrs,
	}, time.Now())
	if err != nil {
		tn.t.Fatalf("save file %s: %v", path, err)
	}
	return saved
}

// job is a finished job of one group (also its account) that ended at end.
func job(cluster, id, user, group, partition string, nodes, gpus int, elapsed time.Duration, end time.Time) accounting.Record {
	return accounting.Record{Cluster: cluster, JobID: id, User: user, Group: group, Account: group, Partition: partition,
		State: "COMPLETED", ExitCode: "0:0", Nodes: nodes, CPUs: 8 * nodes, GPUs: gpus, Elapsed: elapsed,
		Submit: end.Add(-elapsed - time.Minute), Start: end.Add(-elapsed), End: end}
}

// items decodes a {"items": [...]} answer.
func items[T any](t *testing.T, r response) []T {
	t.Helper()
	var page struct {
		Items []T `json:"items"`
	}
	decodeInto(t, r, 200, &page)
	if page.Items == nil {
		t.Fatalf("items is null, want a list: %s", r)
	}
	return page.Items
}

// auditBy checks that the newest audit row of action on target was written by actor.
func (tn *testNode) auditBy(action, target, actor string) {
	tn.t.Helper()
	rows := tn.audit(url.Values{"action": {action}, "target_id": {target}}, 50)
	if len(rows) == 0 {
		tn.t.Errorf("no audit row %s on %s", action, target)
		return
	}
	if rows[0].ActorID != actor {
		tn.t.Errorf("audit %s on %s: actor %q, want %q", action, target, rows[0].ActorID, actor)
	}
}

func testSources(t *testing.T, tn *testNode, _ *fakeScanner) {
	op := tn.newUser("operator")
	dir := t.TempDir()
	var a sourceView
	decodeInto(t, tn.do("POST", "/api/v1/accounting/sources", op.Access, map[string]any{
		"name": "alpha-sacct", "dir": dir, "format": "slurm-sacct", "cluster": "alpha", "interval": "45s"}), 201, &a)
	if _, err := uuid.Parse(a.ID); err != nil || a.Name != "alpha-sacct" || a.Dir != dir || a.Glob != "*" || a.Format != "slurm-sacct" ||
		a.Cluster != "alpha" || a.Interval != "45s" || a.IntervalSeconds != 45 || a.Timezone != "UTC" || !a.Enabled || a.CreatedAt.IsZero() {
		t.Errorf("created %+v", a)
	}
	tn.auditBy("accounting.source.create", a.ID, op.ID)
	var b sourceView
	decodeInto(t, tn.do("POST", "/api/v1/accounting/sources", tn.admin.Access, map[string]any{
		"name": "beta-pbs", "dir": dir, "glob": "*.log", "format": "pbs", "cluster": "beta", "interval_seconds": 90,
		"timezone": "Europe/Berlin", "enabled": false}), 201, &b)
	if b.Interval != "1m30s" || b.IntervalSeconds != 90 || b.Glob != "*.log" || b.Timezone != "Europe/Berlin" || b.Enabled {
		t.Errorf("created %+v", b)
	}

	// Validation speaks of JSON fields, never of CLI flags; nothing is stored.
	for _, c := range []struct {
		name string
		body string
		want []string
	}{
		{"bad format", `{"name":"x","dir":"` + dir + `","format":"lsf","cluster":"alpha"}`, []string{"format must be"}},
		{"missing dir", `{"name":"x","format":"pbs","cluster":"alpha"}`, []string{"dir is required"}},
		{"no such dir", `{"name":"x","dir":"` + dir + `/nope","format":"pbs","cluster":"alpha"}`, []string{"dir " + dir + "/nope: no such directory"}},
		{"relative dir", `{"name":"x","dir":"logs","format":"pbs","cluster":"alpha"}`, []string{"dir logs must be an absolute path"}},
		{"everything missing", `{}`, []string{"name is required", "dir is required", "format must be", "cluster is required"}},
		{"bad interval", `{"name":"x","dir":"` + dir + `","format":"pbs","cluster":"alpha","interval":"soon"}`, []string{`interval "soon" is not a duration`}},
		{"fractional interval", `{"name":"x","dir":"` + dir + `","format":"pbs","cluster":"alpha","interval":"1500ms"}`, []string{"interval 1.5s must be whole seconds"}},
		{"zero interval", `{"name":"x","dir":"` + dir + `","format":"pbs","cluster":"alpha","interval_seconds":0}`, []string{"interval_seconds must be from 1"}},
		{"intervals disagree", `{"name":"x","dir":"` + dir + `","format":"pbs","cluster":"alpha","interval":"1m","interval_seconds":30}`, []string{"disagree"}},
		{"bad timezone", `{"name":"x","dir":"` + dir + `","format":"pbs","cluster":"alpha","timezone":"Mars/Olympus"}`, []string{`timezone "Mars/Olympus" is not a known time zone`}},
		{"bad glob", `{"name":"x","dir":"` + dir + `","format":"pbs","cluster":"alpha","glob":"[x"}`, []string{`glob "[x" is not a valid file pattern`}},
	} {
		r := tn.do("POST", "/api/v1/accounting/sources", op.Access, c.body)
		wantProblem(t, c.name, r, http.StatusBadRequest, "invalid")
		detail := r.problem().Detail
		for _, w := range c.want {
			if !strings.Contains(detail, w) {
				t.Errorf("%s: detail %q lacks %q", c.name, detail, w)
			}
		}
		if strings.Contains(detail, "--") {
			t.Errorf("%s: detail %q names a CLI flag", c.name, detail)
		}
	}
	// Outside the ingest root: one answer whether the path exists or not, audited; nothing stored.
	root := filepath.Dir(dir)
	outside := func(d string) string {
		return "dir " + d + " is not inside an ingest root (" + root + "): sources may only read directories under --ingest-root (DW_INGEST_ROOTS)"
	}
	escape := filepath.Join(dir, "escape")
	if err := os.Symlink("/etc", escape); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, dir, glob, code, detail string }{
		{"existing dir outside", "/etc", "shadow", "dir_outside_ingest_roots", outside("/etc")},
		{"missing dir outside", "/no/such/etc", "shadow", "dir_outside_ingest_roots", outside("/no/such/etc")},
		{"dot-dot out of the root", root + "/../etc", "*", "dir_outside_ingest_roots", outside(root + "/../etc")},
		{"symlink out of the root", escape, "shadow", "dir_outside_ingest_roots", outside(escape)},
		{"glob climbing out", dir, "../../etc/shadow", "glob_outside_dir", `glob "../../etc/shadow" must select files of dir itself: no path separator and no ".." (e.g. '*.log', 'sacct-*.txt*')`},
	} {
		r := tn.do("POST", "/api/v1/accounting/sources", op.Access, map[string]any{"name": "refused", "dir": c.dir, "glob": c.glob, "format": "pbs", "cluster": "alpha"})
		wantProblem(t, c.name, r, http.StatusBadRequest, c.code)
		if d := r.problem().Detail; d != c.detail {
			t.Errorf("%s: detail %q, want %q", c.name, d, c.detail)
		}
	}
	if rows := tn.audit(url.Values{"action": {"accounting.source.refused"}, "actor_id": {op.ID}}, 50); len(rows) != 5 {
		t.Errorf("%d refusals audited, want 5", len(rows))
	}
	wantProblem(t, "unknown field", tn.do("POST", "/api/v1/accounting/sources", op.Access,
		`{"name":"x","dir":"`+dir+`","format":"pbs","cluster":"alpha","color":"red"}`), http.StatusBadRequest, "invalid_body")
	wantProblem(t, "duplicate name", tn.do("POST", "/api/v1/accounting/sources", op.Access, map[string]any{
		"name": "alpha-sacct", "dir": dir, "format": "pbs", "cluster": "alpha"}), http.StatusConflict, "source_name_taken")

	list := items[sourceView](t, tn.do("GET", "/api/v1/accounting/sources", op.Access, nil))
	if len(list) != 2 || list[0].Name != "alpha-sacct" || list[1].Name != "beta-pbs" {
		t.Errorf("sources %+v", list)
	}
	var got sourceView
	decodeInto(t, tn.do("GET", "/api/v1/accounting/sources/"+a.ID, op.Access, nil), 200, &got)
	testutil.Diff(t, "the source read back", a, got)
	wantProblem(t, "unknown source", tn.do("GET", "/api/v1/accounting/sources/"+uuid.NewString(), op.Access, nil), http.StatusNotFound, "not_found")
	wantProblem(t, "malformed id", tn.do("GET", "/api/v1/accounting/sources/nope", op.Access, nil), http.StatusNotFound, "not_found")
	wantProblem(t, "unknown query", tn.do("GET", "/api/v1/accounting/sources?name=x", op.Access, nil), http.StatusBadRequest, "invalid_query")

	// PATCH changes only what it is given.
	other := t.TempDir()
	var p sourceView
	decodeInto(t, tn.do("PATCH", "/api/v1/accounting/sources/"+a.ID, op.Access, map[string]any{
		"interval": "2m", "enabled": false, "glob": "sacct-*.txt*", "timezone": "America/Chicago", "dir": other}), 200, &p)
	if p.Interval != "2m0s" || p.IntervalSeconds != 120 || p.Enabled || p.Glob != "sacct-*.txt*" || p.Timezone != "America/Chicago" ||
		p.Dir != other || p.Name != a.Name || p.Format != a.Format || p.Cluster != a.Cluster || !p.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("patched %+v", p)
	}
	tn.auditBy("accounting.source.update", a.ID, op.ID)
	for _, c := range []struct{ name, body, code, want string }{
		{"empty patch", `{}`, "invalid", "at least one"},
		{"no such dir", `{"dir":"` + other + `/gone"}`, "invalid", "dir " + other + "/gone: no such directory"},
		{"dir outside the root", `{"dir":"/etc"}`, "dir_outside_ingest_roots", "dir /etc is not inside an ingest root"},
		{"glob climbing out", `{"glob":"../*"}`, "glob_outside_dir", "glob"},
		{"bad interval", `{"interval_seconds":-5}`, "invalid", "interval_seconds"},
		{"bad timezone", `{"timezone":"Nowhere"}`, "invalid", "timezone"},
		{"rename", `{"name":"other"}`, "invalid_body", "name"},
		{"change format", `{"format":"pbs"}`, "invalid_body", "format"},
	} {
		r := tn.do("PATCH", "/api/v1/accounting/sources/"+a.ID, op.Access, c.body)
		wantProblem(t, "patch "+c.name, r, http.StatusBadRequest, c.code)
		if !strings.Contains(r.problem().Detail, c.want) {
			t.Errorf("patch %s: detail %q lacks %q", c.name, r.problem().Detail, c.want)
		}
	}
	decodeInto(t, tn.do("GET", "/api/v1/accounting/sources/"+a.ID, op.Access, nil), 200, &got)
	testutil.Diff(t, "the source after bad patches", p, got)
	// A source whose directory went away can still be changed.
	if err := os.Remove(other); err != nil {
		t.Fatal(err)
	}
	decodeInto(t, tn.do("PATCH", "/api/v1/accounting/sources/"+a.ID, op.Access, map[string]any{"enabled": true}), 200, &p)
	if !p.Enabled || p.Dir != other {
		t.Errorf("re-enabled %+v", p)
	}
	wantProblem(t, "patch unknown", tn.do("PATCH", "/api/v1/accounting/sources/"+uuid.NewString(), op.Access, `{"enabled":true}`), http.StatusNotFound, "not_found")

	// Processed files and line errors.
	type fileView struct {
		Path    string    `json:"path"`
		Size    int64     `json:"size"`
		MTime   time.Time `json:"mtime"`
		SHA256  string    `json:"sha256"`
		Records int       `json:"records"`
		Errors  int       `json:"errors"`
		Status  string    `json:"status"`
		// Jobs whose file names another cluster than the source's.
		ClusterMismatches int `json:"cluster_mismatches"`
	}
	if files := items[fileView](t, tn.do("GET", "/api/v1/accounting/sources/"+a.ID+"/files", op.Access, nil)); len(files) != 0 {
		t.Errorf("files before any read: %+v", files)
	}
	end := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	fromEast := job("alpha", "1", "ann", "g", "cpu", 1, 0, time.Hour, end)
	fromEast.FileCluster = "east" // its file said east; the source's cluster is alpha
	tn.saveFile(a.ID, "/logs/b.txt", []accounting.Record{fromEast}, accounting.LineError{Line: 7, Err: "bad elapsed"})
	tn.saveFile(a.ID, "/logs/a.txt", nil)
	files := items[fileView](t, tn.do("GET", "/api/v1/accounting/sources/"+a.ID+"/files", op.Access, nil))
	sum := sha256.Sum256([]byte("/logs/b.txt"))
	if len(files) != 2 || files[0].Path != "/logs/a.txt" || files[1].Path != "/logs/b.txt" {
		t.Fatalf("files %+v", files)
	}
	if f := files[1]; f.Size != 1234 || !f.MTime.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) || f.SHA256 != hex.EncodeToString(sum[:]) ||
		f.Records != 1 || f.Errors != 1 || f.Status != "done" || f.ClusterMismatches != 1 {
		t.Errorf("file %+v", f)
	}
	wantProblem(t, "files of unknown source", tn.do("GET", "/api/v1/accounting/sources/"+uuid.NewString()+"/files", op.Access, nil), http.StatusNotFound, "not_found")
	type errView struct {
		Source  string `json:"source"`
		File    string `json:"file"`
		Line    int    `json:"line"`
		Message string `json:"message"`
	}
	errs := items[errView](t, tn.do("GET", "/api/v1/accounting/errors?source=alpha-sacct&limit=10", op.Access, nil))
	if len(errs) != 1 || errs[0] != (errView{Source: "alpha-sacct", File: "/logs/b.txt", Line: 7, Message: "bad elapsed"}) {
		t.Errorf("errors %+v", errs)
	}
	if errs := items[errView](t, tn.do("GET", "/api/v1/accounting/errors?source=beta-pbs", op.Access, nil)); len(errs) != 0 {
		t.Errorf("errors of beta %+v", errs)
	}
	wantProblem(t, "errors of unknown source", tn.do("GET", "/api/v1/accounting/errors?source=nope", op.Access, nil), http.StatusNotFound, "not_found")
	wantProblem(t, "errors limit 0", tn.do("GET", "/api/v1/accounting/errors?limit=0", op.Access, nil), http.StatusBadRequest, "invalid_query")
	wantProblem(t, "errors bad param", tn.do("GET", "/api/v1/accounting/errors?src=x", op.Access, nil), http.StatusBadRequest, "invalid_query")
	// A message stored whole (before excerpts were capped) is shown as an excerpt.
	tn.saveFile(a.ID, "/logs/c.txt", nil, accounting.LineError{Line: 1, Err: "bad job id \"" + strings.Repeat("s", 500) + "\x00\""})
	shown := false
	for _, e := range items[errView](t, tn.do("GET", "/api/v1/accounting/errors?source=alpha-sacct", op.Access, nil)) {
		if e.File == "/logs/c.txt" {
			shown = true
			if len(e.Message) > accounting.MaxExcerpt || !strings.HasPrefix(e.Message, `bad job id "sss`) || !strings.HasSuffix(e.Message, "…") {
				t.Errorf("error shown whole: %d bytes %q", len(e.Message), e.Message)
			}
		}
	}
	if !shown {
		t.Error("the long error is not listed")
	}

	// DELETE removes the source with its rows; the usage it read stays.
	r := tn.do("DELETE", "/api/v1/accounting/sources/"+a.ID, op.Access, nil)
	if r.Status != http.StatusNoContent {
		t.Fatalf("delete: %s", r)
	}
	tn.auditBy("accounting.source.remove", a.ID, op.ID)
	wantProblem(t, "get deleted", tn.do("GET", "/api/v1/accounting/sources/"+a.ID, op.Access, nil), http.StatusNotFound, "not_found")
	wantProblem(t, "delete again", tn.do("DELETE", "/api/v1/accounting/sources/"+a.ID, op.Access, nil), http.StatusNotFound, "not_found")
	if list := items[sourceView](t, tn.do("GET", "/api/v1/accounting/sources", op.Access, nil)); len(list) != 1 || list[0].ID != b.ID {
		t.Errorf("sources after delete %+v", list)
	}
	if tot, err := tn.store.UsageTotals(context.Background(), "alpha"); err != nil || tot.Records != 1 {
		t.Errorf("usage after removing its source: %+v %v", tot, err)
	}
}

func testScan(t *testing.T, tn *testNode, scan *fakeScanner) {
	op := tn.newUser("operator")
	src := tn.newSource("scan-me", t.TempDir())
	var got struct {
		SourceID string `json:"source_id"`
		Scan     string `json:"scan"`
	}
	decodeInto(t, tn.do("POST", "/api/v1/accounting/sources/"+src.ID+"/scan", op.Access, nil), http.StatusAccepted, &got)
	if got.SourceID != src.ID || got.Scan != "requested" {
		t.Errorf("scan answered %+v", got)
	}
	if calls := scan.called(); !slices.Equal(calls, []string{src.ID}) {
		t.Errorf("scanner called with %v, want [%s]", calls, src.ID)
	}
	tn.auditBy("accounting.source.scan", src.ID, op.ID)

	wantProblem(t, "scan unknown", tn.do("POST", "/api/v1/accounting/sources/"+uuid.NewString()+"/scan", op.Access, nil), http.StatusNotFound, "not_found")
	wantProblem(t, "scan with a body", tn.do("POST", "/api/v1/accounting/sources/"+src.ID+"/scan", op.Access, `{"now":true}`), http.StatusBadRequest, "invalid_body")
	decodeInto(t, tn.do("PATCH", "/api/v1/accounting/sources/"+src.ID, op.Access, map[string]any{"enabled": false}), 200, nil)
	wantProblem(t, "scan disabled", tn.do("POST", "/api/v1/accounting/sources/"+src.ID+"/scan", op.Access, nil), http.StatusConflict, "source_disabled")
	if calls := scan.called(); len(calls) != 1 {
		t.Errorf("refused scans reached the scanner: %v", calls)
	}
	decodeInto(t, tn.do("PATCH", "/api/v1/accounting/sources/"+src.ID, op.Access, map[string]any{"enabled": true}), 200, nil)
	scan.mu.Lock()
	scan.err = &dw.Error{Kind: dw.KindUnavailable, Code: "unavailable", Message: "the source's ingest grain did not answer; retry", Err: errors.New("timeout")}
	scan.mu.Unlock()
	wantProblem(t, "grain silent", tn.do("POST", "/api/v1/accounting/sources/"+src.ID+"/scan", op.Access, `{}`), http.StatusServiceUnavailable, "unavailable")
}

func testSharedWallets(t *testing.T, tn *testNode, _ *fakeScanner) {
	op, u := tn.newUser("operator"), tn.newUser("user")
	type walletRef struct {
		ID   string `json:"id"`
		Kind string `json:"kind"`
		Name string `json:"name"`
	}
	var w walletRef
	decodeInto(t, tn.do("POST", "/api/v1/wallets", op.Access, map[string]any{"name": "Physics"}), 201, &w)
	if _, err := uuid.Parse(w.ID); err != nil || w.Kind != "shared" || w.Name != "Physics" {
		t.Errorf("created %+v", w)
	}
	tn.auditBy("wallet.create", w.ID, op.ID)
	if got, err := tn.store.WalletByRef(context.Background(), "physics"); err != nil || got.ID != w.ID {
		t.Errorf("new wallet by name: %+v %v", got, err)
	}
	var w2 walletRef
	decodeInto(t, tn.do("POST", "/api/v1/wallets", tn.admin.Access, map[string]any{"name": "Chemistry"}), 201, &w2)
	wantProblem(t, "name taken", tn.do("POST", "/api/v1/wallets", tn.admin.Access, map[string]any{"name": "physics"}), http.StatusConflict, "wallet_name_taken")
	wantProblem(t, "no name", tn.do("POST", "/api/v1/wallets", tn.admin.Access, map[string]any{"name": "  "}), http.StatusBadRequest, "invalid")
	wantProblem(t, "unknown field", tn.do("POST", "/api/v1/wallets", tn.admin.Access, map[string]any{"name": "x", "kind": "personal"}), http.StatusBadRequest, "invalid_body")
	wantProblem(t, "as a user", tn.do("POST", "/api/v1/wallets", u.Access, map[string]any{"name": "Mine"}), http.StatusForbidden, "forbidden")
}

type mappingView struct {
	ID        string    `json:"id"`
	Cluster   string    `json:"cluster"`
	User      string    `json:"user"`
	Account   string    `json:"account"`
	Group     string    `json:"group"`
	WalletID  string    `json:"wallet_id"`
	Note      string    `json:"note"`
	Exclude   bool      `json:"exclude"`
	CreatedAt time.Time `json:"created_at"`
}

type mappingCreated struct {
	Mapping    mappingView `json:"mapping"`
	Reassigned struct {
		Records int64 `json:"records"`
		Charges int   `json:"charges"`
		Points  int64 `json:"points"`
	} `json:"reassigned"`
}

type chargeView struct {
	ID            int64   `json:"id"`
	WalletID      string  `json:"wallet_id"`
	Points        int64   `json:"points"`
	Records       int     `json:"records"`
	NodeHours     float64 `json:"node_hours"`
	GPUCoreHours  float64 `json:"gpu_core_hours"`
	Origin        string  `json:"origin"`
	Status        string  `json:"status"`
	ChargedPoints int64   `json:"charged_points"`
}

func (tn *testNode) sharedWallet(name string) string {
	tn.t.Helper()
	var w struct {
		ID string `json:"id"`
	}
	decodeInto(tn.t, tn.do("POST", "/api/v1/wallets", tn.admin.Access, map[string]any{"name": name}), 201, &w)
	return w.ID
}

func testMappings(t *testing.T, tn *testNode, _ *fakeScanner) {
	op := tn.newUser("operator")
	physics := tn.sharedWallet("physics")
	src := tn.newSource("map-src", t.TempDir())
	decodeInto(t, tn.do("POST", "/api/v1/accounting/rates", op.Access, map[string]any{
		"cluster": "alpha", "node_hour_points": "2.5", "gpu_hour_points": 10, "effective_from": "2020-01-01"}), 201, nil)

	// Usage arrives before any rule: it is unassigned and charged to nobody.
	end := time.Date(2025, 5, 10, 12, 0, 0, 0, time.UTC)
	saved := tn.saveFile(src.ID, "/logs/may.txt", []accounting.Record{
		job("alpha", "101", "alice", "physics", "cpu", 2, 0, 3*time.Hour, end),                  // 6 node-hours: 15 points
		job("alpha", "102", "bob", "physics", "gpu", 1, 4, 90*time.Minute, end.Add(time.Hour)),  // 6 GPU core-hours: 60 points
		job("alpha", "103", "carol", "chem", "cpu", 1, 0, 30*time.Minute, end.Add(2*time.Hour)), // 0.5 node-hours: 1.25 points
	})
	if saved.Added != 3 || saved.Charges != 0 {
		t.Fatalf("saved %+v", saved)
	}
	if ch := items[chargeView](t, tn.do("GET", "/api/v1/accounting/charges", op.Access, nil)); len(ch) != 0 {
		t.Errorf("charges before any mapping: %+v", ch)
	}

	// A mapping by the wallet's name takes the unassigned jobs it covers and charges them once.
	var m mappingCreated
	decodeInto(t, tn.do("POST", "/api/v1/accounting/mappings", op.Access, map[string]any{
		"group": "physics", "wallet": "PHYSICS", "note": "grant 42"}), 201, &m)
	if m.Mapping.WalletID != physics || m.Mapping.Group != "physics" || m.Mapping.Exclude || m.Mapping.Note != "grant 42" || m.Mapping.ID == "" {
		t.Errorf("mapping %+v", m.Mapping)
	}
	if m.Reassigned.Records != 2 || m.Reassigned.Charges != 1 || m.Reassigned.Points != 75 {
		t.Errorf("reassigned %+v, want 2 records, 1 charge, 75 points", m.Reassigned)
	}
	tn.auditBy("accounting.mapping.add", m.Mapping.ID, op.ID)
	charges := items[chargeView](t, tn.do("GET", "/api/v1/accounting/charges?wallet_id="+physics+"&status=pending&limit=10", op.Access, nil))
	if len(charges) != 1 {
		t.Fatalf("charges %+v", charges)
	}
	if c := charges[0]; c.WalletID != physics || c.Points != 75 || c.Records != 2 || c.NodeHours != 6 || c.GPUCoreHours != 6 ||
		c.Origin != "mapping "+m.Mapping.ID || c.Status != "pending" || c.ChargedPoints != 0 {
		t.Errorf("charge %+v", c)
	}
	if ch := items[chargeView](t, tn.do("GET", "/api/v1/accounting/charges?status=charged", op.Access, nil)); len(ch) != 0 {
		t.Errorf("charged charges %+v", ch)
	}

	// An exclusion takes its jobs out of the unassigned bucket and charges nothing.
	var ex mappingCreated
	decodeInto(t, tn.do("POST", "/api/v1/accounting/mappings", op.Access, map[string]any{
		"cluster": "alpha", "group": "chem", "exclude": true}), 201, &ex)
	if !ex.Mapping.Exclude || ex.Mapping.WalletID != "" || ex.Mapping.Cluster != "alpha" {
		t.Errorf("exclusion %+v", ex.Mapping)
	}
	if ex.Reassigned.Records != 1 || ex.Reassigned.Charges != 0 || ex.Reassigned.Points != 0 {
		t.Errorf("exclusion reassigned %+v", ex.Reassigned)
	}
	// A mapping by wallet id; it covers nothing yet.
	var byID mappingCreated
	decodeInto(t, tn.do("POST", "/api/v1/accounting/mappings", op.Access, map[string]any{"user": "dave", "wallet": op.WalletID}), 201, &byID)
	if byID.Mapping.WalletID != op.WalletID || byID.Reassigned.Records != 0 {
		t.Errorf("mapping by id %+v", byID)
	}
	if ch := items[chargeView](t, tn.do("GET", "/api/v1/accounting/charges", op.Access, nil)); len(ch) != 1 {
		t.Errorf("charges after the exclusion: %+v", ch)
	}
	type usageRows struct {
		Rows []struct {
			Key    string  `json:"key"`
			Jobs   int64   `json:"jobs"`
			Points float64 `json:"points"`
		} `json:"rows"`
	}
	var byWallet usageRows
	decodeInto(t, tn.do("GET", "/api/v1/accounting/usage?group_by=wallet&from=2025-05-01&to=2025-06-01", op.Access, nil), 200, &byWallet)
	if len(byWallet.Rows) != 2 || byWallet.Rows[0].Key != physics || byWallet.Rows[0].Jobs != 2 || byWallet.Rows[0].Points != 75 ||
		byWallet.Rows[1].Key != "excluded" || byWallet.Rows[1].Jobs != 1 || byWallet.Rows[1].Points != 1.25 {
		t.Errorf("usage by wallet after the mappings: %+v", byWallet.Rows)
	}

	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"same match again", map[string]any{"group": "physics", "wallet": physics}, 409, "mapping_exists"},
		{"nothing to match", map[string]any{"cluster": "alpha", "wallet": physics}, 400, "invalid"},
		{"no wallet", map[string]any{"user": "erin"}, 400, "invalid"},
		{"wallet and exclude", map[string]any{"user": "erin", "wallet": physics, "exclude": true}, 400, "invalid"},
		{"unknown wallet name", map[string]any{"user": "erin", "wallet": "astronomy"}, 404, "wallet_not_found"},
		{"unknown wallet id", map[string]any{"user": "erin", "wallet": uuid.NewString()}, 404, "wallet_not_found"},
		{"unknown field", map[string]any{"user": "erin", "wallet": physics, "priority": 1}, 400, "invalid_body"},
		{"empty body", "", 400, "invalid_body"},
	} {
		wantProblem(t, "mapping "+c.name, tn.do("POST", "/api/v1/accounting/mappings", op.Access, c.body), c.status, c.code)
	}
	maps := items[mappingView](t, tn.do("GET", "/api/v1/accounting/mappings", op.Access, nil))
	if len(maps) != 3 || maps[0].ID != m.Mapping.ID || maps[1].ID != ex.Mapping.ID || maps[2].ID != byID.Mapping.ID {
		t.Errorf("mappings %+v", maps)
	}
	if r := tn.do("DELETE", "/api/v1/accounting/mappings/"+byID.Mapping.ID, op.Access, nil); r.Status != http.StatusNoContent {
		t.Errorf("delete mapping: %s", r)
	}
	tn.auditBy("accounting.mapping.remove", byID.Mapping.ID, op.ID)
	wantProblem(t, "delete mapping again", tn.do("DELETE", "/api/v1/accounting/mappings/"+byID.Mapping.ID, op.Access, nil), http.StatusNotFound, "not_found")
	wantProblem(t, "delete malformed", tn.do("DELETE", "/api/v1/accounting/mappings/42", op.Access, nil), http.StatusNotFound, "not_found")
	if maps := items[mappingView](t, tn.do("GET", "/api/v1/accounting/mappings", op.Access, nil)); len(maps) != 2 {
		t.Errorf("mappings after delete %+v", maps)
	}
	wantProblem(t, "charges bad status", tn.do("GET", "/api/v1/accounting/charges?status=paid", op.Access, nil), http.StatusBadRequest, "invalid_query")
	wantProblem(t, "charges bad wallet", tn.do("GET", "/api/v1/accounting/charges?wallet_id=physics", op.Access, nil), http.StatusBadRequest, "invalid_query")
	wantProblem(t, "charges bad limit", tn.do("GET", "/api/v1/accounting/charges?limit=1001", op.Access, nil), http.StatusBadRequest, "invalid_query")
}

func testRates(t *testing.T, tn *testNode, _ *fakeScanner) {
	op := tn.newUser("operator")
	type rateView struct {
		ID                  string      `json:"id"`
		Cluster             string      `json:"cluster"`
		Partition           string      `json:"partition"`
		NodeHourMillipoints int64       `json:"node_hour_millipoints"`
		GPUHourMillipoints  int64       `json:"gpu_hour_millipoints"`
		NodeHourPoints      json.Number `json:"node_hour_points"`
		GPUHourPoints       json.Number `json:"gpu_hour_points"`
		EffectiveFrom       time.Time   `json:"effective_from"`
	}
	post := func(body any) response { return tn.do("POST", "/api/v1/accounting/rates", op.Access, body) }

	// Decimals are read from their text, as numbers or strings: 2.675 and 0.1 have no exact
	// float, and 12345678.901 loses its last digit through one.
	for _, c := range []struct {
		body        string
		node, gpu   int64
		nodeJ, gpuJ string
		from        time.Time
	}{
		{`{"cluster":"alpha","partition":"cpu","node_hour_points":"1.5","gpu_hour_points":0.125,"effective_from":"2026-01-01"}`,
			1500, 125, "1.5", "0.125", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{`{"cluster":"alpha","partition":"gpu","node_hour_points":2.675,"gpu_hour_points":"0.1","effective_from":"2026-02-01T06:30:00+02:00"}`,
			2675, 100, "2.675", "0.1", time.Date(2026, 2, 1, 4, 30, 0, 0, time.UTC)},
		{`{"cluster":"beta","node_hour_points":12345678.901,"effective_from":"2026-01-01"}`,
			12345678901, 0, "12345678.901", "0", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{`{"gpu_hour_points":"3","effective_from":"2026-01-01"}`, 0, 3000, "0", "3", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		var r rateView
		res := post(c.body)
		decodeInto(t, res, 201, &r)
		if r.NodeHourMillipoints != c.node || r.GPUHourMillipoints != c.gpu || string(r.NodeHourPoints) != c.nodeJ ||
			string(r.GPUHourPoints) != c.gpuJ || !r.EffectiveFrom.Equal(c.from) {
			t.Errorf("rate %s: got %+v", c.body, r)
		}
		if !strings.Contains(string(res.Body), `"node_hour_points":`+c.nodeJ+",") {
			t.Errorf("rate %s: node_hour_points is not the number %s in %s", c.body, c.nodeJ, res.Body)
		}
	}
	before := time.Now().Add(-time.Second)
	var def rateView
	decodeInto(t, post(map[string]any{"cluster": "gamma", "node_hour_points": 1}), 201, &def)
	if def.EffectiveFrom.Before(before) || def.EffectiveFrom.After(time.Now().Add(time.Second)) {
		t.Errorf("default effective_from %v, want about now", def.EffectiveFrom)
	}
	tn.auditBy("accounting.rate.add", def.ID, op.ID)
	stored := items[rateView](t, tn.do("GET", "/api/v1/accounting/rates", op.Access, nil))
	if len(stored) != 5 {
		t.Fatalf("rates %+v", stored)
	}
	for _, r := range stored {
		if r.ID == def.ID && !r.EffectiveFrom.Equal(def.EffectiveFrom) {
			t.Errorf("stored effective_from %v, answered %v", r.EffectiveFrom, def.EffectiveFrom)
		}
	}

	for _, c := range []struct{ name, body, code, want string }{
		{"four decimals", `{"node_hour_points":"1.2345"}`, "invalid", "node_hour_points"},
		{"four decimals as number", `{"gpu_hour_points":1.2345}`, "invalid", "gpu_hour_points"},
		{"negative", `{"node_hour_points":-1}`, "invalid", "node_hour_points"},
		{"negative string", `{"node_hour_points":"-1"}`, "invalid", "node_hour_points"},
		{"word", `{"node_hour_points":"abc"}`, "invalid", "node_hour_points"},
		{"exponent", `{"node_hour_points":1e3}`, "invalid", "node_hour_points"},
		{"bool", `{"node_hour_points":true}`, "invalid", "node_hour_points"},
		{"empty string", `{"node_hour_points":""}`, "invalid", "node_hour_points"},
		{"huge", `{"node_hour_points":"99999999999999999999"}`, "invalid", "node_hour_points"},
		{"no price", `{"cluster":"alpha"}`, "invalid", "node_hour_points"},
		{"null prices", `{"node_hour_points":null,"gpu_hour_points":null}`, "invalid", "node_hour_points"},
		{"bad date", `{"node_hour_points":1,"effective_from":"yesterday"}`, "invalid", "effective_from"},
		{"date without zone", `{"node_hour_points":1,"effective_from":"2026-01-01T00:00:00"}`, "invalid", "effective_from"},
		{"unknown field", `{"node_hour_points":1,"currency":"eur"}`, "invalid_body", "currency"},
		{"malformed", `{"node_hour_points":`, "invalid_body", "JSON"},
	} {
		r := post(c.body)
		wantProblem(t, "rate "+c.name, r, http.StatusBadRequest, c.code)
		if !strings.Contains(r.problem().Detail, c.want) {
			t.Errorf("rate %s: detail %q lacks %q", c.name, r.problem().Detail, c.want)
		}
	}
	wantProblem(t, "same rate again", post(`{"cluster":"alpha","partition":"cpu","node_hour_points":"2","effective_from":"2026-01-01"}`),
		http.StatusConflict, "rate_exists")
	if after := items[rateView](t, tn.do("GET", "/api/v1/accounting/rates", op.Access, nil)); len(after) != len(stored) {
		t.Errorf("bad requests stored rates: %d, want %d", len(after), len(stored))
	}
	if r := tn.do("DELETE", "/api/v1/accounting/rates/"+def.ID, op.Access, nil); r.Status != http.StatusNoContent {
		t.Errorf("delete rate: %s", r)
	}
	tn.auditBy("accounting.rate.remove", def.ID, op.ID)
	wantProblem(t, "delete rate again", tn.do("DELETE", "/api/v1/accounting/rates/"+def.ID, op.Access, nil), http.StatusNotFound, "not_found")
	if after := items[rateView](t, tn.do("GET", "/api/v1/accounting/rates", op.Access, nil)); len(after) != len(stored)-1 {
		t.Errorf("rates after delete: %d", len(after))
	}
}

type quotaView struct {
	ID                  string       `json:"id"`
	WalletID            string       `json:"wallet_id"`
	Period              string       `json:"period"`
	NodeHours           json.Number  `json:"node_hours"`
	GPUCoreHours        json.Number  `json:"gpu_core_hours"`
	PeriodStart         time.Time    `json:"period_start"`
	PeriodEnd           *time.Time   `json:"period_end"`
	UsedNodeHours       json.Number  `json:"used_node_hours"`
	UsedGPUCoreHours    json.Number  `json:"used_gpu_core_hours"`
	NodeHoursPercent    *json.Number `json:"node_hours_percent"`
	GPUCoreHoursPercent *json.Number `json:"gpu_core_hours_percent"`
}

func pct(q quotaView) (node, gpu string) {
	node, gpu = "null", "null"
	if q.NodeHoursPercent != nil {
		node = string(*q.NodeHoursPercent)
	}
	if q.GPUCoreHoursPercent != nil {
		gpu = string(*q.GPUCoreHoursPercent)
	}
	return node, gpu
}

func testQuotas(t *testing.T, tn *testNode, _ *fakeScanner) {
	op, member, stranger := tn.newUser("operator"), tn.newUser("user"), tn.newUser("user")
	proj := tn.sharedWallet("proj")
	put := func(body any) response { return tn.do("PUT", "/api/v1/accounting/quotas", op.Access, body) }

	var q quotaView
	decodeInto(t, put(map[string]any{"wallet": "proj", "period": "month", "node_hours": "20", "gpu_core_hours": 2.5}), 200, &q)
	monthStart, monthEnd := accounting.PeriodBounds("month", time.Now())
	if q.WalletID != proj || q.Period != "month" || q.NodeHours != "20" || q.GPUCoreHours != "2.5" || q.UsedNodeHours != "0" ||
		q.UsedGPUCoreHours != "0" || !q.PeriodStart.Equal(monthStart) || q.PeriodEnd == nil || !q.PeriodEnd.Equal(monthEnd) {
		t.Errorf("quota %+v", q)
	}
	if n, g := pct(q); n != "0" || g != "0" {
		t.Errorf("percent %s %s, want 0 0", n, g)
	}
	tn.auditBy("accounting.quota.set", proj, op.ID)
	// PUT replaces: the GPU limit goes.
	var q2 quotaView
	decodeInto(t, put(map[string]any{"wallet": proj, "period": "month", "node_hours": 8}), 200, &q2)
	if q2.ID != q.ID || q2.NodeHours != "8" || q2.GPUCoreHours != "0" {
		t.Errorf("replaced %+v", q2)
	}
	var total quotaView
	decodeInto(t, put(map[string]any{"wallet": proj, "period": "total", "gpu_core_hours": "3"}), 200, &total)
	if total.PeriodEnd != nil || total.Period != "total" {
		t.Errorf("total quota %+v", total)
	}

	// Usage this month, through a mapping made before it was stored: 2 node-hours (25 % of 8)
	// and 3 GPU core-hours (100 % of the total's 3).
	decodeInto(t, tn.do("POST", "/api/v1/accounting/mappings", op.Access, map[string]any{"user": "dave", "wallet": "proj"}), 201, nil)
	src := tn.newSource("quota-src", t.TempDir())
	end := monthStart.Add(time.Minute)
	saved := tn.saveFile(src.ID, "/logs/now.txt", []accounting.Record{
		job("alpha", "1", "dave", "g", "cpu", 1, 0, 2*time.Hour, end),
		job("alpha", "2", "dave", "g", "gpu", 1, 2, 90*time.Minute, end),
	})
	if len(saved.Events) != 2 {
		t.Errorf("quota events of the file: %+v", saved.Events)
	}
	qs := items[quotaView](t, tn.do("GET", "/api/v1/accounting/quotas?wallet_id="+proj, op.Access, nil))
	if len(qs) != 2 || qs[0].Period != "month" || qs[1].Period != "total" {
		t.Fatalf("quotas %+v", qs)
	}
	if m := qs[0]; m.UsedNodeHours != "2" || m.UsedGPUCoreHours != "3" {
		t.Errorf("month usage %+v", m)
	} else if n, g := pct(m); n != "25" || g != "null" {
		t.Errorf("month percent %s %s, want 25 null", n, g)
	}
	if n, g := pct(qs[1]); n != "null" || g != "100" {
		t.Errorf("total percent %s %s, want null 100", n, g)
	}
	type eventView struct {
		QuotaID   string  `json:"quota_id"`
		WalletID  string  `json:"wallet_id"`
		Metric    string  `json:"metric"`
		Threshold int     `json:"threshold"`
		Used      float64 `json:"used"`
		Quota     float64 `json:"quota"`
	}
	evs := items[eventView](t, tn.do("GET", "/api/v1/accounting/quota-events?wallet_id="+proj+"&limit=10", op.Access, nil))
	if len(evs) != 2 || evs[0].Threshold != 100 || evs[1].Threshold != 80 || evs[0].QuotaID != total.ID ||
		evs[0].Metric != "gpu_core_hours" || evs[0].Used != 3 || evs[0].Quota != 3 || evs[0].WalletID != proj {
		t.Errorf("quota events %+v", evs)
	}
	if evs := items[eventView](t, tn.do("GET", "/api/v1/accounting/quota-events?wallet_id="+member.WalletID, op.Access, nil)); len(evs) != 0 {
		t.Errorf("events of another wallet %+v", evs)
	}

	// The wallet-member route: the owner, admins and services see a wallet's quotas; others get
	// the answer GET /api/v1/wallets/{id} gives them (not found).
	decodeInto(t, put(map[string]any{"wallet": member.WalletID, "period": "year", "node_hours": "100.125"}), 200, nil)
	for who, token := range map[string]string{"owner": member.Access, "admin": tn.admin.Access, "service": tn.newUser("service").Access} {
		mine := items[quotaView](t, tn.do("GET", "/api/v1/wallets/"+member.WalletID+"/quotas", token, nil))
		if len(mine) != 1 || mine[0].Period != "year" || mine[0].NodeHours != "100.125" {
			t.Errorf("%s reading the member's quotas: %+v", who, mine)
		}
	}
	for who, token := range map[string]string{"stranger": stranger.Access, "operator": op.Access} {
		wantProblem(t, who+" reading a wallet's quotas", tn.do("GET", "/api/v1/wallets/"+member.WalletID+"/quotas", token, nil), http.StatusNotFound, "not_found")
		wantProblem(t, who+" reading the wallet", tn.do("GET", "/api/v1/wallets/"+member.WalletID, token, nil), http.StatusNotFound, "not_found")
	}
	wantProblem(t, "quotas of a malformed wallet", tn.do("GET", "/api/v1/wallets/nope/quotas", member.Access, nil), http.StatusNotFound, "not_found")
	if all := items[quotaView](t, tn.do("GET", "/api/v1/accounting/quotas", op.Access, nil)); len(all) != 3 {
		t.Errorf("all quotas %+v", all)
	}

	for _, c := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"bad period", map[string]any{"wallet": proj, "period": "week", "node_hours": 1}, 400, "invalid"},
		{"no period", map[string]any{"wallet": proj, "node_hours": 1}, 400, "invalid"},
		{"no limits", map[string]any{"wallet": proj, "period": "month"}, 400, "invalid"},
		{"zero limits", map[string]any{"wallet": proj, "period": "month", "node_hours": 0, "gpu_core_hours": "0"}, 400, "invalid"},
		{"four decimals", map[string]any{"wallet": proj, "period": "month", "node_hours": "1.2345"}, 400, "invalid"},
		{"negative", map[string]any{"wallet": proj, "period": "month", "gpu_core_hours": -2}, 400, "invalid"},
		{"no wallet", map[string]any{"period": "month", "node_hours": 1}, 400, "invalid"},
		{"unknown wallet", map[string]any{"wallet": "nobody", "period": "month", "node_hours": 1}, 404, "wallet_not_found"},
		{"unknown field", map[string]any{"wallet": proj, "period": "month", "node_hours": 1, "soft": true}, 400, "invalid_body"},
	} {
		wantProblem(t, "quota "+c.name, put(c.body), c.status, c.code)
	}
	wantProblem(t, "quotas bad wallet_id", tn.do("GET", "/api/v1/accounting/quotas?wallet_id=proj", op.Access, nil), http.StatusBadRequest, "invalid_query")
	if qs := items[quotaView](t, tn.do("GET", "/api/v1/accounting/quotas?wallet_id="+proj, op.Access, nil)); len(qs) != 2 || qs[0].NodeHours != "8" {
		t.Errorf("bad requests changed the quotas: %+v", qs)
	}

	if r := tn.do("DELETE", "/api/v1/accounting/quotas/"+q.ID, op.Access, nil); r.Status != http.StatusNoContent {
		t.Errorf("delete quota: %s", r)
	}
	tn.auditBy("accounting.quota.remove", proj, op.ID)
	wantProblem(t, "delete quota again", tn.do("DELETE", "/api/v1/accounting/quotas/"+q.ID, op.Access, nil), http.StatusNotFound, "not_found")
	if qs := items[quotaView](t, tn.do("GET", "/api/v1/accounting/quotas?wallet_id="+proj, op.Access, nil)); len(qs) != 1 || qs[0].ID != total.ID {
		t.Errorf("quotas after delete %+v", qs)
	}
}

// reportData stores a small hand-made month of usage: priced at 1 point per node-hour and 2 per
// GPU core-hour, group astro mapped to the shared wallet astro.
//
//	job  cluster user group partition            ends              usage           points wallet
//	1    alpha   ann  astro cpu      2 nodes × 3 h 2025-01-10 12:00  6 node-hours    6      astro
//	2    alpha   ben  astro gpu      4 GPUs × 1.5 h 2025-01-20 08:00 6 GPU core-hours 12    astro
//	3    alpha   cat  bio   cpu      1 node × 30 m 2025-02-03 00:30  0.5 node-hours  0.5    unassigned
//	4    beta    ann  astro cpu      1 node × 1 h  2024-12-31 23:00  1 node-hour     1      astro
func reportData(t *testing.T, tn *testNode) (astro string) {
	t.Helper()
	astro = tn.sharedWallet("astro")
	decodeInto(t, tn.do("POST", "/api/v1/accounting/rates", tn.admin.Access, map[string]any{
		"node_hour_points": 1, "gpu_hour_points": 2, "effective_from": "2020-01-01"}), 201, nil)
	decodeInto(t, tn.do("POST", "/api/v1/accounting/mappings", tn.admin.Access, map[string]any{"group": "astro", "wallet": astro}), 201, nil)
	src := tn.newSource("report-src", t.TempDir())
	saved := tn.saveFile(src.ID, "/logs/jan.txt", []accounting.Record{
		job("alpha", "1", "ann", "astro", "cpu", 2, 0, 3*time.Hour, time.Date(2025, 1, 10, 12, 0, 0, 0, time.UTC)),
		job("alpha", "2", "ben", "astro", "gpu", 1, 4, 90*time.Minute, time.Date(2025, 1, 20, 8, 0, 0, 0, time.UTC)),
		job("alpha", "3", "cat", "bio", "cpu", 1, 0, 30*time.Minute, time.Date(2025, 2, 3, 0, 30, 0, 0, time.UTC)),
		job("beta", "4", "ann", "astro", "cpu", 1, 0, time.Hour, time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC)),
	})
	if saved.Added != 4 || saved.Charges != 1 {
		t.Fatalf("saved %+v", saved)
	}
	return astro
}

type usageSum struct {
	Bucket    string  `json:"bucket"`
	Key       string  `json:"key"`
	Name      string  `json:"name"`
	Jobs      int64   `json:"jobs"`
	CPUJobs   int64   `json:"cpu_jobs"`
	GPUJobs   int64   `json:"gpu_jobs"`
	NodeHours float64 `json:"node_hours"`
	CoreHours float64 `json:"core_hours"`
	Points    float64 `json:"points"`
}

func testReports(t *testing.T, tn *testNode, _ *fakeScanner) {
	op := tn.newUser("operator")
	astro := reportData(t, tn)
	type overview struct {
		From           time.Time  `json:"from"`
		To             time.Time  `json:"to"`
		TotalNodeHours float64    `json:"total_node_hours"`
		TotalCoreHours float64    `json:"total_core_hours"`
		Jobs           int64      `json:"jobs"`
		CPUJobs        int64      `json:"cpu_jobs"`
		GPUJobs        int64      `json:"gpu_jobs"`
		Points         float64    `json:"points"`
		Unassigned     usageSum   `json:"unassigned"`
		TopWallets     []usageSum `json:"top_wallets"`
		TopUsers       []usageSum `json:"top_users"`
		TopPartitions  []usageSum `json:"top_partitions"`
	}
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

	var ov overview
	decodeInto(t, tn.do("GET", "/api/v1/accounting/overview?from=2025-01-01&to=2025-02-04", op.Access, nil), 200, &ov)
	if !ov.From.Equal(day(2025, 1, 1)) || !ov.To.Equal(day(2025, 2, 4)) || ov.Jobs != 3 || ov.CPUJobs != 2 || ov.GPUJobs != 1 ||
		ov.TotalNodeHours != 6.5 || ov.TotalCoreHours != 6 || ov.Points != 18.5 {
		t.Errorf("overview totals %+v", ov)
	}
	if u := ov.Unassigned; u.Jobs != 1 || u.NodeHours != 0.5 || u.CoreHours != 0 || u.Points != 0.5 {
		t.Errorf("unassigned %+v", u)
	}
	wantTop := func(what string, got []usageSum, want ...usageSum) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
		}
	}
	wantTop("top wallets", ov.TopWallets,
		usageSum{Key: astro, Name: "astro", Jobs: 2, CPUJobs: 1, GPUJobs: 1, NodeHours: 6, CoreHours: 6, Points: 18},
		usageSum{Key: "", Jobs: 1, CPUJobs: 1, NodeHours: 0.5, Points: 0.5})
	wantTop("top users", ov.TopUsers, // ann and ben tie at 6 hours: by key
		usageSum{Key: "ann", Jobs: 1, CPUJobs: 1, NodeHours: 6, Points: 6},
		usageSum{Key: "ben", Jobs: 1, GPUJobs: 1, CoreHours: 6, Points: 12},
		usageSum{Key: "cat", Jobs: 1, CPUJobs: 1, NodeHours: 0.5, Points: 0.5})
	wantTop("top partitions", ov.TopPartitions,
		usageSum{Key: "cpu", Jobs: 2, CPUJobs: 2, NodeHours: 6.5, Points: 6.5},
		usageSum{Key: "gpu", Jobs: 1, GPUJobs: 1, CoreHours: 6, Points: 12})

	// to is exclusive: a bare date leaves its day out; a time counts by its day.
	for _, q := range []string{"from=2025-01-01&to=2025-02-03", "from=2025-01-01T23:59:59Z&to=" + url.QueryEscape("2025-02-03T18:00:00+00:00")} {
		decodeInto(t, tn.do("GET", "/api/v1/accounting/overview?"+q, op.Access, nil), 200, &ov)
		if ov.Jobs != 2 || ov.Points != 18 || ov.Unassigned.Jobs != 0 || !ov.To.Equal(day(2025, 2, 3)) {
			t.Errorf("overview %s: %+v", q, ov)
		}
	}
	// Defaults: everything up to today; top limits the lists.
	decodeInto(t, tn.do("GET", "/api/v1/accounting/overview?top=1", op.Access, nil), 200, &ov)
	y, m, d := time.Now().UTC().Date()
	if ov.Jobs != 4 || ov.Points != 19.5 || !ov.From.Equal(day(1970, 1, 1)) || !ov.To.Equal(day(y, m, d+1)) ||
		len(ov.TopWallets) != 1 || len(ov.TopUsers) != 1 || ov.TopUsers[0].Key != "ann" || ov.TopUsers[0].NodeHours != 7 {
		t.Errorf("overview with defaults %+v", ov)
	}
	for _, q := range []string{"from=2025-02-03&to=2025-02-03", "from=2025-03-01&to=2025-02-01", "from=yesterday", "to=2025-13-01",
		"top=0", "top=101", "top=x", "since=2025-01-01", "from=2025-01-01T10:00:00Z&to=2025-01-01T20:00:00Z"} {
		wantProblem(t, "overview "+q, tn.do("GET", "/api/v1/accounting/overview?"+q, op.Access, nil), http.StatusBadRequest, "invalid_query")
	}

	usage := func(q string) []usageSum {
		t.Helper()
		var rep struct {
			GroupBy string     `json:"group_by"`
			Bucket  string     `json:"bucket"`
			From    time.Time  `json:"from"`
			To      time.Time  `json:"to"`
			Rows    []usageSum `json:"rows"`
		}
		decodeInto(t, tn.do("GET", "/api/v1/accounting/usage?"+q, op.Access, nil), 200, &rep)
		v, _ := url.ParseQuery(q)
		if rep.GroupBy != v.Get("group_by") || rep.Bucket != v.Get("bucket") || rep.Rows == nil {
			t.Errorf("usage %s: group_by %q bucket %q rows %v", q, rep.GroupBy, rep.Bucket, rep.Rows)
		}
		if v.Get("from") == "2025-01-01" && !rep.From.Equal(day(2025, 1, 1)) {
			t.Errorf("usage %s: from %v", q, rep.From)
		}
		return rep.Rows
	}
	jan := "&from=2025-01-01&to=2025-02-04"
	wantTop("usage by wallet", usage("group_by=wallet"+jan),
		usageSum{Key: astro, Name: "astro", Jobs: 2, CPUJobs: 1, GPUJobs: 1, NodeHours: 6, CoreHours: 6, Points: 18},
		usageSum{Key: "", Jobs: 1, CPUJobs: 1, NodeHours: 0.5, Points: 0.5})
	wantTop("usage by user and month", usage("group_by=user&bucket=month"+jan),
		usageSum{Bucket: "2025-01-01", Key: "ann", Jobs: 1, CPUJobs: 1, NodeHours: 6, Points: 6},
		usageSum{Bucket: "2025-01-01", Key: "ben", Jobs: 1, GPUJobs: 1, CoreHours: 6, Points: 12},
		usageSum{Bucket: "2025-02-01", Key: "cat", Jobs: 1, CPUJobs: 1, NodeHours: 0.5, Points: 0.5})
	wantTop("usage by cluster and week", usage("group_by=cluster&bucket=week&from=2024-12-01&to=2025-01-15"),
		usageSum{Bucket: "2024-12-30", Key: "beta", Jobs: 1, CPUJobs: 1, NodeHours: 1, Points: 1}, // a Tuesday's week
		usageSum{Bucket: "2025-01-06", Key: "alpha", Jobs: 1, CPUJobs: 1, NodeHours: 6, Points: 6})
	wantTop("usage by partition on alpha", usage("group_by=partition&cluster=alpha"+jan),
		usageSum{Key: "cpu", Jobs: 2, CPUJobs: 2, NodeHours: 6.5, Points: 6.5},
		usageSum{Key: "gpu", Jobs: 1, GPUJobs: 1, CoreHours: 6, Points: 12})
	wantTop("unassigned usage by user", usage("group_by=user&wallet=unassigned"+jan),
		usageSum{Key: "cat", Jobs: 1, CPUJobs: 1, NodeHours: 0.5, Points: 0.5})
	wantTop("astro's usage by user (wallet by name)", usage("group_by=user&wallet=Astro"),
		usageSum{Key: "ann", Jobs: 2, CPUJobs: 2, NodeHours: 7, Points: 7},
		usageSum{Key: "ben", Jobs: 1, GPUJobs: 1, CoreHours: 6, Points: 12})
	wantTop("usage by group of user ann in account astro", usage("group_by=group&user=ann&account=astro&partition=cpu"+jan),
		usageSum{Key: "astro", Jobs: 1, CPUJobs: 1, NodeHours: 6, Points: 6})
	wantTop("usage of nobody", usage("group_by=user&user=zed"))

	// CSV, asked for by format or by Accept.
	wantCSV := [][]string{
		{"bucket", "wallet", "name", "jobs", "cpu_jobs", "gpu_jobs", "node_hours", "core_hours", "points"},
		{"", astro, "astro", "2", "1", "1", "6", "6", "18"},
		{"", "unassigned", "", "1", "1", "0", "0.5", "0", "0.5"},
	}
	for _, c := range []struct {
		name, query string
		h           hdr
	}{
		{"format=csv", "group_by=wallet&format=csv" + jan, nil},
		{"Accept", "group_by=wallet" + jan, hdr{"Accept": "text/csv, application/json;q=0.5"}},
	} {
		r := tn.do("GET", "/api/v1/accounting/usage?"+c.query, op.Access, nil, c.h)
		if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
			t.Errorf("csv by %s: %s (%s)", c.name, r, r.Header.Get("Content-Type"))
			continue
		}
		got, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
		if err != nil || !slices.EqualFunc(got, wantCSV, slices.Equal) {
			t.Errorf("csv by %s:\n got %q (%v)\nwant %q", c.name, got, err, wantCSV)
		}
	}
	r := tn.do("GET", "/api/v1/accounting/usage?group_by=wallet&format=json"+jan, op.Access, nil, hdr{"Accept": "text/csv"})
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("format=json with Accept text/csv: %s", r.Header.Get("Content-Type"))
	}

	for _, c := range []struct{ name, query, code, want string }{
		{"no group_by", "bucket=day", "invalid_query", "group_by is required: one of wallet, user, group, account, partition, cluster"},
		{"bad group_by", "group_by=job", "invalid_query", "group_by must be one of wallet, user, group, account, partition, cluster"},
		{"bad bucket", "group_by=user&bucket=year", "invalid_query", "bucket"},
		{"bad format", "group_by=user&format=xml", "invalid_query", "format"},
		{"bad range", "group_by=user&from=2025-02-01&to=2025-01-01", "invalid_query", "from"},
		{"unknown filter", "group_by=user&qos=high", "invalid_query", "qos"},
	} {
		r := tn.do("GET", "/api/v1/accounting/usage?"+c.query, op.Access, nil)
		wantProblem(t, "usage "+c.name, r, http.StatusBadRequest, c.code)
		if !strings.Contains(r.problem().Detail, c.want) {
			t.Errorf("usage %s: detail %q lacks %q", c.name, r.problem().Detail, c.want)
		}
	}
	wantProblem(t, "usage of an unknown wallet", tn.do("GET", "/api/v1/accounting/usage?group_by=user&wallet=nobody", op.Access, nil),
		http.StatusNotFound, "wallet_not_found")
}

func testClusterUsers(t *testing.T, tn *testNode, _ *fakeScanner) {
	op, u := tn.newUser("operator"), tn.newUser("user")
	reportData(t, tn)
	type clusterUser struct {
		Cluster string `json:"cluster"`
		Login   string `json:"login"`
		UserID  string `json:"user_id"`
		Email   string `json:"email"`
	}
	logins := func(q string) []string {
		t.Helper()
		var out []string
		for _, cu := range items[clusterUser](t, tn.do("GET", "/api/v1/accounting/users?"+q, op.Access, nil)) {
			out = append(out, cu.Cluster+"/"+cu.Login)
		}
		return out
	}
	for q, want := range map[string][]string{
		"":                      {"alpha/ann", "alpha/ben", "alpha/cat", "beta/ann"},
		"cluster=alpha":         {"alpha/ann", "alpha/ben", "alpha/cat"},
		"cluster=alpha&q=b":     {"alpha/ben"},
		"q=an":                  {"alpha/ann", "beta/ann"},
		"cluster=gamma":         nil,
		"cluster=alpha&limit=1": {"alpha/ann"},
	} {
		if got := logins(q); !slices.Equal(got, want) {
			t.Errorf("users?%s: %v, want %v", q, got, want)
		}
	}
	wantProblem(t, "users bad limit", tn.do("GET", "/api/v1/accounting/users?limit=0", op.Access, nil), http.StatusBadRequest, "invalid_query")

	var cu clusterUser
	decodeInto(t, tn.do("PUT", "/api/v1/accounting/users/alpha/ann", tn.admin.Access, map[string]any{"user_id": u.ID}), 200, &cu)
	if cu != (clusterUser{Cluster: "alpha", Login: "ann", UserID: u.ID, Email: u.Email}) {
		t.Errorf("linked %+v", cu)
	}
	tn.auditBy("accounting.cluster_user.link", "alpha/ann", tn.admin.ID)
	all := items[clusterUser](t, tn.do("GET", "/api/v1/accounting/users?cluster=alpha&q=ann", op.Access, nil))
	if len(all) != 1 || all[0].UserID != u.ID || all[0].Email != u.Email {
		t.Errorf("listed %+v", all)
	}
	// The linked user sees the usage of that login (alpha/ann), not of beta/ann; others see none.
	type myUsage struct {
		Logins []clusterUser `json:"logins"`
		Rows   []struct {
			Cluster   string  `json:"cluster"`
			Login     string  `json:"login"`
			Bucket    string  `json:"bucket"`
			Jobs      int64   `json:"jobs"`
			NodeHours float64 `json:"node_hours"`
			Points    float64 `json:"points"`
		} `json:"rows"`
	}
	var mine myUsage
	decodeInto(t, tn.do("GET", "/api/v1/me/usage?bucket=month", u.Access, nil), 200, &mine)
	if len(mine.Logins) != 1 || len(mine.Rows) != 1 || mine.Rows[0].Cluster != "alpha" || mine.Rows[0].Login != "ann" ||
		mine.Rows[0].Bucket != "2025-01-01" || mine.Rows[0].Jobs != 1 || mine.Rows[0].NodeHours != 6 || mine.Rows[0].Points != 6 {
		t.Errorf("me/usage %+v", mine)
	}
	var theirs myUsage
	decodeInto(t, tn.do("GET", "/api/v1/me/usage", op.Access, nil), 200, &theirs)
	if len(theirs.Logins) != 0 || len(theirs.Rows) != 0 {
		t.Errorf("me/usage of an unlinked user %+v", theirs)
	}
	wantProblem(t, "me/usage bad bucket", tn.do("GET", "/api/v1/me/usage?bucket=year", u.Access, nil), http.StatusBadRequest, "invalid_query")
	wantProblem(t, "me/usage unknown parameter", tn.do("GET", "/api/v1/me/usage?user=ben", u.Access, nil), http.StatusBadRequest, "invalid_query")

	var unlinked clusterUser
	decodeInto(t, tn.do("PUT", "/api/v1/accounting/users/alpha/ann", tn.admin.Access, map[string]any{"user_id": ""}), 200, &unlinked)
	if unlinked != (clusterUser{Cluster: "alpha", Login: "ann"}) {
		t.Errorf("unlinked %+v", unlinked)
	}
	for _, c := range []struct {
		name, path string
		body       any
		status     int
		code       string
	}{
		{"unknown login", "alpha/zed", map[string]any{"user_id": u.ID}, 404, "not_found"},
		{"unknown user", "alpha/ann", map[string]any{"user_id": uuid.NewString()}, 404, "user_not_found"},
		{"malformed user", "alpha/ann", map[string]any{"user_id": "ann"}, 400, "invalid"},
		{"no user_id", "alpha/ann", map[string]any{}, 400, "invalid"},
		{"no body", "alpha/ann", nil, 400, "invalid_body"},
	} {
		wantProblem(t, "link "+c.name, tn.do("PUT", "/api/v1/accounting/users/"+c.path, tn.admin.Access, c.body), c.status, c.code)
	}
	wantProblem(t, "link as operator", tn.do("PUT", "/api/v1/accounting/users/alpha/ann", op.Access, map[string]any{"user_id": u.ID}),
		http.StatusForbidden, "forbidden")
}

// testOperatorsOnly checks the accounting rows of the RBAC table on this gateway too: a user
// is refused every operator route, an operator only the admin one.
func testOperatorsOnly(t *testing.T, tn *testNode, _ *fakeScanner) {
	tokens := map[string]string{"user": tn.newUser("user").Access, "operator": tn.newUser("operator").Access,
		"service": tn.newUser("service").Access}
	n := 0
	for _, key := range sortedKeys(rbacTable) {
		method, path, _ := strings.Cut(key, " ")
		if !strings.HasPrefix(path, "/api/v1/accounting/") && key != "POST /api/v1/wallets" {
			continue
		}
		n++
		for who, token := range tokens {
			var body any
			if method != "GET" && method != "DELETE" {
				body = "{}"
			}
			r := tn.do(method, concrete(path), token, body)
			if slices.Contains(rbacTable[key], who) {
				if r.Status == http.StatusForbidden || r.Status == http.StatusUnauthorized {
					t.Errorf("%s as %s: refused %s", key, who, r)
				}
			} else {
				wantProblem(t, key+" as "+who, r, http.StatusForbidden, "forbidden")
			}
		}
	}
	if n != 24 {
		t.Errorf("%d accounting routes in the RBAC table, want 24", n)
	}
}
