package accounting_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/divinewhispers/dw/accounting"
)

// benchJobs is the size of the generated inputs: a day's accounting of a large cluster.
const benchJobs = 50_000

// sacctBenchInput is `sacct --parsable2` output for n finished jobs, each followed by its
// `.batch` and `.extern` steps as sacct prints them; 15% of the jobs allocate GPUs.
func sacctBenchInput(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.WriteString("JobID|JobIDRaw|User|Group|Account|Partition|QOS|Cluster|State|Submit|Start|End|Elapsed|ElapsedRaw|AllocNodes|AllocCPUS|AllocTRES|NodeList\n")
	day := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	const layout = "2006-01-02T15:04:05"
	states := []string{"COMPLETED", "COMPLETED", "COMPLETED", "FAILED", "TIMEOUT", "CANCELLED by 1001", "OUT_OF_MEMORY"}
	for i := range n {
		id := 4_000_000 + i
		user := rng.IntN(400)
		submit := day.Add(time.Duration(rng.IntN(86400)) * time.Second)
		start := submit.Add(time.Duration(rng.IntN(7200)) * time.Second)
		secs := 60 + rng.IntN(48*3600)
		end := start.Add(time.Duration(secs) * time.Second)
		elapsed := fmt.Sprintf("%02d:%02d:%02d", secs/3600, secs/60%60, secs%60)
		if secs >= 86400 {
			elapsed = fmt.Sprintf("%d-%02d:%02d:%02d", secs/86400, secs/3600%24, secs/60%60, secs%60)
		}
		nodes := 1 + rng.IntN(8)
		cpus := nodes * 64
		partition, tres, nodeList := "cpu", fmt.Sprintf("billing=%d,cpu=%d,mem=%dG,node=%d", cpus, cpus, nodes*250, nodes), fmt.Sprintf("c%03d", rng.IntN(900))
		if nodes > 1 {
			first := rng.IntN(900)
			nodeList = fmt.Sprintf("c[%03d-%03d]", first, first+nodes-1)
		}
		if rng.IntN(100) < 15 {
			nodes, cpus, partition = 1, 16, "gpu"
			tres = "billing=64,cpu=16,gres/gpu:a100=2,gres/gpu=2,mem=120G,node=1"
			nodeList = fmt.Sprintf("g%02d", rng.IntN(64))
		}
		times := submit.Format(layout) + "|" + start.Format(layout) + "|" + end.Format(layout)
		fmt.Fprintf(&b, "%d|%d|u%03d|g%02d|proj%03d|%s|normal|hpc1|%s|%s|%s|%d|%d|%d|%s|%s\n",
			id, id, user, user%40, user%120, partition, states[rng.IntN(len(states))], times, elapsed, secs, nodes, cpus, tres, nodeList)
		stepTimes := start.Format(layout) + "|" + start.Format(layout) + "|" + end.Format(layout)
		fmt.Fprintf(&b, "%d.batch|%d.batch||||||hpc1|COMPLETED|%s|%s|%d|1|%d|cpu=%d,mem=250G,node=1|%s\n",
			id, id, stepTimes, elapsed, secs, cpus/nodes, cpus/nodes, nodeList)
		fmt.Fprintf(&b, "%d.extern|%d.extern||||||hpc1|COMPLETED|%s|%s|%d|%d|%d|%s|%s\n",
			id, id, stepTimes, elapsed, secs, nodes, cpus, tres, nodeList)
	}
	return b.Bytes()
}

// jobcompBenchInput is a jobcomp/filetxt log of n finished jobs, 15% of them on GPUs.
func jobcompBenchInput(n int) []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	var b bytes.Buffer
	day := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	const layout = "2006-01-02T15:04:05"
	for i := range n {
		user := rng.IntN(400)
		submit := day.Add(time.Duration(rng.IntN(86400)) * time.Second)
		start := submit.Add(time.Duration(rng.IntN(7200)) * time.Second)
		end := start.Add(time.Duration(60+rng.IntN(48*3600)) * time.Second)
		nodes := 1 + rng.IntN(8)
		partition, tres, nodeList := "cpu", fmt.Sprintf("cpu=%d,mem=%dG,node=%d,billing=%d", nodes*64, nodes*250, nodes, nodes*64), fmt.Sprintf("c%03d", rng.IntN(900))
		if rng.IntN(100) < 15 {
			nodes, partition = 1, "gpu"
			tres = "cpu=16,mem=120G,node=1,billing=64,gres/gpu=2"
			nodeList = fmt.Sprintf("g%02d", rng.IntN(64))
		}
		fmt.Fprintf(&b, "JobId=%d UserId=u%03d(%d) GroupId=g%02d(%d) Name=run %d JobState=COMPLETED Partition=%s TimeLimit=2880 "+
			"StartTime=%s EndTime=%s NodeList=%s NodeCnt=%d ProcCnt=%d WorkDir=/home/u%03d/work ReservationName= Tres=%s "+
			"Account=proj%03d QOS=normal WcKey= Cluster=hpc1 SubmitTime=%s EligibleTime=%s DerivedExitCode=0:0 ExitCode=0:0\n",
			4_000_000+i, user, 10_000+user, user%40, 500+user%40, i, partition, start.Format(layout), end.Format(layout),
			nodeList, nodes, nodes*64, user, tres, user%120, submit.Format(layout), submit.Format(layout))
	}
	return b.Bytes()
}

