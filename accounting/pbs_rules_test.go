package accounting_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/internal/realacct"
)

// TestPBSRules holds the rules ParsePBS documents for wall time, GPUs and a grep file-name
// prefix, one record each.
func TestPBSRules(t *testing.T) {
	t.Parallel()
	const (
		stamp = "03/01/2024 10:00:00"
		span  = "ctime=1709270000 start=1709280000 end=1709283600" // one hour from start to end
	)
	for _, tc := range []struct {
		name    string
		line    string
		elapsed time.Duration
		gpus    int
		err     string // a line error containing it, instead of a record
	}{
		// Wall time.
		{name: "walltime within the span", line: stamp + ";E;1;" + span + " resources_used.walltime=00:40:00", elapsed: 40 * time.Minute},
		{name: "walltime equal to the span", line: stamp + ";E;1;" + span + " resources_used.walltime=01:00:00", elapsed: time.Hour},
		{name: "walltime in plain seconds (Torque 6)", line: stamp + ";E;1;" + span + " resources_used.walltime=2400", elapsed: 40 * time.Minute},
		{name: "walltime with a one-digit field", line: stamp + ";E;1;" + span + " resources_used.walltime=0:40:5", elapsed: 40*time.Minute + 5*time.Second},
		{name: "walltime zero for a job that ran: end − start", line: stamp + ";E;1;" + span + " resources_used.walltime=00:00:00", elapsed: time.Hour},
		{name: "walltime longer than the span: end − start", line: stamp + ";E;1;" + span + " resources_used.walltime=19:23:4", elapsed: time.Hour},
		{name: "no walltime: end − start", line: stamp + ";E;1;" + span, elapsed: time.Hour},
		{name: "no start: the walltime", line: stamp + ";E;1;ctime=1709270000 resources_used.walltime=00:10:00", elapsed: 10 * time.Minute},
		{name: "no end: the walltime within record time − start", line: "03/01/2024 09:00:00;E;1;start=1709280000 resources_used.walltime=00:10:00", elapsed: 10 * time.Minute},
		{name: "bad walltime", line: stamp + ";E;1;" + span + " resources_used.walltime=ten", err: "resources_used.walltime"},
		// GPUs.
		{name: "exec_gpus counted distinct", line: stamp + ";E;1;" + span + " exec_gpus=n1-gpu/0+n1-gpu/1+n1-gpu/1+n2-gpu/0 Resource_List.ngpus=8", elapsed: time.Hour, gpus: 3},
		{name: "exec_gpus ranges and lists", line: stamp + ";E;1;" + span + " exec_gpus=n1-gpu/0-3+n2-gpu/0,2", elapsed: time.Hour, gpus: 6},
		{name: "bad exec_gpus", line: stamp + ";E;1;" + span + " exec_gpus=n1-gpu/x", err: "exec_gpus"},
		{name: "ngpus before the node spec", line: stamp + ";E;1;" + span + " Resource_List.ngpus=4 Resource_List.nodes=2:ppn=8:gpus=1", elapsed: time.Hour, gpus: 4},
		{name: "gpus= per node times the node count", line: stamp + ";E;1;" + span + " Resource_List.nodes=2:ppn=32:gpus=2", elapsed: time.Hour, gpus: 4},
		{name: "gpu= (Torque spelling)", line: stamp + ";E;1;" + span + " Resource_List.nodes=3:ppn=24:gpu=4", elapsed: time.Hour, gpus: 12},
		{name: "several chunks, a named host counts one", line: stamp + ";E;1;" + span + " Resource_List.nodes=2:ppn=4:gpus=1+n7:ppn=2:gpus=3+1:ppn=1", elapsed: time.Hour, gpus: 5},
		{name: "select chunks (PBS Pro)", line: stamp + ";E;1;" + span + " Resource_List.select=2:ncpus=8:ngpus=2+1:ncpus=4", elapsed: time.Hour, gpus: 4},
		{name: "node spec without GPUs", line: stamp + ";E;1;" + span + " Resource_List.nodes=1:ppn=28:default", elapsed: time.Hour},
		// A grep file-name prefix.
		{name: "daily file name dropped", line: "20240301:" + stamp + ";E;1;" + span, elapsed: time.Hour},
		{name: "daily file name with a directory dropped", line: "server_priv/accounting/20240301:" + stamp + ";E;1;" + span, elapsed: time.Hour},
		{name: "other prefix refused", line: "accounting.log:" + stamp + ";E;1;" + span, err: "only a daily file's name"},
		{name: "seven digits refused", line: "2024031:" + stamp + ";E;1;" + span, err: "only a daily file's name"},
		{name: "prefix without a time refused", line: "20240301:garbage;E;1;" + span, err: "bad record time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := accounting.ParsePBS(strings.NewReader(tc.line+"\n"), accounting.Options{Cluster: "c", File: "f"})
			if err != nil {
				t.Fatal(err)
			}
			if tc.err != "" {
				if len(res.Records) != 0 || len(res.Errors) != 1 || !strings.Contains(res.Errors[0].Err, tc.err) {
					t.Fatalf("want a line error with %q; records %+v errors %v", tc.err, res.Records, res.Errors)
				}
				return
			}
			if len(res.Records) != 1 || len(res.Errors) != 0 {
				t.Fatalf("want one record; records %+v errors %v", res.Records, res.Errors)
			}
			if r := res.Records[0]; r.Elapsed != tc.elapsed || r.GPUs != tc.gpus {
				t.Errorf("elapsed %v gpus %d, want %v and %d", r.Elapsed, r.GPUs, tc.elapsed, tc.gpus)
			}
		})
	}
}

