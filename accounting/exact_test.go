package accounting_test

import (
	"bufio"
	"compress/gzip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/internal/realacct"
)

// xdmodColumns are the columns of XDMoD's reference sacct logs (printed without a header).
var xdmodColumns = strings.Split("JobID,JobIDRaw,Cluster,Partition,QOS,Account,Group,GID,User,UID,Submit,Eligible,Start,End,Elapsed,"+
	"ExitCode,State,NNodes,NCPUS,ReqCPUS,ReqMem,ReqTRES,AllocTRES,Timelimit,NodeList,JobName", ",")

// TestExactSecondsRealLog sums the node-seconds and GPU-seconds of every job of XDMoD's
// reference sacct logs (16,000 jobs) as the parser gives them, and compares them, exactly, with
// sums made here independently from the raw lines. It also shows the drift the exact units
// remove: each job rounded to a milli-hour before summing, as usage was stored before.
func TestExactSecondsRealLog(t *testing.T) {
	t.Parallel()
	dir := realacct.Dir(t, "sacct-xdmod")
	elapsedRE := regexp.MustCompile(`^(?:(\d+)-)?(\d+):(\d\d):(\d\d)$`)
	gpuRE := regexp.MustCompile(`(?:^|,)gres/gpu=(\d+)`)
	for _, file := range []string{"phillips.log.gz", "pozidriv.log.gz"} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, file)
			num := func(s string) int64 {
				n, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					t.Fatalf("independent count: %q: %v", s, err)
				}
				return n
			}
			// The independent count: every line is one finished job; a job with gres/gpu=N > 0
			// in AllocTRES is a GPU job (N × elapsed), any other a CPU job (NNodes × elapsed).
			f, err := os.Open(path)
			if err != nil {
				t.Skipf("%s: %v", path, err)
			}
			defer f.Close()
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			var jobs, node, gpu, driftNode int64
			sc := bufio.NewScanner(zr)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				c := strings.Split(sc.Text(), "|")
				if len(c) != len(xdmodColumns) || strings.Contains(c[0], ".") {
					t.Fatalf("independent count: unexpected line %q", sc.Text())
				}
				m := elapsedRE.FindStringSubmatch(c[14])
				if m == nil {
					t.Fatalf("independent count: elapsed %q", c[14])
				}
				secs := num(m[2])*3600 + num(m[3])*60 + num(m[4])
				if m[1] != "" {
					secs += num(m[1]) * 86400
				}
				jobs++
				if g := gpuRE.FindStringSubmatch(c[22]); g != nil && num(g[1]) > 0 {
					gpu += num(g[1]) * secs
					continue
				}
				node += num(c[17]) * secs
				driftNode += (num(c[17])*secs*1000 + 1800) / 3600 // a milli-hour per job, half up
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}

			r, err := accounting.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			res, err := accounting.Parse(accounting.FormatSacct, r, accounting.Options{Cluster: "x", File: path, Columns: xdmodColumns, Final: true})
			if err != nil {
				t.Fatal(err)
			}
			var gotNode, gotGPU int64
			for _, rec := range res.Records {
				gotNode += rec.NodeSeconds()
				gotGPU += rec.GPUSeconds()
			}
			if int64(len(res.Records)) != jobs || gotNode != node || gotGPU != gpu || len(res.Errors) != 0 {
				t.Fatalf("%d jobs, %d node-seconds, %d GPU-seconds (%d line errors); the independent count says %d, %d, %d",
					len(res.Records), gotNode, gotGPU, len(res.Errors), jobs, node, gpu)
			}
			t.Logf("%d jobs: %s node-hours (%d node-seconds), %s GPU core-hours; rounded per job first it was %s node-hours",
				jobs, accounting.FormatHours(node), node, accounting.FormatHours(gpu), accounting.FormatMilli(driftNode))
		})
	}
}
