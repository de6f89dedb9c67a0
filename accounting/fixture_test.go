package accounting_test

import (
	"path/filepath"
	"testing"

	"github.com/divinewhispers/dw/accounting"
)

// TestFixtures parses the hand-made files in testdata and checks the totals worked out by hand
// below. The overview shows CPU usage as total_node_hours and GPU usage as total_core_hours.
func TestFixtures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file, format, cluster string
		jobs, errors          int
		steps, unfinished     int
		nodeSeconds           int64 // CPU jobs: Σ nodes × elapsed seconds
		gpuSeconds            int64 // GPU jobs: Σ GPUs × elapsed seconds
	}{
		{
			file: "sacct.txt", format: "sacct", cluster: "alpha",
			// Records: 1001, 1002, 1003_1, 1003_2, 1005+0, 1005+1, 1008_1, 1008_2, 1008_3 (the
			// unexpanded 1008_[1-3]), 1009, 1010 (REQUEUED run), 1010 (second run, new Submit),
			// 1012 = 13. Steps 1001.batch, 1001.extern, 1001.0 = 3. Unfinished 1006 (RUNNING),
			// 1007 (PENDING) = 2. Errors: "this line is garbage" = 1.
			jobs: 13, errors: 1, steps: 3, unfinished: 2,
			// CPU jobs, nodes × hours:
			//   1001   4 × 9000 s = 4 × 2.5 h  = 10
			//   1003_1 2 × 2700 s = 2 × 0.75 h =  1.5
			//   1003_2 1 × 86400 s = 1 × 24 h  = 24
			//   1005+0 1 × 3600 s              =  1
			//   1008_1..3 never started        =  0
			//   1009   3 × 600 s = 3 × 1/6 h   =  0.5
			//   1010   2 × 1 h (first run)     =  2
			//   1010   2 × 2 h (second run)    =  4
			//   1012   1 × 30:00 (MM:SS form, no ElapsedRaw) = 1 × 0.5 = 0.5
			//   Σ = 10 + 1.5 + 24 + 1 + 0.5 + 2 + 4 + 0.5 = 43.5 h
			nodeSeconds: 156_600,
			// GPU jobs, GPUs × hours:
			//   1002   gres/gpu=2 (typed a100=2 not added) × 1.5 h = 3
			//   1005+1 typed only: v100=1 + t4=1 = 2 × 1 h        = 2
			//   Σ = 5 h
			gpuSeconds: 18_000,
		},
		{
			file: "jobcomp.log", format: "jobcomp", cluster: "ignored: lines name beta",
			// Records 2001, 2002_1, 2010, 2004+1 = 4; errors: 2006 (bad StartTime), "hello world".
			jobs: 4, errors: 2,
			// CPU: 2001 2 nodes × 45 min = 1.5; 2010 never started = 0. Σ = 1.5 h
			nodeSeconds: 5_400,
			// GPU: 2002_1 gres/gpu=4 × 4 h = 16; 2004+1 legacy Gres gpu:k80:2 × 0.5 h = 1. Σ = 17 h
			gpuSeconds: 61_200,
		},
		{
			file: "pbs-20240301", format: "pbs", cluster: "gamma",
			// E records 6464684, 7001, 7002[3], 7003 = 4; 7002[] is an array parent (counted as
			// a step); Q and S records are not jobs; 7004 has a bad start.
			jobs: 4, errors: 1, steps: 1,
			// CPU: 6464684 1 host (n404) × (1415599191 − 1415589841 = 9350 s) → 9,350,000 ms /
			//      3,600 = 2,597.2 → 2,597 milli-hours; 7001 2 hosts × 7200 s = 4 h = 4,000.
			//      Σ = 6,597
			nodeSeconds: 23_749,
			// GPU: 7002[3] nodes=1:ppn=4:gpus=2 → 2 × 5400 s = 3 h; 7003 ngpus=4 × 1800 s = 2 h.
			//      Σ = 5 h
			gpuSeconds: 18_000,
		},
		{
			file: "sacct-p.txt.gz", format: "sacct", cluster: "delta",
			// sacct -p (trailing '|'), other column order, no AllocNodes: nodes from AllocTRES.
			// 3001 appears twice with the same Submit: one job after Dedupe. Records 3001, 3002.
			jobs: 2,
			// CPU: 3001 node=1 × 43200 s = 12 h
			nodeSeconds: 43_200,
			// GPU: 3002 typed gres/gpu:h100=8 × 21600 s = 8 × 6 h = 48 h
			gpuSeconds: 172_800,
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", tc.file)
			f, err := accounting.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			res, err := accounting.Parse(tc.format, f, accounting.Options{Cluster: tc.cluster, File: path})
			if err != nil {
				t.Fatal(err)
			}
			recs := accounting.Dedupe(res.Records)
			var node, gpu int64
			for _, r := range recs {
				node += r.NodeSeconds()
				gpu += r.GPUSeconds()
			}
			if len(recs) != tc.jobs || len(res.Errors) != tc.errors || res.Skipped.Steps != tc.steps || res.Skipped.Unfinished != tc.unfinished {
				t.Errorf("jobs %d errors %d steps %d unfinished %d; want %d %d %d %d (errors: %v)",
					len(recs), len(res.Errors), res.Skipped.Steps, res.Skipped.Unfinished, tc.jobs, tc.errors, tc.steps, tc.unfinished, res.Errors)
			}
			if node != tc.nodeSeconds || gpu != tc.gpuSeconds {
				t.Errorf("node-seconds %d, GPU-seconds %d; want %d, %d", node, gpu, tc.nodeSeconds, tc.gpuSeconds)
			}
			for _, e := range res.Errors {
				if e.File != path || e.Line == 0 {
					t.Errorf("line error without its place: %+v", e)
				}
			}
		})
	}
}
