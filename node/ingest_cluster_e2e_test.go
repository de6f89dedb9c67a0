package node_test

import (
	"bufio"
	"compress/gzip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/internal/realacct"
	"github.com/divinewhispers/dw/persistence"
)

// xdmodColumns are the fields XDMoD asks sacct for, in order: its reference logs have no header.
const xdmodColumns = "JobID,JobIDRaw,Cluster,Partition,QOS,Account,Group,GID,User,UID,Submit,Eligible,Start,End,Elapsed," +
	"ExitCode,State,NNodes,NCPUS,ReqCPUS,ReqMem,ReqTRES,AllocTRES,Timelimit,NodeList,JobName"

// TestSourceClusterIsAuthoritative reads XDMoD's reference sacct log (whose Cluster column
// says phillips) through a source configured as cluster hpcx, with the real binary: every job
// is stored under hpcx with phillips kept as its file cluster, the scan counts them as
// mismatches, and hpcx's rate and mapping charge them — phillips's rate does not — by the
// amount counted here independently from the file. A second run stores and charges nothing.
func TestSourceClusterIsAuthoritative(t *testing.T) {
	t.Parallel()
	dir := realacct.Dir(t, "sacct-xdmod")
	const file = "phillips.log.gz"

	// The independent count: every line is a finished job of group taifl or another; a CPU
	// job costs nodes × elapsed, a GPU job (gres/gpu=N in AllocTRES) GPUs × elapsed.
	f, err := os.Open(filepath.Join(dir, file))
	if err != nil {
		t.Skipf("%s: %v", file, err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	elapsedRE := regexp.MustCompile(`^(?:(\d+)-)?(\d+):(\d\d):(\d\d)$`)
	gpuRE := regexp.MustCompile(`(?:^|,)gres/gpu=(\d+)`)
	num := func(s string) int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("independent count: %q: %v", s, err)
		}
		return n
	}
	var jobs int
	var taiflUnitSeconds int64 // node-seconds of CPU jobs + GPU-seconds of GPU jobs, group taifl
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		c := strings.Split(sc.Text(), "|")
		if len(c) != 26 {
			t.Fatalf("independent count: a line of %d fields", len(c))
		}
		if c[2] != "phillips" || strings.Contains(c[0], ".") {
			t.Fatalf("independent count: unexpected line %q", sc.Text())
		}
		jobs++
		m := elapsedRE.FindStringSubmatch(c[14])
		if m == nil {
			t.Fatalf("independent count: elapsed %q", c[14])
		}
		secs := num(m[2])*3600 + num(m[3])*60 + num(m[4])
		if m[1] != "" {
			secs += num(m[1]) * 86400
		}
		units := num(c[17]) // nodes
		if g := gpuRE.FindStringSubmatch(c[22]); g != nil && num(g[1]) > 0 {
			units = num(g[1])
		}
		if c[6] == "taifl" {
			taiflUnitSeconds += units * secs
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// 10 points per node-hour and per GPU-hour on hpcx, from the exact usage, rounded once
	// (the file is one charge), half up: unit-seconds × 10 / 3600.
	want := (taiflUnitSeconds*10 + 1800) / 3600
	if jobs == 0 || want == 0 {
		t.Fatalf("independent count: %d jobs, %d points", jobs, want)
	}

	url := pgtest.NewDB(t)
	store, err := persistence.Open(t.Context(), url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	run := func(args ...string) string {
		t.Helper()
		out, ok := dwCLI(t, append(args, "--database-url", url)...)
		if !ok {
			t.Fatalf("dw %s failed:\n%s", strings.Join(args, " "), out)
		}
		return out
	}
	out := run("wallet", "create", "--name", "taifl")
	fields := strings.Fields(out)
	wallet := fields[len(fields)-1]
	run("wallet", "deposit", "taifl", "1000000")
	run("rates", "add", "--cluster", "hpcx", "--node-hour-points", "10", "--gpu-hour-points", "10")
	run("rates", "add", "--cluster", "phillips", "--node-hour-points", "1000", "--gpu-hour-points", "1000")
	run("mappings", "add", "--cluster", "hpcx", "--group", "taifl", "--wallet", "taifl")
	run("sources", "add", "--name", "phillips-as-hpcx", "--dir", dir, "--glob", file, "--format", "slurm-sacct",
		"--cluster", "hpcx", "--columns", xdmodColumns, "--ingest-root", dir)

	out = run("ingest", "run", "--ingest-root", dir)
	n := strconv.Itoa(jobs)
	for _, w := range []string{n + " records, " + n + " new, 0 errors", n + " cluster mismatches"} {
		if !strings.Contains(out, w) {
			t.Fatalf("ingest run output lacks %q:\n%s", w, out)
		}
	}

	db := store.Pool()
	var hpcx, phillips, kept int
	if err := db.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE cluster = 'hpcx'), count(*) FILTER (WHERE cluster = 'phillips'),
		count(*) FILTER (WHERE file_cluster = 'phillips') FROM usage_records`).Scan(&hpcx, &phillips, &kept); err != nil {
		t.Fatal(err)
	}
	if hpcx != jobs || phillips != 0 || kept != jobs {
		t.Fatalf("stored under hpcx %d, under phillips %d, file cluster phillips %d; want %d, 0, %d", hpcx, phillips, kept, jobs, jobs)
	}
	charged := func() int64 {
		t.Helper()
		var p int64
		if err := db.QueryRow(t.Context(), `SELECT COALESCE(sum(points), 0)::bigint FROM usage_charges WHERE wallet_id = $1`, wallet).Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got := charged()
	if got != want {
		t.Fatalf("wallet taifl charged %d points, the independent count says %d (hpcx's rate, 10 per hour)", got, want)
	}
	// A second run: the file is unchanged, nothing is stored or charged again.
	out = run("ingest", "run", "--ingest-root", dir)
	if !strings.Contains(out, "0 records, 0 new") || strings.Contains(out, "cluster mismatches") {
		t.Fatalf("second run:\n%s", out)
	}
	if again := charged(); again != got {
		t.Fatalf("second run charged %d points more", again-got)
	}
	var mism int
	if err := db.QueryRow(t.Context(), `SELECT cluster_mismatches FROM processed_files WHERE path = $1`, filepath.Join(dir, file)).Scan(&mism); err != nil || mism != jobs {
		t.Fatalf("processed file's cluster mismatches %d (%v), want %d", mism, err, jobs)
	}
	t.Logf("%d jobs of %s stored under hpcx; taifl charged %d points (independent count %d)", jobs, file, got, want)
}
