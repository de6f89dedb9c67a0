package accounting_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/divinewhispers/dw/accounting"
)

func ExampleParseSacct() {
	const out = `JobID|User|Account|State|Submit|Start|End|ElapsedRaw|AllocNodes|AllocTRES
100|alice|proj1|COMPLETED|2024-03-01T09:00:00|2024-03-01T10:00:00|2024-03-01T12:30:00|9000|4|cpu=128,node=4
100.batch|||COMPLETED|2024-03-01T10:00:00|2024-03-01T10:00:00|2024-03-01T12:30:00|9000|1|cpu=32,node=1
101_[1-2]|bob|proj2|TIMEOUT|2024-03-01T09:00:00|2024-03-01T10:00:00|2024-03-01T11:00:00|3600|1|cpu=8,gres/gpu:a100=2,gres/gpu=2,node=1
102|carol|proj1|RUNNING|2024-03-01T09:00:00|2024-03-01T10:00:00|Unknown|600|2|cpu=64,node=2
`
	taipei, _ := time.LoadLocation("Asia/Taipei")
	res, err := accounting.ParseSacct(strings.NewReader(out), accounting.Options{Cluster: "hpc1", Location: taipei, File: "sacct.txt"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range res.Records {
		fmt.Printf("%s start=%s gpu=%v node-s=%d gpu-s=%d\n", r.Key(), r.Start.Format(time.RFC3339), r.IsGPU(), r.NodeSeconds(), r.GPUSeconds())
	}
	fmt.Printf("steps=%d unfinished=%d errors=%d offset=%d\n", res.Skipped.Steps, res.Skipped.Unfinished, len(res.Errors), res.Offset)
	// Output:
	// hpc1|100|2024-03-01T01:00:00Z start=2024-03-01T02:00:00Z gpu=false node-s=36000 gpu-s=0
	// hpc1|101_1|2024-03-01T01:00:00Z start=2024-03-01T02:00:00Z gpu=true node-s=0 gpu-s=7200
	// hpc1|101_2|2024-03-01T01:00:00Z start=2024-03-01T02:00:00Z gpu=true node-s=0 gpu-s=7200
	// steps=1 unfinished=1 errors=0 offset=512
}
