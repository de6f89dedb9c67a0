package accounting_test

import (
	"strings"
	"testing"
	"time"

	"github.com/divinewhispers/dw/accounting"
)

func TestJobcompQuirks(t *testing.T) {
	t.Parallel()
	line := func(id, name, state, start, end, extra string) string {
		return "JobId=" + id + " UserId=alice(1001) GroupId=(100) Name=" + name + " JobState=" + state +
			" Partition=p TimeLimit=UNLIMITED StartTime=" + start + " EndTime=" + end +
			" NodeList=n[1-2] NodeCnt=2 ProcCnt=8 WorkDir=/home/a b ReservationName= Tres=cpu=8,node=2 Account=a QOS=q WcKey= Cluster=(null) SubmitTime=2024-03-01T00:00:00 EligibleTime=unknown" +
			extra + " DerivedExitCode=0:0 ExitCode=0:0\r\n"
	}
	in := line("1", "odd Partition=x name", "COMPLETED", "2024-03-01T00:00:00", "2024-03-01T01:00:00", "") +
		line("2", "n", "CANCELLED by 0", "2024-03-01T00:00:00", "2024-03-01T00:30:00", "") +
		line("3", "n", "RUNNING", "2024-03-01T00:00:00", "Unknown", "") +
		line("4", "n", "COMPLETED", "2024-03-01T00:00:00", "2024-03-01T01:00:00", " ArrayJobId=3 ArrayTaskId=7") +
		line("5", "n", "COMPLETED", "2024-03-01T02:00:00", "2024-03-01T01:00:00", "") + // end before start
		"JobId=6 JobState=COMPLETED EndTime=2024-03-01T01:00:00 StartTime=2024-03-01T00:00:00 NodeCnt=x\n"
	res, err := accounting.ParseJobcomp(strings.NewReader(in), accounting.Options{Cluster: "west", File: "jc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 3 || res.Skipped.Unfinished != 1 || len(res.Errors) != 2 {
		t.Fatalf("records %+v skipped %+v errors %v", res.Records, res.Skipped, res.Errors)
	}
	a, b, c := res.Records[0], res.Records[1], res.Records[2]
	if a.User != "alice" || a.Group != "100" || a.Partition != "p" || a.Cluster != "west" || a.Elapsed != time.Hour || a.NodeSeconds() != 7200 || a.CPUs != 8 {
		t.Errorf("first: %+v", a)
	}
	if b.State != "CANCELLED" || b.NodeSeconds() != 3600 {
		t.Errorf("second: %+v", b)
	}
	if c.JobID != "3_7" {
		t.Errorf("array task: %q", c.JobID)
	}
	if res.Errors[0].Line != 5 || res.Errors[1].Line != 6 {
		t.Errorf("errors %v", res.Errors)
	}
}

func TestPBSQuirks(t *testing.T) {
	t.Parallel()
	const e = "03/01/2024 10:00:00;E;"
	in := e + "1.srv;user=u ctime=1709280000 start=1709280000 end=1709283600 exec_host=c1/0*13+c2/0*13 Exit_status=0\n" +
		e + "2.srv;user=u start=1709280000 end=1709283600 exec_host=c1/0-3+c1/4-7 Resource_List.nodes=2:ppn=4:gpus=2+1:ppn=1 Exit_status=0\n" +
		e + "3.srv;user=u start=1709280000 end=1709283600 exec_host=c1/0 exec_gpus=c1-gpu/0+c1-gpu/1+c1-gpu/2 Resource_List.ngpus=8\n" +
		e + "4.srv;user=u start=0 resources_used.walltime=00:00:00 Resource_List.nodect=3 Resource_List.select=\"3:ncpus=4\" Exit_status=-1\n" +
		"03/01/2024 18:00:00;E;5.srv;user=u start=1709280000 resources_used.walltime=01:30:00 exec_host=c3/0\n" +
		e + "6-2.srv;user=u ctime=1709270000 start=1709280000 end=1709283600 exec_host=c4/0 jobname=with space Exit_status=0\n" +
		"03/01/2024 10:00:00;D;7.srv;requestor=root\n" +
		"03/01/2024 10:00:00;L;license;floating license hour:0 day:0\n" +
		"not a record\n" +
		e + "8.srv;start=1709283600 end=1709280000\n"
	res, err := accounting.ParsePBS(strings.NewReader(in), accounting.Options{Cluster: "torque", File: "pbs", Location: mustLoad(t, "Asia/Taipei")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 6 || res.Skipped.Other != 2 || len(res.Errors) != 2 {
		t.Fatalf("records %d skipped %+v errors %v", len(res.Records), res.Skipped, res.Errors)
	}
	for i, want := range []struct {
		nodes, cpus, gpus int
		elapsed           time.Duration
		state             string
	}{
		{2, 26, 0, time.Hour, "COMPLETED"},
		{1, 8, 4, time.Hour, "COMPLETED"}, // 2 nodes × gpus=2 + 1 node × 0
		{1, 1, 3, time.Hour, "FAILED"},    // exec_gpus wins over ngpus; no Exit_status
		{3, 0, 0, 0, "FAILED"},
		{1, 1, 0, 90 * time.Minute, "FAILED"},
		{1, 1, 0, time.Hour, "COMPLETED"},
	} {
		r := res.Records[i]
		if r.Nodes != want.nodes || r.CPUs != want.cpus || r.GPUs != want.gpus || r.Elapsed != want.elapsed || r.State != want.state || r.Cluster != "torque" {
			t.Errorf("%s: nodes %d cpus %d gpus %d elapsed %v state %s; want %+v", r.JobID, r.Nodes, r.CPUs, r.GPUs, r.Elapsed, r.State, want)
		}
	}
	// No end: the record's own time, read in the source's zone (18:00 Taipei = 10:00 UTC).
	if r := res.Records[4]; !r.End.Equal(utc("2024-03-01T10:00:00Z")) {
		t.Errorf("end from record time: %v", r.End)
	}
	if r := res.Records[5]; r.JobID != "6-2.srv" || r.Key() != "torque|6-2.srv|"+time.Unix(1709270000, 0).UTC().Format(time.RFC3339) {
		t.Errorf("array subjob key %q", r.Key())
	}
}
