package bench

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/ingest"
	"github.com/divinewhispers/dw/persistence"
)

// The sizes of the ingest benchmarks.
const (
	ingestFiles       = 20     // files of one `files` iteration
	ingestJobsPerFile = 50_000 // jobs (records) per file
	baselineRecords   = 20_000 // records of the one-INSERT-per-record baseline
	rescanFiles       = 10_000 // files of the rescan benchmark
	rescanJobsPerFile = 3      // jobs per rescan file
	ingestCluster     = "bench"
)

// sacctHeader is the column list of the generated `sacct --parsable2` files.
const sacctHeader = "JobID|JobIDRaw|User|Group|Account|Partition|QOS|Cluster|State|Submit|Start|End|Elapsed|ElapsedRaw|AllocNodes|AllocCPUS|AllocTRES|NodeList"

// nextJobID hands out Slurm job ids: unique across every file this process writes, so every
// generated job is new to the database (each run of the benchmarks has its own PostgreSQL).
var nextJobID atomic.Int64

func init() { nextJobID.Store(1_000_000) }

// Rates measured by the sub-benchmarks, for the ratio BenchmarkIngest prints.
var ingestRate, baselineRate float64

// BenchmarkIngest measures the accounting-log ingest (ingest.Run: checksum, parse, COPY into a
// temporary table, INSERT … ON CONFLICT DO NOTHING into usage_records, one transaction per
// file) against a naive loader (one autocommitted INSERT per record, parsed by the same
// parser), and a rescan of 10,000 unchanged files.
//
//   - files: 20 files × 50,000 jobs of fresh job ids, read into a new source; records/s is
//     records committed per second, from the first file read to the last commit. The files are
//     written (untimed) before each iteration; usage_records keeps the rows of earlier
//     iterations, as it would in production.
//   - baseline: 20,000 records of one more such file, parsed and inserted one by one.
//   - rescan10k: 10,000 small files already ingested (untimed), then a second ingest.Run
//     over them, all unchanged (skipped without being read); ms/rescan.
func BenchmarkIngest(b *testing.B) {
	setup(b)
	ingestRulesOnce.Do(func() { ingestRulesErr = ingestRules() })
	if ingestRulesErr != nil {
		b.Fatal(ingestRulesErr)
	}
	b.Run("files", benchIngestFiles)
	b.Run("baseline", benchIngestBaseline)
	if ingestRate > 0 && baselineRate > 0 {
		fmt.Printf("BenchmarkIngest: ingest %.0f records/s ÷ baseline %.0f records/s = %.1f×\n",
			ingestRate, baselineRate, ingestRate/baselineRate)
	}
	var rescan rescanSet
	b.Cleanup(rescan.remove)
	b.Run("rescan10k", rescan.bench)
}

var (
	ingestRulesOnce sync.Once
	ingestRulesErr  error
)

// ingestRules makes the ingest do all its work: every group but the last is mapped to a wallet
// of its own (the last group's usage stays unassigned), and a rate prices CPU and GPU hours, so
// every file creates a charge per wallet besides its rollups.
func ingestRules() error {
	ctx := context.Background()
	ids, err := store.CreateWallets(ctx, genGroups-1, "ingest-bench")
	if err != nil {
		return err
	}
	for g, id := range ids {
		if _, _, err := store.AddMapping(ctx, accounting.Mapping{Group: fmt.Sprintf("g%02d", g), WalletID: id},
			persistence.AuditEntry{}, time.Now()); err != nil {
			return err
		}
	}
	_, err = store.AddRate(ctx, accounting.Rate{NodeHourMillipoints: 1500, GPUHourMillipoints: 8000, EffectiveFrom: genStart.AddDate(-1, 0, 0)},
		persistence.AuditEntry{}, time.Now())
	return err
}

func benchIngestFiles(b *testing.B) {
	ctx := context.Background()
	var records int64
	var elapsed time.Duration
	var bytes int64
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		dir := ingestDir(b)
		n, err := writeSacctFiles(dir, "sacct-%03d.txt", ingestFiles, ingestJobsPerFile, rand.New(rand.NewPCG(uint64(i), 1)))
		if err != nil {
			b.Fatal(err)
		}
		bytes += n
		src := ingestSource(b, dir)

		b.StartTimer()
		start := time.Now()
		rep, err := ingest.Run(ctx, store, src, []string{src.Dir}, time.Now())
		took := time.Since(start)
		b.StopTimer()

		if err != nil {
			b.Fatal(err)
		}
		if want := int64(ingestFiles * ingestJobsPerFile); rep.NewRecords != want || rep.Errors != 0 || rep.Read != ingestFiles {
			b.Fatalf("want %d new records from %d files, no errors; got %s", want, ingestFiles, rep)
		}
		records += rep.NewRecords
		elapsed += took
		_ = os.RemoveAll(dir)
	}
	ingestRate = float64(records) / elapsed.Seconds()
	b.ReportMetric(ingestRate, "records/s")
	b.ReportMetric(float64(bytes)/(1<<20)/elapsed.Seconds(), "MB/s")
}

