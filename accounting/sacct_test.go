package accounting_test

import (
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
)

func parseSacct(t *testing.T, in string, opts accounting.Options) accounting.Result {
	t.Helper()
	res, err := accounting.ParseSacct(strings.NewReader(in), opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("no tzdata for %s: %v", name, err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSacctQuirks(t *testing.T) {
	t.Parallel()
	const hdr = "JobID|State|Submit|Start|End|ElapsedRaw|AllocNodes|AllocTRES|NodeList\n"
	for _, tc := range []struct {
		name  string
		in    string
		opts  accounting.Options
		check func(t *testing.T, res accounting.Result)
	}{
		{
			name: "steps never count",
			in:   hdr + "7.batch|COMPLETED|||||1||\n7.extern|COMPLETED|||||1||\n7.0|COMPLETED|||||1||\n7.0+1|COMPLETED|||||1||\n",
			check: func(t *testing.T, res accounting.Result) {
				if len(res.Records) != 0 || res.Skipped.Steps != 4 {
					t.Errorf("records %d, steps %d", len(res.Records), res.Skipped.Steps)
				}
			},
		},
		{
			name: "arrays and hetjobs once each, unexpanded array as its tasks",
			in: hdr + "8_1|COMPLETED|2024-03-01T00:00:00|2024-03-01T00:00:00|2024-03-01T01:00:00|3600|1||\n" +
				"8_2|COMPLETED|2024-03-01T00:00:00|2024-03-01T00:00:00|2024-03-01T01:00:00|3600|1||\n" +
				"9+0|COMPLETED|2024-03-01T00:00:00|2024-03-01T00:00:00|2024-03-01T01:00:00|3600|1||\n" +
				"9+1|COMPLETED|2024-03-01T00:00:00|2024-03-01T00:00:00|2024-03-01T01:00:00|3600|1||\n" +
				"10_[1-3]|CANCELLED by 0|2024-03-01T00:00:00|None|2024-03-01T00:05:00|0|0||None assigned\n",
			check: func(t *testing.T, res accounting.Result) {
				want := []string{"8_1", "8_2", "9+0", "9+1", "10_1", "10_2", "10_3"}
				keys := map[string]bool{}
				for i, r := range res.Records {
					if i >= len(want) || r.JobID != want[i] {
						t.Errorf("record %d: %q", i, r.JobID)
					}
					keys[r.Key()] = true
				}
				if len(res.Records) != len(want) || len(keys) != len(want) {
					t.Errorf("%d records, %d keys; want %d", len(res.Records), len(keys), len(want))
				}
				last := res.Records[len(res.Records)-1]
				if last.State != "CANCELLED" || last.NodeList != "" || !last.Start.IsZero() || last.Elapsed != 0 {
					t.Errorf("cancelled array task: %+v", last)
				}
			},
		},
		{
			name: "running and pending are unfinished",
			in: hdr + "11|RUNNING|2024-03-01T00:00:00|2024-03-01T00:00:00|Unknown|60|1||n1\n" +
				"12|PENDING|2024-03-01T00:00:00|Unknown|Unknown|0|0||None assigned\n" +
				"13|COMPLETED|2024-03-01T00:00:00|2024-03-01T00:00:00|Unknown|60|1||n1\n" +
				"14_[1-4%2]|PENDING|2024-03-01T00:00:00|Unknown|Unknown|0|0||None assigned\n",
			check: func(t *testing.T, res accounting.Result) {
				if len(res.Records) != 0 || res.Skipped.Unfinished != 4 || len(res.Errors) != 0 {
					t.Errorf("records %d, unfinished %d, errors %v", len(res.Records), res.Skipped.Unfinished, res.Errors)
				}
			},
		},
		{
			name: "GPU TRES counted once",
			in: hdr + "15|COMPLETED|||2024-03-01T01:00:00|3600|1|billing=64,cpu=9,gres/cpu=9,gres/gpu:a100_3g.20gb=1,gres/gpu=1,mem=60G,node=1|g1\n" +
				"16|COMPLETED|||2024-03-01T01:00:00|3600|1|cpu=9,gres/gpu:a100=2,gres/gpu:v100=1,node=1|g1\n" +
				"17|COMPLETED|||2024-03-01T01:00:00|3600|2|cpu=9,gres/gpu=0,node=2|g1\n",
			check: func(t *testing.T, res accounting.Result) {
				for i, want := range []struct {
					gpus    int
					gpuSec  int64
					nodeSec int64
				}{{1, 3600, 0}, {3, 10_800, 0}, {0, 0, 7200}} {
					r := res.Records[i]
					if r.GPUs != want.gpus || r.GPUSeconds() != want.gpuSec || r.NodeSeconds() != want.nodeSec || r.IsGPU() != (want.gpus > 0) {
						t.Errorf("%s: GPUs %d, GPU mh %d, node mh %d; want %+v", r.JobID, r.GPUs, r.GPUSeconds(), r.NodeSeconds(), want)
					}
				}
			},
		},
		{
			name: "requeued runs are one record each",
			in: hdr + "18|REQUEUED|2024-03-01T00:00:00|2024-03-01T00:01:00|2024-03-01T00:31:00|1800|1||n1\n" +
				"18|NODE_FAIL|2024-03-01T00:32:00|2024-03-01T00:33:00|2024-03-01T01:03:00|1800|1||n2\n" +
				"18|COMPLETED|2024-03-01T01:04:00|2024-03-01T01:05:00|2024-03-01T02:05:00|3600|1||n3\n" +
				// The newest run again, as sacct without -D prints it in another file.
				"18|COMPLETED|2024-03-01T01:04:00|2024-03-01T01:05:00|2024-03-01T02:05:00|3600|1||n3\n",
			check: func(t *testing.T, res accounting.Result) {
				recs := accounting.Dedupe(res.Records)
				var sec int64
				for _, r := range recs {
					sec += r.NodeSeconds()
				}
				if len(recs) != 3 || sec != 7200 {
					t.Errorf("%d runs, %d node-seconds; want 3, 7200 (0.5 + 0.5 + 1 h)", len(recs), sec)
				}
			},
		},
		{
			name: "time zone: Asia/Taipei",
			in:   hdr + "19|COMPLETED|2024-03-01T09:00:00|2024-03-01T10:00:00|2024-03-01T11:00:00||1||n1\n",
			opts: accounting.Options{Location: mustLoad(t, "Asia/Taipei")},
			check: func(t *testing.T, res accounting.Result) {
				r := res.Records[0]
				if !r.Start.Equal(utc("2024-03-01T02:00:00Z")) || r.Start.Location() != time.UTC || r.Elapsed != time.Hour {
					t.Errorf("start %v elapsed %v", r.Start, r.Elapsed)
				}
			},
		},
		{
			name: "time zone: DST, and an end in the repeated hour",
			in: hdr + "20|COMPLETED|2024-07-01T09:00:00|2024-07-01T10:00:00|2024-07-01T11:00:00||1||n1\n" +
				"21|COMPLETED|2024-01-15T09:00:00|2024-01-15T10:00:00|2024-01-15T11:00:00||1||n1\n" +
				// Starts at 01:50 EDT, ends at 01:10 EST on 2024-11-03 (the clock went back).
				"22|COMPLETED|2024-11-03T01:00:00|2024-11-03T01:50:00|2024-11-03T01:10:00||1||n1\n",
			opts: accounting.Options{Location: mustLoad(t, "America/New_York")},
			check: func(t *testing.T, res accounting.Result) {
				if len(res.Records) != 3 {
					t.Fatalf("records %d, errors %v", len(res.Records), res.Errors)
				}
				for i, want := range []string{"2024-07-01T14:00:00Z", "2024-01-15T15:00:00Z"} {
					if got := res.Records[i].Start; !got.Equal(utc(want)) {
						t.Errorf("%s: start %v, want %s", res.Records[i].JobID, got, want)
					}
				}
				if r := res.Records[2]; r.Elapsed != 20*time.Minute || !r.End.Equal(utc("2024-11-03T06:10:00Z")) {
					t.Errorf("fold: end %v elapsed %v", r.End, r.Elapsed)
				}
			},
		},
		{
			name: "elapsed: ElapsedRaw, else Elapsed, else End − Start",
			in: "JobID|State|Start|End|Elapsed|ElapsedRaw\n" +
				"23|COMPLETED|2024-03-01T00:00:00|2024-03-01T02:00:00|01:00:00|1800\n" + // raw wins: 30 min
				"24|COMPLETED|2024-03-01T00:00:00|2024-03-01T02:00:00|1-00:00:00|\n" + // Elapsed: 24 h
				"25|COMPLETED|2024-03-01T00:00:00|2024-03-01T02:00:00|INVALID|\n" + // End − Start: 2 h
				"26|COMPLETED|2024-03-01T00:00:00|2024-03-01T02:00:00|35:45.828|\n" + // MM:SS.mmm
				"27|COMPLETED|2024-03-01T00:00:00|2024-03-01T02:00:00|soon|\n" + // bad line
				"28|COMPLETED|2024-03-01T00:00:00|2024-03-01T02:00:00||-5\n", // bad line
			check: func(t *testing.T, res accounting.Result) {
				want := []time.Duration{30 * time.Minute, 24 * time.Hour, 2 * time.Hour, 35*time.Minute + 45828*time.Millisecond}
				for i, r := range res.Records {
					if i >= len(want) || r.Elapsed != want[i] {
						t.Errorf("%s: elapsed %v", r.JobID, r.Elapsed)
					}
				}
				if len(res.Records) != 4 || len(res.Errors) != 2 || res.Errors[0].Line != 6 || res.Errors[1].Line != 7 {
					t.Errorf("records %d errors %v", len(res.Records), res.Errors)
				}
			},
		},
		{
			name: "any column order, missing optional columns, cluster column kept as the file's",
			in:   "End|NodeList|Cluster|JobID|State|Elapsed|AllocTRES\n2024-03-01T01:00:00|n[1-2]|east|29|COMPLETED|01:00:00|cpu=8,node=2\n2024-03-01T01:00:00|n1||30|COMPLETED|02:00:00|\n",
			opts: accounting.Options{Cluster: "west"},
			check: func(t *testing.T, res accounting.Result) {
				a, b := res.Records[0], res.Records[1]
				if a.Cluster != "west" || a.FileCluster != "east" || !a.ClusterMismatch() || !strings.HasPrefix(a.Key(), "west|29|") || a.Nodes != 2 || a.CPUs != 8 || a.NodeSeconds() != 7200 || a.NodeList != "n[1-2]" {
					t.Errorf("first: %+v", a)
				}
				if b.Cluster != "west" || b.FileCluster != "" || b.ClusterMismatch() || b.Nodes != 0 || b.Elapsed != 2*time.Hour || !strings.HasPrefix(b.Key(), "west|30|end:") {
					t.Errorf("second: %+v key %s", b, b.Key())
				}
			},
		},
		{
			name: "CRLF, sacct -p trailing pipe, repeated header, '|' in JobName, wrong field count",
			in: "JobID|JobName|State|End|ElapsedRaw|AllocNodes|\r\n" +
				"31|a|b|COMPLETED|2024-03-01T01:00:00|3600|1|\r\n" +
				"JobID|JobName|State|End|ElapsedRaw|AllocNodes|\r\n" +
				"32|plain|COMPLETED|2024-03-01T01:00:00|3600|1|\r\n" +
				"33|COMPLETED\r\n",
			check: func(t *testing.T, res accounting.Result) {
				if len(res.Records) != 2 || res.Records[0].Nodes != 1 || res.Records[1].State != "COMPLETED" || res.Skipped.Other != 1 || len(res.Errors) != 1 || res.Errors[0].Line != 5 {
					t.Errorf("records %+v skipped %+v errors %v", res.Records, res.Skipped, res.Errors)
				}
			},
		},
		{
			name: "no State column: End decides; an empty State is a bad line",
			in:   "JobID|End|ElapsedRaw|AllocNodes\n41|2024-03-01T01:00:00|3600|1\n42|Unknown|60|1\n",
			check: func(t *testing.T, res accounting.Result) {
				if len(res.Records) != 1 || res.Records[0].State != "" || res.Skipped.Unfinished != 1 {
					t.Errorf("records %+v skipped %+v", res.Records, res.Skipped)
				}
				bad := parseSacct(t, "JobID|State|End\n43||2024-03-01T01:00:00\n", accounting.Options{})
				if len(bad.Errors) != 1 || bad.Errors[0].Err != "no State" {
					t.Errorf("empty state: %v", bad.Errors)
				}
			},
		},
		{
			name: "header-less file with declared columns",
			in:   "34|COMPLETED|2024-03-01T01:00:00|3600|2\n",
			opts: accounting.Options{Columns: []string{"JobID", "State", "End", "ElapsedRaw", "AllocNodes"}},
			check: func(t *testing.T, res accounting.Result) {
				if len(res.Records) != 1 || res.Records[0].NodeSeconds() != 7200 {
					t.Errorf("records %+v errors %v", res.Records, res.Errors)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.check(t, parseSacct(t, tc.in, tc.opts))
		})
	}
}

func TestSacctUnusableHeader(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"User|State|End\n1|COMPLETED|x\n", "JobID|User\n1|u\n"} {
		_, err := accounting.ParseSacct(strings.NewReader(in), accounting.Options{File: "x"})
		if dw.KindOf(err) != dw.KindInvalid {
			t.Errorf("%q: %v, want an invalid error", in, err)
		}
	}
}

// TestResume reads a growing file in two goes: the truncated last line is not consumed, and
// the second read, from the first's Offset, Lines and Columns, sees it whole.
func TestResume(t *testing.T) {
	t.Parallel()
	first := "JobID|State|End|ElapsedRaw|AllocNodes\r\n35|COMPLETED|2024-03-01T01:00:00|3600|1\r\n36|COMPL"
	whole := first + "ETED|2024-03-01T01:00:00|7200|1\n37|BAD|x|1|1\n"
	res := parseSacct(t, first, accounting.Options{File: "grow"})
	if len(res.Records) != 1 || res.Lines != 2 || res.Offset != int64(strings.Index(first, "36|")) {
		t.Fatalf("first read: %d records, lines %d, offset %d", len(res.Records), res.Lines, res.Offset)
	}
	again := parseSacct(t, whole[res.Offset:], accounting.Options{File: "grow", StartLine: res.Lines, StartOffset: res.Offset, Columns: res.Columns})
	if len(again.Records) != 1 || again.Records[0].JobID != "36" || again.Records[0].Line != 3 || again.Offset != int64(len(whole)) || again.Lines != 4 {
		t.Fatalf("second read: %+v lines %d offset %d", again.Records, again.Lines, again.Offset)
	}
	if len(again.Errors) != 1 || again.Errors[0] != (accounting.LineError{File: "grow", Line: 4, Err: `end: bad time "x"`}) {
		t.Errorf("errors %v", again.Errors)
	}
	// A complete file may end without a newline.
	final := parseSacct(t, first, accounting.Options{Final: true})
	if final.Offset != int64(len(first)) || len(final.Errors) != 1 {
		t.Errorf("final: offset %d errors %v", final.Offset, final.Errors)
	}
}

func TestOpenDetectsGzipByContent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const text = "JobID|State|End|ElapsedRaw|AllocNodes\n1|COMPLETED|2024-03-01T01:00:00|3600|1\n"
	zipped := filepath.Join(dir, "sacct.log") // gzip without the .gz name
	f, err := os.Create(zipped)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	if _, err := io.WriteString(zw, text); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(zw.Close(), f.Close()); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain.gz") // plain text with a .gz name
	if err := os.WriteFile(plain, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{zipped, plain, empty} {
		rc, err := accounting.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
		if want := text; p == empty {
			want = ""
			if string(got) != want {
				t.Errorf("%s: %q", p, got)
			}
		} else if string(got) != want {
			t.Errorf("%s: %q", p, got)
		}
	}
	if _, err := accounting.Open(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file opened")
	}
}

func TestParseFormats(t *testing.T) {
	t.Parallel()
	if _, err := accounting.Parse("lsf", strings.NewReader(""), accounting.Options{}); dw.KindOf(err) != dw.KindInvalid {
		t.Errorf("unknown format: %v", err)
	}
	for _, f := range []string{accounting.FormatSacct, accounting.FormatJobcomp, accounting.FormatPBS} {
		if _, err := accounting.Parse(f, strings.NewReader(""), accounting.Options{}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestKeyStable(t *testing.T) {
	t.Parallel()
	// The same job from sacct (read in Taipei time) and jobcomp (same zone) has one key.
	loc := mustLoad(t, "Asia/Taipei")
	s := parseSacct(t, "JobID|Cluster|State|Submit|Start|End|ElapsedRaw|AllocNodes\n40_2|c1|COMPLETED|2024-03-01T09:00:00|2024-03-01T10:00:00|2024-03-01T11:00:00|3600|1\n", accounting.Options{Location: loc})
	j, err := accounting.ParseJobcomp(strings.NewReader("JobId=41 UserId=u(1) GroupId=g(1) Name=n JobState=COMPLETED Partition=p TimeLimit=60 StartTime=2024-03-01T10:00:00 EndTime=2024-03-01T11:00:00 NodeList=n1 NodeCnt=1 ProcCnt=1 WorkDir=/ ReservationName= Tres=node=1 Account=a QOS=q WcKey= Cluster=c1 SubmitTime=2024-03-01T09:00:00 EligibleTime=2024-03-01T09:00:00 ArrayJobId=40 ArrayTaskId=2 DerivedExitCode=0:0 ExitCode=0:0\n"), accounting.Options{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	const want = "c1|40_2|2024-03-01T01:00:00Z"
	if s.Records[0].Key() != want || j.Records[0].Key() != want {
		t.Errorf("keys %q and %q, want %q", s.Records[0].Key(), j.Records[0].Key(), want)
	}
}
