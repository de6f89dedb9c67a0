package accounting

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
)

// The parsers take shortcuts (parseClock, isNull's EqualFold, sacct's isStep, pbsOther,
// splitJobcomp's single pass). The tests here hold each shortcut to the slower code it stands
// for, so that no result changes.

func loadZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("no tzdata for %s: %v", name, err)
	}
	return loc
}

// checkClock compares parseClock with time.ParseInLocation for one input: when parseClock
// accepts it, the Time must be identical (same instant, same location, same representation).
func checkClock(t *testing.T, s, mask, layout string, loc *time.Location, mustAccept bool) {
	t.Helper()
	want, werr := time.ParseInLocation(layout, s, loc)
	got, ok := parseClock(s, mask, loc)
	if gotB, okB := parseClock([]byte(s), mask, loc); okB != ok || gotB != got {
		t.Fatalf("%q in %s: string and []byte disagree", s, loc)
	}
	switch {
	case ok && werr != nil:
		t.Fatalf("%q in %s: parseClock accepts what ParseInLocation rejects (%v)", s, loc, werr)
	case ok && got != want:
		t.Fatalf("%q in %s: parseClock %v, ParseInLocation %v", s, loc, got, want)
	case !ok && mustAccept:
		t.Fatalf("%q in %s: parseClock declines a canonical time (ParseInLocation: %v, %v)", s, loc, want, werr)
	}
}

func TestParseClockMatchesParseInLocation(t *testing.T) {
	t.Parallel()
	layouts := []struct{ mask, layout string }{{slurmClock, slurmTime}, {pbsClock, pbsTime}}
	zones := []*time.Location{time.UTC, time.FixedZone("X", -(3*3600 + 1800))}
	for _, name := range []string{"America/Chicago", "Europe/Berlin", "America/Sao_Paulo", "Australia/Lord_Howe", "Europe/Dublin"} {
		zones = append(zones, loadZone(t, name))
	}

	// Every wall-clock minute around each change of offset from 1995 to 2030: the hour that
	// does not exist when clocks go forward, and the one that happens twice when they go back.
	for _, loc := range zones {
		for at := time.Date(1995, 1, 1, 0, 0, 0, 0, time.UTC); at.Year() < 2030; at = at.Add(time.Hour) {
			_, before := at.In(loc).Zone()
			_, after := at.Add(time.Hour).In(loc).Zone()
			if before == after {
				continue
			}
			y, mo, d := at.In(loc).Date()
			h, mi, _ := at.In(loc).Clock()
			wall := time.Date(y, mo, d, h, mi, 0, 0, time.UTC).Add(-3 * time.Hour)
			for range 7 * 60 {
				for _, l := range layouts {
					checkClock(t, wall.Format(l.layout), l.mask, l.layout, loc, true)
				}
				wall = wall.Add(time.Minute)
			}
		}
	}

	// Random valid times over the whole four-digit range, and their mutations: every byte
	// replaced by characters that matter, and the string cut or lengthened.
	rng := rand.New(rand.NewPCG(7, 8))
	const alphabet = "0123456789-/:T .+xZ\u00a0"
	for range 3000 {
		wall := time.Date(rng.IntN(10000), time.Month(1+rng.IntN(12)), 1+rng.IntN(31), rng.IntN(24), rng.IntN(60), rng.IntN(60), 0, time.UTC)
		loc := zones[rng.IntN(len(zones))]
		for _, l := range layouts {
			s := wall.Format(l.layout)
			checkClock(t, s, l.mask, l.layout, loc, true)
			for i := range len(s) {
				for _, c := range alphabet {
					checkClock(t, s[:i]+string(c)+s[i+1:], l.mask, l.layout, loc, false)
				}
			}
			checkClock(t, s[:len(s)-1], l.mask, l.layout, loc, false)
			checkClock(t, s+"0", l.mask, l.layout, loc, false)
			checkClock(t, s+".5", l.mask, l.layout, loc, false)
		}
	}

	// Every day number in every month of leap and common years, and the field limits.
	for _, year := range []int{0, 1900, 2000, 2023, 2024, 2100, 9999} {
		for month := 0; month <= 13; month++ {
			for day := 0; day <= 32; day++ {
				for _, hms := range []string{"00:00:00", "23:59:59", "24:00:00", "12:60:00", "12:00:60", "99:99:99"} {
					s := fmt.Sprintf("%04d-%02d-%02dT%s", year, month, day, hms)
					checkClock(t, s, slurmClock, slurmTime, time.UTC, false)
					p := fmt.Sprintf("%02d/%02d/%04d %s", month, day, year, hms)
					checkClock(t, p, pbsClock, pbsTime, zones[2], false)
				}
			}
		}
	}
}

