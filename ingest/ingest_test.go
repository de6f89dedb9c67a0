package ingest_test

import (
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/divinewhispers/dw/ingest"
	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/persistence"
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, pgtest.Options{Migrate: persistence.Migrate}))
}

type env struct {
	t     *testing.T
	ctx   context.Context
	store *persistence.Store
	src   persistence.IngestSource
	dir   string
}

func newEnv(t *testing.T, format, cluster, glob string) *env {
	t.Helper()
	ctx := context.Background()
	store, err := persistence.Open(ctx, pgtest.NewDB(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	dir := t.TempDir()
	src := persistence.IngestSource{Name: "test", Dir: dir, Glob: glob, Format: format, Cluster: cluster, Enabled: true}
	if err := ingest.Validate(&src, []string{dir}); err != nil {
		t.Fatal(err)
	}
	src, err = store.CreateSource(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, store: store, src: src, dir: dir}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "accounting", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) write(name string, b []byte) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) appendTo(name, s string) {
	e.t.Helper()
	f, err := os.OpenFile(filepath.Join(e.dir, name), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		e.t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) run() ingest.Report {
	e.t.Helper()
	rep, err := ingest.Run(e.ctx, e.store, e.src, []string{e.dir}, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return rep
}

// totals checks what usage_records holds, exactly: node-seconds and GPU-seconds.
func (e *env) totals(records, node, gpu int64) {
	e.t.Helper()
	got, err := e.store.UsageTotals(e.ctx, "")
	if err != nil {
		e.t.Fatal(err)
	}
	want := persistence.UsageTotals{Records: records, NodeSeconds: node, GPUSeconds: gpu}
	if got != want {
		e.t.Errorf("usage_records: %+v; want %+v", got, want)
	}
}

func check(t *testing.T, got, want ingest.Report) {
	t.Helper()
	want.Source = got.Source
	got.QuotaEvents = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("report\n got %+v\nwant %+v", got, want)
	}
}

// sacct.txt: 13 jobs, 43.5 node-hours, 5 GPU-hours, one bad line (17); see accounting/fixture_test.go.
const sacctNode, sacctGPU = 156_600, 18_000 // 43.5 and 5 hours

func TestFirstRunThenSkip(t *testing.T) {
	e := newEnv(t, "slurm-sacct", "alpha", "*.txt")
	e.write("sacct.txt", fixture(t, "sacct.txt"))
	check(t, e.run(), ingest.Report{Files: 1, Read: 1, Records: 13, NewRecords: 13, Errors: 1})
	e.totals(13, sacctNode, sacctGPU)

	check(t, e.run(), ingest.Report{Files: 1, Skipped: 1})
	e.totals(13, sacctNode, sacctGPU)

	// Touched without change: the checksum says so, nothing is parsed.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(e.dir, "sacct.txt"), later, later); err != nil {
		t.Fatal(err)
	}
	check(t, e.run(), ingest.Report{Files: 1, Skipped: 1})
	check(t, e.run(), ingest.Report{Files: 1, Skipped: 1})

	errs, err := e.store.IngestErrors(e.ctx, "test", 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 1 || errs[0].Line != 17 || errs[0].File != filepath.Join(e.dir, "sacct.txt") || errs[0].Source != "test" {
		t.Errorf("errors %+v; want one at sacct.txt:17", errs)
	}
}

func TestRenameAndCopy(t *testing.T) {
	e := newEnv(t, "slurm-sacct", "alpha", "*")
	e.write("sacct.txt", fixture(t, "sacct.txt"))
	e.run()
	if err := os.Rename(filepath.Join(e.dir, "sacct.txt"), filepath.Join(e.dir, "sacct-20240301.txt")); err != nil {
		t.Fatal(err)
	}
	check(t, e.run(), ingest.Report{Files: 1, Renamed: 1})
	e.write("copy.txt", fixture(t, "sacct.txt"))
	check(t, e.run(), ingest.Report{Files: 2, Skipped: 1, Renamed: 1})
	check(t, e.run(), ingest.Report{Files: 2, Skipped: 2})
	e.totals(13, sacctNode, sacctGPU)
}

func TestCopiesInOneRun(t *testing.T) {
	e := newEnv(t, "slurm-sacct", "alpha", "*")
	e.write("a.txt", fixture(t, "sacct.txt"))
	e.write("b.txt", fixture(t, "sacct.txt"))
	check(t, e.run(), ingest.Report{Files: 2, Read: 1, Renamed: 1, Records: 13, NewRecords: 13, Errors: 1})
	e.totals(13, sacctNode, sacctGPU)
}

func TestGrowingFile(t *testing.T) {
	e := newEnv(t, "slurm-sacct", "alpha", "*")
	full := string(fixture(t, "sacct.txt"))
	lines := strings.SplitAfter(full, "\n")
	// Header and 9 lines: 1001 (+3 steps), 1002, 1003_1, 1003_2, 1005+0, 1005+1 = 6 jobs.
	head := strings.Join(lines[:10], "")
	e.write("sacct.txt", []byte(head))
	check(t, e.run(), ingest.Report{Files: 1, Read: 1, Records: 6, NewRecords: 6})
	// 10 + 1.5 + 24 + 1 node-hours; 3 + 2 GPU-hours.
	e.totals(6, 131_400, 18_000)

	// The rest of the fixture: read from where the first run stopped, past the header.
	e.appendTo("sacct.txt", full[len(head):])
	check(t, e.run(), ingest.Report{Files: 1, Resumed: 1, Records: 7, NewRecords: 7, Errors: 1})
	e.totals(13, sacctNode, sacctGPU)

	// A new finished job arrives in two writes: the half line waits for its newline.
	job := "1013|1013|gina|phys|proj1|cpu|normal|COMPLETED|2024-03-02T00:00:00|2024-03-02T00:00:00|2024-03-02T01:00:00|01:00:00|3600|2|64|cpu=64,node=2|c[01-02]|0:0\n"
	e.appendTo("sacct.txt", job[:40])
	check(t, e.run(), ingest.Report{Files: 1, Resumed: 1})
	e.appendTo("sacct.txt", job[40:])
	check(t, e.run(), ingest.Report{Files: 1, Resumed: 1, Records: 1, NewRecords: 1})
	e.totals(14, sacctNode+7_200, sacctGPU)

	errs, err := e.store.IngestErrors(e.ctx, "", 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 1 || errs[0].Line != 17 {
		t.Errorf("errors %+v; want one at line 17 (line numbers carried over a resume)", errs)
	}
}

func TestRewrittenFileIsReadAgain(t *testing.T) {
	e := newEnv(t, "slurm-sacct", "alpha", "*")
	full := string(fixture(t, "sacct.txt"))
	e.write("dump.txt", []byte(full))
	e.run()
	// sacct rewrote its dump: the same jobs in another order, plus one. The consumed prefix no
	// longer matches, so the file is read from its start; known jobs are not stored again.
	lines := strings.SplitAfter(full, "\n")
	rewritten := lines[0] + strings.Join(lines[5:], "") + strings.Join(lines[1:5], "") +
		"1013|1013|gina|phys|proj1|cpu|normal|COMPLETED|2024-03-02T00:00:00|2024-03-02T00:00:00|2024-03-02T01:00:00|01:00:00|3600|2|64|cpu=64,node=2|c[01-02]|0:0\n"
	e.write("dump.txt", []byte(rewritten))
	check(t, e.run(), ingest.Report{Files: 1, Read: 1, Records: 14, NewRecords: 1, Errors: 1})
	e.totals(14, sacctNode+7_200, sacctGPU)
	errs, err := e.store.IngestErrors(e.ctx, "test", 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 1 {
		t.Errorf("errors %+v; want the re-read file's one error, not two", errs)
	}
}

func TestGzipCopyIsNotCountedTwice(t *testing.T) {
	e := newEnv(t, "slurm-sacct", "alpha", "sacct*")
	plain := fixture(t, "sacct.txt")
	e.write("sacct.txt", plain)
	f, err := os.Create(filepath.Join(e.dir, "sacct.txt.1.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := zw.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// Different bytes, so both are parsed; the jobs are stored once.
	check(t, e.run(), ingest.Report{Files: 2, Read: 2, Records: 26, NewRecords: 13, Errors: 2})
	e.totals(13, sacctNode, sacctGPU)
	check(t, e.run(), ingest.Report{Files: 2, Skipped: 2})
}

func TestFixtures(t *testing.T) {
	for _, tc := range []struct {
		file, format, cluster string
		records, jobs, errors int
		node, gpu             int64
	}{
		{"jobcomp.log", "slurm-jobcomp", "beta", 4, 4, 2, 5_400, 61_200},
		{"pbs-20240301", "pbs", "gamma", 4, 4, 1, 23_749, 18_000},
		// 3001 appears twice with the same Submit: stored once.
		{"sacct-p.txt.gz", "slurm-sacct", "delta", 3, 2, 0, 43_200, 172_800},
	} {
		t.Run(tc.file, func(t *testing.T) {
			e := newEnv(t, tc.format, tc.cluster, "*")
			e.write(tc.file, fixture(t, tc.file))
			check(t, e.run(), ingest.Report{Files: 1, Read: 1, Records: tc.records, NewRecords: int64(tc.jobs), Errors: tc.errors})
			e.totals(int64(tc.jobs), tc.node, tc.gpu)
			errs, err := e.store.IngestErrors(e.ctx, "test", 50)
			if err != nil {
				t.Fatal(err)
			}
			if len(errs) != tc.errors {
				t.Errorf("%d stored errors; want %d", len(errs), tc.errors)
			}
			for _, er := range errs {
				if er.Line == 0 || er.File != filepath.Join(e.dir, tc.file) || er.Message == "" {
					t.Errorf("error without its place: %+v", er)
				}
			}
			check(t, e.run(), ingest.Report{Files: 1, Skipped: 1})
		})
	}
}

func TestBadLinesKeepGoodOnes(t *testing.T) {
	e := newEnv(t, "pbs", "gamma", "*")
	good := "03/01/2024 10:00:00;E;8001.server;user=u group=g queue=q ctime=1709280000 qtime=1709280000 etime=1709280000 start=1709283600 end=1709287200 exec_host=n1/0+n2/0 Resource_List.nodect=2 Exit_status=0\n"
	e.write("20240301", []byte("garbage\n"+good+"03/01/2024 10:00:00;E;8002.server;start=x end=y\n"))
	rep := e.run()
	check(t, rep, ingest.Report{Files: 1, Read: 1, Records: 1, NewRecords: 1, Errors: rep.Errors})
	if rep.Errors < 1 {
		t.Errorf("report %+v: the bad lines are not counted", rep)
	}
	e.totals(1, 7_200, 0)
	errs, err := e.store.IngestErrors(e.ctx, "test", 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != rep.Errors {
		t.Fatalf("stored %d errors, reported %d", len(errs), rep.Errors)
	}
	for _, er := range errs {
		if er.Line != 1 && er.Line != 3 {
			t.Errorf("error at line %d: %+v", er.Line, er)
		}
	}
}

func TestUnreadableFileIsRecorded(t *testing.T) {
	e := newEnv(t, "slurm-sacct", "alpha", "*")
	e.write("broken.gz", []byte{0x1f, 0x8b, 0, 1, 2, 3})
	check(t, e.run(), ingest.Report{Files: 1, Read: 1, Failed: 1, Errors: 1})
	check(t, e.run(), ingest.Report{Files: 1, Skipped: 1})
	errs, err := e.store.IngestErrors(e.ctx, "test", 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Message, "cannot read") {
		t.Errorf("errors %+v", errs)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	ok := persistence.IngestSource{Name: "n", Dir: dir, Format: "pbs", Cluster: "c"}
	for _, tc := range []struct {
		flag string
		edit func(*persistence.IngestSource)
	}{
		{"--name", func(s *persistence.IngestSource) { s.Name = " " }},
		{"--dir", func(s *persistence.IngestSource) { s.Dir = filepath.Join(dir, "missing") }},
		{"--format", func(s *persistence.IngestSource) { s.Format = "sacct" }},
		{"--cluster", func(s *persistence.IngestSource) { s.Cluster = "" }},
		{"--glob", func(s *persistence.IngestSource) { s.Glob = "[" }},
		{"--interval", func(s *persistence.IngestSource) { s.Interval = 500 * time.Millisecond }},
		{"--timezone", func(s *persistence.IngestSource) { s.Timezone = "Mars/Olympus" }},
	} {
		src := ok
		tc.edit(&src)
		err := ingest.Validate(&src, []string{dir})
		if err == nil || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%s: error %v; want one naming %s", tc.flag, err, tc.flag)
		}
	}
	src := ok
	if err := ingest.Validate(&src, []string{dir}); err != nil {
		t.Fatal(err)
	}
	if src.Glob != "*" || src.Timezone != "UTC" || src.Interval != 30*time.Second {
		t.Errorf("defaults not filled: %+v", src)
	}
}
