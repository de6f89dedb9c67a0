package accounting

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// jobcompKeys are the keys of a jobcomp/filetxt line in the order Slurm prints them (Tres in
// current versions, Gres in legacy ones).
var jobcompKeys = []string{
	"JobId", "UserId", "GroupId", "Name", "JobState", "Partition", "TimeLimit", "StartTime",
	"EndTime", "NodeList", "NodeCnt", "ProcCnt", "WorkDir", "ReservationName", "Tres", "Gres",
	"Account", "QOS", "WcKey", "Cluster", "SubmitTime", "EligibleTime", "ArrayJobId",
	"ArrayTaskId", "HetJobId", "HetJobOffset", "DerivedExitCode", "ExitCode",
}

// freeText maps the keys whose values Slurm does not escape (they may hold spaces, even text
// like " Key=") to the key that follows them: their value runs up to that key.
var freeText = map[string]string{"Name": "JobState", "WorkDir": "ReservationName"}

// ParseJobcomp reads a Slurm jobcomp/filetxt log: one `JobId=… UserId=alice(1001) …` line per
// finished job. Values are split at the known keys, so Name and WorkDir may contain spaces.
// The job id is printed as `ArrayJobId_ArrayTaskId` or `HetJobId+HetJobOffset` when the line
// has those keys. There is no elapsed field: Elapsed = End − Start. GPUs come from Tres (the
// requested TRES, which for a finished job is what it was given) or a legacy Gres. Times are
// read in Options.Location. It fails only on I/O errors; bad lines become Result.Errors.
func ParseJobcomp(r io.Reader, opts Options) (Result, error) {
	var res Result
	loc := location(opts)
	err := scanLines(r, opts, &res, func(res *Result, line string, no int) error {
		if strings.TrimSpace(line) == "" {
			return nil
		}
		kv, err := splitJobcomp(line)
		if err != nil {
			res.lineError(opts, no, "%v", err)
			return nil
		}
		rec, skip, err := jobcompRecord(kv, opts, loc)
		switch {
		case err != nil:
			res.lineError(opts, no, "%v", err)
		case skip == skipStep:
			res.Skipped.Steps++
		case skip == skipUnfinished:
			res.Skipped.Unfinished++
		default:
			rec.File, rec.Line = opts.File, no
			res.Records = append(res.Records, rec)
		}
		return nil
	})
	return res, err
}

type skipKind int

const (
	keep skipKind = iota
	skipStep
	skipUnfinished
)

// splitJobcomp splits a line at ` Key=` for the known keys.
func splitJobcomp(line string) (map[string]string, error) {
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
			for _, k := range jobcompKeys {
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

func jobcompRecord(kv map[string]string, opts Options, loc *time.Location) (Record, skipKind, error) {
	id := kv["JobId"]
	if v := kv["ArrayJobId"]; v != "" && kv["ArrayTaskId"] != "" {
		id = v + "_" + kv["ArrayTaskId"]
	} else if v := kv["HetJobId"]; v != "" && v != "0" && kv["HetJobOffset"] != "" {
		id = v + "+" + kv["HetJobOffset"]
	}
	ids, step, err := slurmJobIDs(id)
	switch {
	case step:
		return Record{}, skipStep, nil
	case err != nil:
		return Record{}, keep, err
	case len(ids) != 1:
		return Record{}, keep, fmt.Errorf("bad job id %q", id)
	}
	state := normState(kv["JobState"])
	if unfinished(state) {
		return Record{}, skipUnfinished, nil
	}
	rec := Record{
		Cluster:   value(kv["Cluster"]),
		JobID:     ids[0],
		User:      idName(kv["UserId"]),
		Group:     idName(kv["GroupId"]),
		Account:   value(kv["Account"]),
		Partition: value(kv["Partition"]),
		QOS:       value(kv["QOS"]),
		State:     state,
		ExitCode:  value(kv["ExitCode"]),
		NodeList:  value(kv["NodeList"]),
	}
	if rec.Cluster == "" {
		rec.Cluster = opts.Cluster
	}
	if rec.NodeList == "None assigned" {
		rec.NodeList = ""
	}
	for _, f := range []struct {
		key string
		dst *time.Time
	}{{"SubmitTime", &rec.Submit}, {"StartTime", &rec.Start}, {"EndTime", &rec.End}} {
		if *f.dst, err = parseSlurmTime(kv[f.key], loc); err != nil {
			return Record{}, keep, fmt.Errorf("%s: %w", f.key, err)
		}
	}
	if rec.End.IsZero() || state == "" {
		return Record{}, skipUnfinished, nil
	}
	if rec.End, err = orderTimes(rec.Start, rec.End, loc); err != nil {
		return Record{}, keep, err
	}
	if !rec.Start.IsZero() {
		rec.Elapsed = rec.End.Sub(rec.Start)
	}
	for _, c := range []struct {
		key string
		dst *int
	}{{"NodeCnt", &rec.Nodes}, {"ProcCnt", &rec.CPUs}} {
		if v := value(kv[c.key]); v != "" {
			if *c.dst, err = count(v); err != nil {
				return Record{}, keep, fmt.Errorf("%s: %w", c.key, err)
			}
		}
	}
	t, err := parseTRES(value(kv["Tres"]))
	if err != nil {
		return Record{}, keep, fmt.Errorf("Tres: %w", err)
	}
	rec.GPUs = t.gpus
	if t.gpus < 0 {
		if rec.GPUs, err = parseGRES(value(kv["Gres"])); err != nil {
			return Record{}, keep, fmt.Errorf("Gres: %w", err)
		}
	}
	rec.GPUs = max(rec.GPUs, 0)
	return rec, keep, nil
}

// value trims a value and maps the spellings of "no value" to "".
func value(s string) string {
	s = strings.TrimSpace(s)
	if isNull(s) {
		return ""
	}
	return s
}

// idName reads "alice(1001)" as "alice", and a bare "(1001)" as "1001".
func idName(s string) string {
	s = value(s)
	name, num, ok := strings.Cut(s, "(")
	if !ok {
		return s
	}
	if name = strings.TrimSpace(name); name != "" {
		return name
	}
	return strings.TrimSuffix(num, ")")
}
