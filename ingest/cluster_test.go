package ingest_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/divinewhispers/dw/ingest"
	"github.com/divinewhispers/dw/persistence"
)

// TestSourceCluster: jobs are stored under the source's cluster whatever their file says, the
// file's cluster kept beside it and a difference counted; the same file read by a source of
// another cluster gives other jobs; re-scans store nothing twice.
func TestSourceCluster(t *testing.T) {
	// Jobs 1 and 2 name cluster east, job 3 names none.
	const log = "JobID|Cluster|User|State|Submit|Start|End|ElapsedRaw|AllocNodes\n" +
		"1|east|u|COMPLETED|2024-03-01T00:00:00|2024-03-01T00:00:00|2024-03-01T01:00:00|3600|1\n" +
		"2|east|u|COMPLETED|2024-03-01T00:00:00|2024-03-01T00:00:00|2024-03-01T01:00:00|3600|2\n" +
		"3||u|COMPLETED|2024-03-01T00:00:00|2024-03-01T00:00:00|2024-03-01T01:00:00|3600|1\n"
	e := newEnv(t, "slurm-sacct", "hpcx", "*.txt")
	e.write("a.txt", []byte(log))
	check(t, e.run(), ingest.Report{Files: 1, Read: 1, Records: 3, NewRecords: 3, ClusterMismatches: 2})
	check(t, e.run(), ingest.Report{Files: 1, Skipped: 1})

	// The same file read again from its start (a copy with a line more): the stored jobs are
	// found under hpcx, one job is new.
	e.write("b.txt", []byte(log+"4|east|u|COMPLETED|2024-03-01T00:00:00|2024-03-01T00:00:00|2024-03-01T01:00:00|3600|1\n"))
	check(t, e.run(), ingest.Report{Files: 2, Skipped: 1, Read: 1, Records: 4, NewRecords: 1, ClusterMismatches: 3})

	// A second source of another cluster over the same directory: its jobs are its own.
	src := persistence.IngestSource{Name: "other", Dir: e.dir, Glob: "a.txt", Format: "slurm-sacct", Cluster: "east", Enabled: true}
	if err := ingest.Validate(&src, []string{e.dir}); err != nil {
		t.Fatal(err)
	}
	src, err := e.store.CreateSource(e.ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ingest.Run(e.ctx, e.store, src, []string{e.dir}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	check(t, rep, ingest.Report{Files: 1, Read: 1, Records: 3, NewRecords: 3}) // east is east: no mismatch

	rows, err := e.store.Pool().Query(e.ctx, `SELECT key, cluster, file_cluster FROM usage_records ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	var got [][3]string
	for rows.Next() {
		var r [3]string
		if err := rows.Scan(&r[0], &r[1], &r[2]); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	const sub = "|2024-03-01T00:00:00Z"
	want := [][3]string{
		{"east|1" + sub, "east", "east"}, {"east|2" + sub, "east", "east"}, {"east|3" + sub, "east", ""},
		{"hpcx|1" + sub, "hpcx", "east"}, {"hpcx|2" + sub, "hpcx", "east"}, {"hpcx|3" + sub, "hpcx", ""}, {"hpcx|4" + sub, "hpcx", "east"},
	}
	if len(got) != len(want) {
		t.Fatalf("usage records %v\nwant %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("usage record %d: %v, want %v", i, got[i], want[i])
		}
	}
	files, err := e.store.ProcessedFiles(e.ctx, e.src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := files[filepath.Join(e.dir, "a.txt")], files[filepath.Join(e.dir, "b.txt")]; a.ClusterMismatches != 2 || b.ClusterMismatches != 3 {
		t.Errorf("files' cluster mismatches %d and %d, want 2 and 3", a.ClusterMismatches, b.ClusterMismatches)
	}
}