// TestIsNullFolding holds isNull to its first definition, strings.ToLower compared with the
// null spellings, for every rune that has a case or is a space, in every position of each
// spelling.
func TestIsNullFolding(t *testing.T) {
	t.Parallel()
	spellings := []string{"", "unknown", "none", "(null)", "n/a"}
	reference := func(s string) bool {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "", "unknown", "none", "(null)", "n/a":
			return true
		}
		return false
	}
	var runes []rune
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r < 0x80 || unicode.IsSpace(r) || unicode.ToLower(r) != r || unicode.ToUpper(r) != r || unicode.SimpleFold(r) != r {
			runes = append(runes, r)
		}
	}
	for _, sp := range spellings {
		for i := 0; i <= len(sp); i++ {
			for _, r := range runes {
				for _, s := range []string{sp[:i] + string(r) + sp[min(i+1, len(sp)):], sp[:i] + string(r) + sp[i:]} {
					if got, want := isNull(s), reference(s); got != want {
						t.Fatalf("isNull(%q) = %v, want %v", s, got, want)
					}
				}
			}
		}
	}
	for _, s := range []string{"UNKNOWN", " None ", "N/A", "(NULL)", "un\u212anown", "\u00a0none\u3000", "unknow", "nonE!", "n/a/"} {
		if got, want := isNull(s), reference(s); got != want {
			t.Errorf("isNull(%q) = %v, want %v", s, got, want)
		}
	}
}

// sacctShortcutLines are lines to try against each header in TestSacctStepShortcut.
var sacctShortcutLines = []string{
	"7.batch|7.batch|COMPLETED|2024-03-01T00:00:00|1",
	"7.batch|7|COMPLETED|2024-03-01T00:00:00|1|",
	"7|7.batch|COMPLETED|2024-03-01T00:00:00|1",
	"|7.0|COMPLETED|2024-03-01T00:00:00|1",
	"Unknown|7.0|COMPLETED|2024-03-01T00:00:00|1",
	" 7.extern |x|COMPLETED||",
	"7.0|a|b|c|d|e|f",
	"7.0|a|b",
	"7.0",
	"a|7.0|b|c|d",
	"JobID|JobIDRaw|State|End|AllocNodes",
	"7.0|||||",
	"7.0||||||",
}

// TestSacctStepShortcut holds isStep to parse: a line isStep calls a step is one that parse
// skips as a step, and nothing else.
func TestSacctStepShortcut(t *testing.T) {
	t.Parallel()
	headers := []string{
		"JobID|JobIDRaw|State|End|AllocNodes",
		"JobIDRaw|JobID|State|End|AllocNodes",
		"JobIDRaw|State|End|AllocNodes|JobName",
		"JobName|JobID|State|End|",
		"State|End|JobID",
		"JobID|State|End|JobName|x|",
	}
	inputs := seedInputs(t, "FuzzParseSacct")
	for _, h := range headers {
		inputs = append(inputs, []byte(h+"\n"+strings.Join(sacctShortcutLines, "\n")+"\n"))
	}
	steps := 0
	for _, in := range inputs {
		lines := strings.Split(strings.ReplaceAll(string(in), "\r\n", "\n"), "\n")
		p := &sacctParser{opts: Options{File: "f"}, loc: time.UTC}
		var res Result
		if err := p.parse(&res, lines[0], 1); err != nil || p.names == nil {
			continue
		}
		for no, line := range lines[1:] {
			if !p.isStep([]byte(line)) {
				continue
			}
			steps++
			var got Result
			if err := p.parse(&got, line, no+2); err != nil || got.Skipped != (Skipped{Steps: 1}) || len(got.Records) != 0 || len(got.Errors) != 0 {
				t.Errorf("header %q, line %q: isStep, but parse gives %+v, %v", lines[0], line, got, err)
			}
		}
	}
	if steps < 20 {
		t.Fatalf("only %d lines taken as steps: the test tests little", steps)
	}
}