// benchIngestBaseline parses one file with accounting.Parse and stores its records the naive
// way: one INSERT statement per record, each its own transaction.
func benchIngestBaseline(b *testing.B) {
	ctx := context.Background()
	var records int64
	var elapsed time.Duration
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		dir := ingestDir(b)
		if _, err := writeSacctFiles(dir, "baseline-%03d.txt", 1, baselineRecords, rand.New(rand.NewPCG(uint64(i), 2))); err != nil {
			b.Fatal(err)
		}
		src := ingestSource(b, dir)
		path := filepath.Join(dir, "baseline-000.txt")

		b.StartTimer()
		start := time.Now()
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		res, err := accounting.Parse(accounting.FormatSacct, f, accounting.Options{Cluster: ingestCluster, Location: time.UTC, File: path, Final: true})
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		var added int64
		for _, r := range res.Records {
			tag, err := store.Pool().Exec(ctx, `INSERT INTO usage_records (key, cluster, job_id, user_name, group_name, account,
					partition, qos, state, exit_code, nodes, cpus, gpus, elapsed_ms, submit_at, start_at, end_at,
					node_seconds, gpu_seconds, source_id, file, line, ingested_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
				ON CONFLICT (key) DO NOTHING`,
				r.Key(), r.Cluster, r.JobID, r.User, r.Group, r.Account, r.Partition, r.QOS, r.State, r.ExitCode,
				r.Nodes, r.CPUs, r.GPUs, r.Elapsed.Milliseconds(), nullTime(r.Submit), nullTime(r.Start), nullTime(r.End),
				r.NodeSeconds(), r.GPUSeconds(), src.ID, r.File, r.Line, now)
			if err != nil {
				b.Fatal(err)
			}
			added += tag.RowsAffected()
		}
		took := time.Since(start)
		b.StopTimer()

		if added != baselineRecords || len(res.Errors) != 0 {
			b.Fatalf("baseline: %d of %d records added, %d line errors", added, baselineRecords, len(res.Errors))
		}
		records += added
		elapsed += took
		_ = os.RemoveAll(dir)
	}
	baselineRate = float64(records) / elapsed.Seconds()
	b.ReportMetric(baselineRate, "records/s")
}

// rescanSet is the 10,000 files of the rescan benchmark, written and ingested once per run of
// BenchmarkIngest: the testing package calls the sub-benchmark again with a larger b.N when an
// iteration is short.
type rescanSet struct {
	dir string
	src persistence.IngestSource
}

