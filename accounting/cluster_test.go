package accounting_test

import (
	"strings"
	"testing"

	"github.com/divinewhispers/dw/accounting"
)

// TestFileCluster: the source's cluster (Options.Cluster) is every record's cluster, and so
// in its key; the cluster the file prints is kept in FileCluster; without a source cluster the
// file's is used.
func TestFileCluster(t *testing.T) {
	t.Parallel()
	const (
		sacct = "JobID|Cluster|State|Submit|Start|End|ElapsedRaw|AllocNodes\n" +
			"1|east|COMPLETED|2024-03-01T00:00:00|2024-03-01T00:00:00|2024-03-01T01:00:00|3600|1\n"
		sacctNone = "JobID|Cluster|State|Submit|Start|End|ElapsedRaw|AllocNodes\n" +
			"1||COMPLETED|2024-03-01T00:00:00|2024-03-01T00:00:00|2024-03-01T01:00:00|3600|1\n"
		jobcomp = "JobId=1 UserId=u(1) GroupId=g(1) Name=n JobState=COMPLETED Partition=p TimeLimit=60 StartTime=2024-03-01T00:00:00 " +
			"EndTime=2024-03-01T01:00:00 NodeList=n1 NodeCnt=1 ProcCnt=1 WorkDir=/ ReservationName= Tres=node=1 Account=a QOS=q WcKey= " +
			"Cluster=CLUSTER SubmitTime=2024-03-01T00:00:00 EligibleTime=2024-03-01T00:00:00 DerivedExitCode=0:0 ExitCode=0:0\n"
		pbs = "03/01/2024 01:00:00;E;1.srv;ctime=1709251200 start=1709251200 end=1709254800\n"
	)
	for _, tc := range []struct {
		name, format, in, source      string
		cluster, fileCluster, keyHead string
	}{
		{"sacct, another cluster", accounting.FormatSacct, sacct, "hpcx", "hpcx", "east", "hpcx|1|"},
		{"sacct, the same cluster", accounting.FormatSacct, sacct, "east", "east", "east", "east|1|"},
		{"sacct, no cluster printed", accounting.FormatSacct, sacctNone, "hpcx", "hpcx", "", "hpcx|1|"},
		{"sacct, no source cluster", accounting.FormatSacct, sacct, "", "east", "east", "east|1|"},
		{"jobcomp, another cluster", accounting.FormatJobcomp, strings.Replace(jobcomp, "CLUSTER", "east", 1), "hpcx", "hpcx", "east", "hpcx|1|"},
		{"jobcomp, (null)", accounting.FormatJobcomp, strings.Replace(jobcomp, "CLUSTER", "(null)", 1), "hpcx", "hpcx", "", "hpcx|1|"},
		{"jobcomp, no source cluster", accounting.FormatJobcomp, strings.Replace(jobcomp, "CLUSTER", "east", 1), "", "east", "east", "east|1|"},
		{"pbs prints none", accounting.FormatPBS, pbs, "hpcx", "hpcx", "", "hpcx|1.srv|"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := accounting.Parse(tc.format, strings.NewReader(tc.in), accounting.Options{Cluster: tc.source, File: "f"})
			if err != nil || len(res.Records) != 1 || len(res.Errors) != 0 {
				t.Fatalf("records %+v errors %v err %v", res.Records, res.Errors, err)
			}
			r := res.Records[0]
			mismatch := tc.fileCluster != "" && tc.fileCluster != tc.cluster
			if r.Cluster != tc.cluster || r.FileCluster != tc.fileCluster || r.ClusterMismatch() != mismatch || !strings.HasPrefix(r.Key(), tc.keyHead) {
				t.Errorf("cluster %q file cluster %q mismatch %v key %q; want %q, %q, %v, %q…", r.Cluster, r.FileCluster, r.ClusterMismatch(), r.Key(),
					tc.cluster, tc.fileCluster, mismatch, tc.keyHead)
			}
		})
	}
}