// TestPBSOtherShortcut holds pbsOther to pbsLine in the same way.
func TestPBSOtherShortcut(t *testing.T) {
	t.Parallel()
	inputs := append(seedInputs(t, "FuzzParsePBS"), []byte(strings.Join([]string{
		"03/01/2024 07:59:00;Q;7001.host;queue=batch",
		"03/01/2024 07:59:00;S;7001.host",
		" 03/01/2024 07:59:00 ;D;x",
		"03/01/2024 07:59:00;;",
		"03/01/2024 7:59:00;Q;7001.host;queue=batch",
		"02/30/2024 07:59:00;Q;7001.host;queue=batch",
		"03/01/2024 07:59:00;E ;7001.host;queue=batch",
		"03/01/2024 07:59:00;Q",
		"03/01/2024 07:59:00.5;Q;x",
	}, "\n")))
	taipei := loadZone(t, "Asia/Taipei")
	others := 0
	for _, in := range inputs {
		for no, line := range strings.Split(string(in), "\n") {
			line = strings.TrimSuffix(line, "\r")
			for _, loc := range []*time.Location{time.UTC, taipei} {
				if !pbsOther([]byte(line), loc) {
					continue
				}
				others++
				var got Result
				pbsLine(&got, line, no+1, Options{File: "f"}, loc)
				if got.Skipped != (Skipped{Other: 1}) || len(got.Records) != 0 || len(got.Errors) != 0 {
					t.Errorf("line %q: pbsOther, but pbsLine gives %+v", line, got)
				}
			}
		}
	}
	if others < 10 {
		t.Fatalf("only %d lines taken as others: the test tests little", others)
	}
}

// splitJobcompReference is splitJobcomp as first written: for each key, search the rest of the
// line for the nearest ` Key=` of every key not yet seen. It is the specification of the
// single-pass splitJobcomp.
func splitJobcompReference(line string) (map[string]string, error) {
	keys := jobcompKeyNames
	freeText := map[string]string{"Name": "JobState", "WorkDir": "ReservationName"}
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "JobId=") {
		return nil, errors.New("not a jobcomp line: it does not start with JobId=")
	}
	kv := map[string]string{}
	key, rest := "JobId", line[len("JobId="):]
	for {
		end, next := len(rest), ""
		if succ, ok := freeText[key]; ok {
			if i := strings.Index(rest, " "+succ+"="); i >= 0 {
				end, next = i, succ
			}
		}
		if next == "" {
			for _, k := range keys {
				if _, seen := kv[k]; seen || k == key {
					continue
				}
				if i := strings.Index(rest, " "+k+"="); i >= 0 && i < end {
					end, next = i, k
				}
			}
		}
		kv[key] = rest[:end]
		if next == "" {
			return kv, nil
		}
		key, rest = next, rest[end+len(next)+2:]
	}
}

func checkSplitJobcomp(t *testing.T, line string) {
	t.Helper()
	want, werr := splitJobcompReference(line)
	var got jobcompFields
	_, err := splitJobcomp(line, &got, nil)
	if (err == nil) != (werr == nil) {
		t.Fatalf("%q: error %v, want %v", line, err, werr)
	}
	if err != nil {
		return
	}
	for k, name := range jobcompKeyNames {
		if got[k] != want[name] {
			t.Fatalf("%q: key %s = %q, want %q", line, name, got[k], want[name])
		}
	}
}

// jobcompKeyNames are the keys of a jobcomp line in the order Slurm prints them.
var jobcompKeyNames = []string{
	"JobId", "UserId", "GroupId", "Name", "JobState", "Partition", "TimeLimit", "StartTime",
	"EndTime", "NodeList", "NodeCnt", "ProcCnt", "WorkDir", "ReservationName", "Tres", "Gres",
	"Account", "QOS", "WcKey", "Cluster", "SubmitTime", "EligibleTime", "ArrayJobId",
	"ArrayTaskId", "HetJobId", "HetJobOffset", "DerivedExitCode", "ExitCode",
}

func TestJobcompKeys(t *testing.T) {
	t.Parallel()
	if len(jobcompKeyNames) != numJobcompKeys {
		t.Fatalf("%d keys, want %d", numJobcompKeys, len(jobcompKeyNames))
	}
	for i, name := range jobcompKeyNames {
		if jobcompKey(name) != i {
			t.Errorf("jobcompKey(%q) = %d, want %d", name, jobcompKey(name), i)
		}
	}
	for _, w := range []string{"", "jobid", "JobID", "Jobid", "Nam", "Names", "Resource_List.ncpus"} {
		if jobcompKey(w) != -1 {
			t.Errorf("jobcompKey(%q) = %d, want -1", w, jobcompKey(w))
		}
	}
}