// TestPBSRealLogs parses the real Torque/PBS logs and compares every job's GPUs and wall time
// with a count made here independently: regular expressions over the raw lines, the rules
// written out again in their simplest form.
func TestPBSRealLogs(t *testing.T) {
	t.Parallel()
	dir := realacct.Dir(t, "pbs")
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(files) == 0 {
		t.Skipf("no PBS logs in %s", dir)
	}
	var (
		record  = regexp.MustCompile(`^(?:\d{8}:)?\d\d/\d\d/\d{4} \d\d:\d\d:\d\d;E;([^;]+);(.*)$`)
		hms     = regexp.MustCompile(`^(\d+):(\d+):(\d+)$`)
		nodeGPU = regexp.MustCompile(`^(?:(\d+)|[^:]*)(?::.*)?$`)
	)
	field := func(msg, key string) (string, bool) {
		for _, w := range strings.Fields(msg) {
			if v, ok := strings.CutPrefix(w, key+"="); ok {
				return v, true
			}
		}
		return "", false
	}
	atoi := func(s string) int64 {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("independent count: %q: %v", s, err)
		}
		return n
	}
	type want struct {
		wallSec int64
		gpus    int
	}
	var totalWall, totalGPUSec int64
	jobs := 0
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var wants []want
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			m := record.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			msg := m[2]
			var w want
			start, _ := field(msg, "start")
			end, _ := field(msg, "end")
			spanSec := atoi(end) - atoi(start)
			w.wallSec = spanSec
			if v, ok := field(msg, "resources_used.walltime"); ok {
				var sec int64
				if p := hms.FindStringSubmatch(v); p != nil {
					sec = atoi(p[1])*3600 + atoi(p[2])*60 + atoi(p[3])
				} else {
					sec = atoi(v)
				}
				if sec > 0 && sec <= spanSec {
					w.wallSec = sec
				}
			}
			if v, ok := field(msg, "exec_gpus"); ok {
				w.gpus = len(strings.Split(v, "+")) // the real logs list each GPU once
			} else if v, ok := field(msg, "Resource_List.ngpus"); ok {
				w.gpus = int(atoi(v))
			} else if v, ok := field(msg, "Resource_List.nodes"); ok {
				for _, chunk := range strings.Split(v, "+") {
					per := 0
					for _, p := range strings.Split(chunk, ":")[1:] {
						if n, ok := strings.CutPrefix(p, "gpus="); ok {
							per += int(atoi(n))
						} else if n, ok := strings.CutPrefix(p, "gpu="); ok {
							per += int(atoi(n))
						}
					}
					nodes := 1
					if c := nodeGPU.FindStringSubmatch(chunk); c != nil && c[1] != "" {
						nodes = int(atoi(c[1]))
					}
					w.gpus += per * nodes
				}
			}
			wants = append(wants, w)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}

		in, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		res, err := accounting.ParsePBS(in, accounting.Options{Cluster: "torque", File: path, Final: true})
		in.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Errors) != 0 {
			t.Errorf("%s: line errors %v", filepath.Base(path), res.Errors)
		}
		if len(res.Records) != len(wants) {
			t.Fatalf("%s: %d records, the independent count has %d", filepath.Base(path), len(res.Records), len(wants))
		}
		for i, r := range res.Records {
			w := wants[i]
			if got := int64(r.Elapsed / time.Second); got != w.wallSec || r.Elapsed%time.Second != 0 || r.GPUs != w.gpus {
				t.Errorf("%s line %d (%s): wall %v gpus %d, the independent count %ds and %d", filepath.Base(path), r.Line, r.JobID, r.Elapsed, r.GPUs, w.wallSec, w.gpus)
			}
			totalWall += int64(r.Elapsed / time.Second)
			totalGPUSec += int64(r.GPUs) * int64(r.Elapsed/time.Second)
			jobs++
		}
	}
	t.Logf("%d PBS jobs: %d s of wall time, %d GPU-seconds", jobs, totalWall, totalGPUSec)
	if jobs == 0 {
		t.Fatal("no jobs read")
	}
	// By hand, for the two logs as shared: the GPU jobs are 7904 (nodes=1:ppn=28:gpus=1, no
	// walltime: end − start = 8,407 s) and 3073070 (ngpus=4, walltime 10:01:06 = 36,066 s).
	if filepath.Base(dir) == "pbs" && len(files) == 2 && totalGPUSec != 8407+4*36066 {
		t.Errorf("GPU-seconds %d, by hand %d", totalGPUSec, 8407+4*36066)
	}
}
