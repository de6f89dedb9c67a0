package accounting_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/internal/realacct"
)

// xdmodPair is XDMoD's case, written anew here: one job key (cluster, job id, submit) printed
// once with 32 nodes and once with 1, the same Start and End.
func xdmodPair(t *testing.T) (wide, narrow accounting.Record) {
	t.Helper()
	line := func(nodes int) string {
		return strings.Join([]string{"4100001", "4100001", "ub", "general", "qos", "acct", "grp", "1", "alice", "2",
			"2015-06-26T13:57:00", "2015-06-26T13:57:00", "2015-06-28T02:55:50", "2015-07-01T02:55:50", "3-00:00:00", "1:0", "TIMEOUT",
			itoa(nodes), itoa(8 * nodes), itoa(8 * nodes), "3000Mc", "", "billing=8,cpu=8,node=" + itoa(nodes), "3-00:00:00", "n1", "x"}, "|") + "\n"
	}
	res, err := accounting.Parse(accounting.FormatSacct, strings.NewReader(line(32)+line(1)), accounting.Options{Cluster: "ub", Columns: xdmodColumns, Final: true})
	if err != nil || len(res.Records) != 2 {
		t.Fatalf("parse: %v, %d records, errors %v", err, len(res.Records), res.Errors)
	}
	return res.Records[0], res.Records[1]
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestSameKeyRule: one answer for one key, whatever the order: Dedupe keeps the winner in both
// orders, Wins is a strict order (never both, never itself), and the rule's steps apply in turn.
func TestSameKeyRule(t *testing.T) {
	t.Parallel()
	wide, narrow := xdmodPair(t)
	if wide.Key() != narrow.Key() {
		t.Fatalf("keys differ: %q %q", wide.Key(), narrow.Key())
	}
	if wide.NodeSeconds() != 32*72*3600 || narrow.NodeSeconds() != 72*3600 {
		t.Fatalf("node-seconds %d %d", wide.NodeSeconds(), narrow.NodeSeconds())
	}
	ab, ba := accounting.Dedupe([]accounting.Record{wide, narrow}), accounting.Dedupe([]accounting.Record{narrow, wide})
	if len(ab) != 1 || len(ba) != 1 || ab[0].ContentHash() != ba[0].ContentHash() {
		t.Fatalf("Dedupe depends on the order: %+v vs %+v", ab, ba)
	}
	if accounting.Wins(wide, narrow) == accounting.Wins(narrow, wide) {
		t.Fatal("Wins is not antisymmetric for different contents")
	}
	if accounting.Wins(wide, wide) {
		t.Fatal("a record wins over itself")
	}
	moved := wide
	moved.File, moved.Line = "elsewhere", 99 // where it was read is not content
	if moved.ContentHash() != wide.ContentHash() || accounting.Wins(moved, wide) || accounting.Wins(wide, moved) {
		t.Fatal("the same job read from another file replaces the stored one")
	}

	loser, winner := wide, narrow
	if accounting.Wins(wide, narrow) {
		loser, winner = narrow, wide
	}
	later := loser
	later.End = later.End.Add(time.Second)
	earlyStart := later
	earlyStart.Start = earlyStart.Start.Add(-time.Hour)
	unknownEnd := winner
	unknownEnd.End = time.Time{}
	for _, tc := range []struct {
		name string
		a, b accounting.Record
		want bool
	}{
		{"later End wins over the content", later, winner, true},
		{"earlier End loses", winner, later, false},
		{"equal End: the later Start wins", later, earlyStart, true},
		{"equal End: the earlier Start loses", earlyStart, later, false},
		{"equal times: the greater hash wins", winner, loser, true},
		{"an unknown End loses to a known one", unknownEnd, loser, false},
		{"a known End wins over an unknown one", loser, unknownEnd, true},
	} {
		if got := accounting.Wins(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: Wins = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSameKeyRealLogs: the duplicates of the real logs, when they are here: XDMoD's job
// 4103947 (32 nodes in accounting-logs.log, 1 in utf8-multibyte-chars.log) and a Torque job
// recorded twice (24940336.b0: the later End wins).
func TestSameKeyRealLogs(t *testing.T) {
	t.Parallel()
	unit := realacct.Dir(t, "sacct-xdmod-unit")
	var xdmod []accounting.Record
	for _, name := range []string{"accounting-logs.log", "utf8-multibyte-chars.log"} {
		recs := parseFile(t, filepath.Join(unit, name), accounting.FormatSacct, accounting.Options{Cluster: "ub", Columns: xdmodColumns, Final: true})
		for _, r := range recs {
			if r.JobID == "4103947" {
				xdmod = append(xdmod, r)
			}
		}
	}
	if len(xdmod) != 2 || xdmod[0].Key() != xdmod[1].Key() || xdmod[0].Nodes != 32 || xdmod[1].Nodes != 1 {
		t.Fatalf("XDMoD's job 4103947: %+v", xdmod)
	}
	a, b := accounting.Dedupe(xdmod), accounting.Dedupe([]accounting.Record{xdmod[1], xdmod[0]})
	if len(a) != 1 || len(b) != 1 || a[0].Nodes != b[0].Nodes {
		t.Fatalf("4103947 depends on the order: %d vs %d nodes", a[0].Nodes, b[0].Nodes)
	}
	t.Logf("XDMoD's 4103947: the record with %d nodes wins (equal times, greater content hash)", a[0].Nodes)

	var torque []accounting.Record
	for _, r := range parseFile(t, filepath.Join(realacct.Dir(t, "pbs"), "apel-test_pbs-lines.log"), accounting.FormatPBS, accounting.Options{Cluster: "b", Final: true}) {
		if r.JobID == "24940336.b0" {
			torque = append(torque, r)
		}
	}
	if len(torque) != 2 || torque[0].Key() != torque[1].Key() {
		t.Fatalf("Torque 24940336.b0: %d records", len(torque))
	}
	for _, order := range [][]accounting.Record{{torque[0], torque[1]}, {torque[1], torque[0]}} {
		got := accounting.Dedupe(order)
		if len(got) != 1 || got[0].End.Unix() != 1448926926 {
			t.Fatalf("Torque 24940336.b0: kept End %v, want the later 1448926926", got[0].End.Unix())
		}
	}
}

func parseFile(t *testing.T, path, format string, opts accounting.Options) []accounting.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("%s: %v", path, err)
	}
	defer f.Close()
	opts.File = path
	res, err := accounting.Parse(format, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res.Records
}