func FuzzSplitJobcomp(f *testing.F) {
	for _, in := range seedInputs(f, "FuzzParseJobcomp") {
		for line := range strings.SplitSeq(string(in), "\n") {
			f.Add(line)
		}
	}
	f.Fuzz(checkSplitJobcomp)
}

// TestSplitJobcompShuffled splits lines whose keys come in random order, repeated, misspelt,
// and inside free text.
func TestSplitJobcompShuffled(t *testing.T) {
	t.Parallel()
	words := []string{"JobId=1", "UserId=a(1)", "Name=x y", "Name=JobState=z", "JobState=COMPLETED", "WorkDir=/a b",
		"ReservationName=", "Tres=cpu=1", "Gres=gpu:2", "ArrayJobId=5", "ArrayTaskId=2", "HetJobId=0",
		"EndTime=2024-03-01T00:00:00", "jobstate=x", "Name", "=", "ExitCode=0:0", "DerivedExitCode=0:0", "Cluster=c"}
	rng := rand.New(rand.NewPCG(9, 10))
	for range 20000 {
		n := 1 + rng.IntN(12)
		parts := []string{"JobId=" + strconv.Itoa(rng.IntN(100))}
		for range n {
			parts = append(parts, words[rng.IntN(len(words))])
		}
		sep := " "
		if rng.IntN(10) == 0 {
			sep = "  "
		}
		checkSplitJobcomp(t, strings.Join(parts, sep))
	}
}

// seedInputs reads the committed fuzz corpus of a target.
func seedInputs(t testing.TB, target string) [][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no seed corpus for %s: %v", target, err)
	}
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		_, rest, _ := bytes.Cut(b, []byte("\n"))
		text := strings.TrimSpace(string(rest))
		if s, ok := strings.CutPrefix(text, "[]byte("); ok {
			text = strings.TrimSuffix(s, ")")
		} else if s, ok := strings.CutPrefix(text, "string("); ok {
			text = strings.TrimSuffix(s, ")")
		}
		u, err := strconv.Unquote(text)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, []byte(u))
	}
	return out
}

// TestLongLines reads lines longer than the reader's buffer, and longer than maxLine.
func TestLongLines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 100_000) // spans bufio buffers, still parsed
	huge := strings.Repeat("y", maxLine+1)
	in := "JobID|JobName|State|End|ElapsedRaw\n" +
		"1|" + long + "|COMPLETED|2024-03-01T01:00:00|60\n" +
		"2|" + huge + "|COMPLETED|2024-03-01T01:00:00|60\n" +
		"3.batch|" + long + "|COMPLETED|2024-03-01T01:00:00|60\n" +
		"4|a|COMPLETED|2024-03-01T01:00:00|60\n" +
		"5|" + long
	for _, final := range []bool{false, true} {
		res, err := ParseSacct(strings.NewReader(in), Options{File: "f", Final: final})
		if err != nil {
			t.Fatal(err)
		}
		wantLines, wantOffset := 5, int64(len(in)-len("5|"+long))
		wantErrors := []LineError{{File: "f", Line: 3, Err: fmt.Sprintf("line longer than %d bytes", maxLine)}}
		if final {
			wantLines, wantOffset = 6, int64(len(in))
			wantErrors = append(wantErrors, LineError{File: "f", Line: 6, Err: "2 fields for 5 columns"})
		}
		if len(res.Records) != 2 || res.Records[0].JobID != "1" || res.Records[1].JobID != "4" || res.Records[1].Line != 5 ||
			res.Skipped.Steps != 1 || res.Lines != wantLines || res.Offset != wantOffset || fmt.Sprint(res.Errors) != fmt.Sprint(wantErrors) {
			t.Errorf("final=%v: %d records, skipped %+v, lines %d, offset %d, errors %v; want 2 records (1, 4), 1 step, lines %d, offset %d, errors %v",
				final, len(res.Records), res.Skipped, res.Lines, res.Offset, res.Errors, wantLines, wantOffset, wantErrors)
		}
	}
}