func (s *rescanSet) remove() {
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// bench times ingest.Run over 10,000 files it has already read, all unchanged.
func (s *rescanSet) bench(b *testing.B) {
	ctx := context.Background()
	if s.src.ID == "" {
		dir, err := os.MkdirTemp("", "dw-ingest-bench-")
		if err != nil {
			b.Fatal(err)
		}
		s.dir = dir
		if err := os.Chmod(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if _, err := writeSacctFiles(dir, "small-%05d.txt", rescanFiles, rescanJobsPerFile, rand.New(rand.NewPCG(3, 3))); err != nil {
			b.Fatal(err)
		}
		src := ingestSource(b, dir)
		rep, err := ingest.Run(ctx, store, src, []string{src.Dir}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if rep.Read != rescanFiles || rep.NewRecords != rescanFiles*rescanJobsPerFile {
			b.Fatalf("first run: %s", rep)
		}
		s.src = src
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		rep, err := ingest.Run(ctx, store, s.src, []string{s.src.Dir}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if rep.Skipped != rescanFiles || rep.Read+rep.Resumed+rep.Renamed+rep.Failed != 0 {
			b.Fatalf("rescan: want %d files skipped, got %s", rescanFiles, rep)
		}
	}
	took := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(took.Microseconds())/1000/float64(b.N), "ms/rescan")
	b.ReportMetric(0, "ns/op")
}

// ingestDir makes a directory for generated files, outside the test's temp dir and readable by
// everyone (the benchmark may run as root, with PostgreSQL as its own user); it is removed
// when the (sub-)benchmark ends.
func ingestDir(b *testing.B) string {
	dir, err := os.MkdirTemp("", "dw-ingest-bench-")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// ingestSource stores a new sacct source reading dir. It is disabled: the benchmark node's
// scheduled ingest would otherwise scan it too, concurrently with the benchmark.
func ingestSource(b *testing.B, dir string) persistence.IngestSource {
	src := persistence.IngestSource{Name: "bench-" + uuid.NewString()[:8], Dir: dir, Format: "slurm-sacct",
		Cluster: ingestCluster, Enabled: false}
	if err := ingest.Validate(&src, []string{dir}); err != nil {
		b.Fatal(err)
	}
	src, err := store.CreateSource(context.Background(), src)
	if err != nil {
		b.Fatal(err)
	}
	return src
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// The population of the generated jobs.
const (
	genUsers    = 2000
	genAccounts = 50
	genGroups   = 20
)

var genPartitions = [...]string{"standard", "short", "long", "bigmem", "debug", "gpu"}

// genStart is when the first generated job was submitted; jobs follow each other by their id.
var genStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// writeSacctFiles writes files (named by the pattern and their number) of jobsPerFile jobs each
// (array tasks count one each) in `sacct --parsable2` format, with their .batch/.extern/.0 step
// lines, and returns the bytes written.
func writeSacctFiles(dir, pattern string, files, jobsPerFile int, rng *rand.Rand) (int64, error) {
	var total int64
	for f := range files {
		n, err := writeSacctFile(filepath.Join(dir, fmt.Sprintf(pattern, f)), jobsPerFile, rng)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func writeSacctFile(path string, jobs int, rng *rand.Rand) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(sacctHeader + "\n")
	g := sacctGen{rng: rng, buf: make([]byte, 0, 4096)}
	for left := jobs; left > 0; {
		// 5% of the jobs start an array of 2–10 tasks (one base id, a raw id per task).
		tasks := 1
		if rng.IntN(20) == 0 {
			tasks = min(2+rng.IntN(9), left)
		}
		base := nextJobID.Add(1)
		for t := range tasks {
			g.job(base, t, tasks > 1)
		}
		left -= tasks
		w.Write(g.buf)
		g.buf = g.buf[:0]
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	return fi.Size(), f.Close()
}

type sacctGen struct {
	rng *rand.Rand
	buf []byte
}

func (g *sacctGen) str(s string) { g.buf = append(g.buf, s...) }
func (g *sacctGen) sep()         { g.buf = append(g.buf, '|') }
func (g *sacctGen) int(n int64)  { g.buf = strconv.AppendInt(g.buf, n, 10) }
func (g *sacctGen) time(t time.Time) {
	g.buf = t.AppendFormat(g.buf, "2006-01-02T15:04:05")
}

// elapsed writes a Slurm duration, [D-]HH:MM:SS.
func (g *sacctGen) elapsed(secs int64) {
	if d := secs / 86400; d > 0 {
		g.int(d)
		g.buf = append(g.buf, '-')
	}
	g.buf = fmt.Appendf(g.buf, "%02d:%02d:%02d", secs/3600%24, secs/60%60, secs%60)
}

// hostlist writes n consecutive nodes from first in Slurm's compressed form.
func (g *sacctGen) hostlist(prefix string, first, n int) {
	if n == 1 {
		g.buf = fmt.Appendf(g.buf, "%s%04d", prefix, first)
		return
	}
	g.buf = fmt.Appendf(g.buf, "%s[%04d-%04d]", prefix, first, first+n-1)
}

// job writes one job line (an array task when array) and its step lines.
func (g *sacctGen) job(base int64, task int, array bool) {
	rng := g.rng
	id := strconv.FormatInt(base, 10)
	raw := base
	if array {
		raw = nextJobID.Add(1)
		id += "_" + strconv.Itoa(task)
	}
	user := rng.IntN(genUsers)
	group := user % genGroups
	account := (user*7 + rng.IntN(3)) % genAccounts
	gpu := rng.IntN(100) < 15
	partition := genPartitions[rng.IntN(len(genPartitions)-1)]
	if gpu {
		partition = "gpu"
	}
	qos := "normal"
	switch q := rng.IntN(100); {
	case q < 5:
		qos = "high"
	case q < 15:
		qos = "low"
	case partition == "debug":
		qos = "debug"
	}
	state := "COMPLETED"
	switch s := rng.IntN(100); {
	case s < 8:
		state = "FAILED"
	case s < 12:
		state = "TIMEOUT"
	case s < 17:
		state = "CANCELLED by " + strconv.Itoa(50000+user)
	case s < 19:
		state = "OUT_OF_MEMORY"
	case s < 20:
		state = "NODE_FAIL"
	}
	// Submitted in id order, about 3 s apart; waited up to 2 h; ran for an exponential time
	// (mean 1 h, at most 2 days); 2% were cancelled before they started.
	submit := genStart.Add(time.Duration(raw-1_000_000) * 3 * time.Second)
	start := submit.Add(time.Duration(rng.IntN(7200)) * time.Second)
	secs := min(int64(rng.ExpFloat64()*3600)+1, 2*86400)
	neverRan := state != "COMPLETED" && rng.IntN(100) < 10
	nodes, cpus, gpus := 1, 1+rng.IntN(64), 0
	switch {
	case gpu:
		nodes = 1 + rng.IntN(2)
		gpus = nodes * []int{1, 2, 4, 8}[rng.IntN(4)]
		cpus = nodes * 16 * (gpus / nodes)
	case rng.IntN(100) < 25:
		nodes = []int{2, 4, 8, 16, 32, 64}[rng.IntN(6)]
		cpus = nodes * 64
	}
	mem := cpus * 4
	if neverRan {
		secs, nodes, cpus, gpus = 0, 0, 0, 0
	}
	end := start.Add(time.Duration(secs) * time.Second)
	firstNode := rng.IntN(2000)

	g.str(id)
	g.sep()
	g.int(raw)
	g.sep()
	g.buf = fmt.Appendf(g.buf, "u%04d|g%02d|acct%02d|", user, group, account)
	g.str(partition)
	g.sep()
	g.str(qos)
	g.sep()
	g.str(ingestCluster)
	g.sep()
	g.str(state)
	g.sep()
	g.time(submit)
	g.sep()
	if neverRan {
		g.str("None")
	} else {
		g.time(start)
	}
	g.sep()
	g.time(end)
	g.sep()
	g.elapsed(secs)
	g.sep()
	g.int(secs)
	g.sep()
	g.int(int64(nodes))
	g.sep()
	g.int(int64(cpus))
	g.sep()
	if !neverRan {
		g.buf = fmt.Appendf(g.buf, "billing=%d,cpu=%d,", cpus+gpus*16, cpus)
		if gpus > 0 {
			g.buf = fmt.Appendf(g.buf, "gres/gpu:a100=%d,gres/gpu=%d,", gpus, gpus)
		}
		g.buf = fmt.Appendf(g.buf, "mem=%dG,node=%d", mem, nodes)
	}
	g.sep()
	prefix := "c"
	if gpu {
		prefix = "g"
	}
	if neverRan {
		g.str("None assigned")
	} else {
		g.hostlist(prefix, firstNode, nodes)
	}
	g.buf = append(g.buf, '\n')
	if neverRan {
		return
	}

	// Steps: not jobs. A batch step for 90% of the jobs, an extern step for 95%, an srun
	// step (.0) for 20%.
	for _, step := range [...]struct {
		name string
		pct  int
	}{{"batch", 90}, {"extern", 95}, {"0", 20}} {
		if rng.IntN(100) >= step.pct {
			continue
		}
		stepNodes, stepCPUs := 1, cpus/nodes
		if step.name != "batch" {
			stepNodes, stepCPUs = nodes, cpus
		}
		g.buf = fmt.Appendf(g.buf, "%s.%s|%d.%s|||acct%02d||||%s|", id, step.name, raw, step.name, account, state)
		g.time(submit)
		g.sep()
		g.time(start)
		g.sep()
		g.time(end)
		g.sep()
		g.elapsed(secs)
		g.sep()
		g.int(secs)
		g.sep()
		g.int(int64(stepNodes))
		g.sep()
		g.int(int64(stepCPUs))
		g.sep()
		g.buf = fmt.Appendf(g.buf, "cpu=%d,mem=%dG,node=%d|", stepCPUs, stepCPUs*4, stepNodes)
		g.hostlist(prefix, firstNode, stepNodes)
		g.buf = append(g.buf, '\n')
	}
}