// pbsBenchInput is a Torque accounting log of n finished jobs, each preceded by its Q and S
// records as the server writes them.
func pbsBenchInput(n int) []byte {
	rng := rand.New(rand.NewPCG(5, 6))
	var b bytes.Buffer
	day := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		id := 6_000_000 + i
		user := rng.IntN(400)
		ctime := day.Add(time.Duration(rng.IntN(86400)) * time.Second)
		start := ctime.Add(time.Duration(rng.IntN(7200)) * time.Second)
		secs := 60 + rng.IntN(24*3600)
		end := start.Add(time.Duration(secs) * time.Second)
		nodes := 1 + rng.IntN(4)
		exec := ""
		for h := range nodes {
			if h > 0 {
				exec += "+"
			}
			exec += fmt.Sprintf("n%03d/0-15", rng.IntN(900))
		}
		gpus := ""
		if rng.IntN(100) < 15 {
			gpus = ":gpus=2"
		}
		stamp := func(t time.Time) string { return t.Format("01/02/2006 15:04:05") }
		fmt.Fprintf(&b, "%s;Q;%d.server;queue=batch\n", stamp(ctime), id)
		fmt.Fprintf(&b, "%s;S;%d.server;user=u%03d group=g%02d queue=batch ctime=%d start=%d exec_host=%s\n",
			stamp(start), id, user, user%40, ctime.Unix(), start.Unix(), exec)
		fmt.Fprintf(&b, "%s;E;%d.server;user=u%03d group=g%02d jobname=run%d queue=batch ctime=%d qtime=%d etime=%d "+
			"start=%d owner=u%03d@login1 exec_host=%s Resource_List.nodes=%d:ppn=16%s Resource_List.nodect=%d "+
			"Resource_List.walltime=24:00:00 session=%d end=%d Exit_status=0 resources_used.cput=10:16:36 "+
			"resources_used.mem=167864kb resources_used.vmem=622552kb resources_used.walltime=%02d:%02d:%02d account=proj%03d\n",
			stamp(end), id, user, user%40, i, ctime.Unix(), ctime.Unix(), ctime.Unix(), start.Unix(), user, exec, nodes, gpus,
			nodes, 100_000+i, end.Unix(), secs/3600, secs/60%60, secs%60, user%120)
	}
	return b.Bytes()
}

// benchParse parses data b.N times and reports the cost per record: time, allocations and
// bytes allocated.
func benchParse(b *testing.B, data []byte, parse func(io.Reader, accounting.Options) (accounting.Result, error), opts accounting.Options, wantRecords int) {
	b.Helper()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		res, err := parse(bytes.NewReader(data), opts)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Records) != wantRecords || len(res.Errors) != 0 {
			b.Fatalf("%d records, %d errors (%v); want %d", len(res.Records), len(res.Errors), res.Errors[:min(3, len(res.Errors))], wantRecords)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	records := float64(b.N) * float64(wantRecords)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/records, "ns/record")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/records, "allocs/record")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/records, "B/record")
}

func BenchmarkParseSacct(b *testing.B) {
	data := sacctBenchInput(benchJobs)
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		b.Skip(err)
	}
	for _, loc := range []*time.Location{time.UTC, chicago} {
		b.Run(loc.String(), func(b *testing.B) {
			benchParse(b, data, accounting.ParseSacct, accounting.Options{File: "sacct.txt", Location: loc, Final: true}, benchJobs)
		})
	}
}

func BenchmarkParseJobcomp(b *testing.B) {
	benchParse(b, jobcompBenchInput(benchJobs), accounting.ParseJobcomp, accounting.Options{File: "jobcomp.log", Final: true}, benchJobs)
}

func BenchmarkParsePBS(b *testing.B) {
	benchParse(b, pbsBenchInput(benchJobs), accounting.ParsePBS, accounting.Options{File: "20240301", Cluster: "torque", Final: true}, benchJobs)
}
