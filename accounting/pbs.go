package accounting

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParsePBS reads a PBS Pro or Torque accounting log (`MM/DD/YYYY HH:MM:SS;E;id;key=value …`).
// Only `E` (job end) records are jobs; other record types are counted in Skipped.Other and
// array parents (`123[]`) in Skipped.Steps, since their usage is their subjobs'.
//
// Per record: Submit = ctime, Start = start, End = end (epoch seconds; the record's own
// timestamp, read in Options.Location, when end is missing). Elapsed = end − start, as XDMoD
// does because resources_used.walltime is occasionally wrong; resources_used.walltime only when
// start or end is missing. Nodes = distinct hosts of exec_host, else Resource_List.nodect.
// CPUs = resources_used.ncpus, else the slots of exec_host, else Resource_List.ncpus. GPUs =
// the entries of exec_gpus, else Resource_List.ngpus, else the gpus= / ngpus= of the
// Resource_List.nodes or Resource_List.select chunks (per node, times the chunk's count).
// State = COMPLETED for Exit_status 0, FAILED otherwise. It fails only on I/O errors.
func ParsePBS(r io.Reader, opts Options) (Result, error) {
	var res Result
	loc := location(opts)
	err := scanLines(r, opts, &res, func(res *Result, b []byte, no int) error {
		if pbsOther(b, loc) {
			res.Skipped.Other++
			return nil
		}
		pbsLine(res, string(b), no, opts, loc)
		return nil
	})
	return res, err
}

func pbsLine(res *Result, line string, no int, opts Options, loc *time.Location) {
	if strings.TrimSpace(line) == "" {
		return
	}
	stampText, rest, ok1 := strings.Cut(line, ";")
	kind, rest, ok2 := strings.Cut(rest, ";")
	if !ok1 || !ok2 {
		res.lineError(opts, no, "not a PBS accounting record")
		return
	}
	id, msg, _ := strings.Cut(rest, ";")
	stamp, err := pbsStamp(strings.TrimSpace(stampText), loc)
	if err != nil {
		res.lineError(opts, no, "bad record time %q", stampText)
		return
	}
	if kind != "E" {
		res.Skipped.Other++
		return
	}
	var kv pbsValues
	pbsFields(msg, &kv)
	rec, skip, err := pbsRecord(strings.TrimSpace(id), &kv, stamp.UTC())
	switch {
	case err != nil:
		res.lineError(opts, no, "%v", err)
	case skip == skipStep:
		res.Skipped.Steps++
	default:
		rec.Cluster, rec.File, rec.Line = opts.Cluster, opts.File, no
		res.Records = append(res.Records, rec)
	}
}

// pbsOther reports, before the line is copied, that pbsLine would count it in Skipped.Other:
// a record with a valid time and a type other than E, like the Q and S records that come
// before most E records. A false answer decides nothing.
func pbsOther(line []byte, loc *time.Location) bool {
	stamp, rest, ok1 := bytes.Cut(line, []byte(";"))
	kind, _, ok2 := bytes.Cut(rest, []byte(";"))
	if !ok1 || !ok2 || string(kind) == "E" {
		return false
	}
	_, ok := parseClock(bytes.TrimSpace(stamp), pbsClock, loc)
	return ok
}

const pbsTime = "01/02/2006 15:04:05"

// pbsStamp reads the time of a record.
func pbsStamp(s string, loc *time.Location) (time.Time, error) {
	if t, ok := parseClock(s, pbsClock, loc); ok {
		return t, nil
	}
	return time.ParseInLocation(pbsTime, s, loc)
}

// The keys of a PBS record that ParsePBS reads, as indexes of pbsValues (see pbsKey).
const (
	pbsUser = iota
	pbsGroup
	pbsAccount
	pbsProject
	pbsQueue
	pbsExitStatus
	pbsCtime
	pbsStart
	pbsEnd
	pbsWalltimeUsed
	pbsExecHost
	pbsExecGPUs
	pbsNCPUsUsed
	pbsNCPUs
	pbsNGPUs
	pbsNodect
	pbsNodes
	pbsSelect
	pbsRunCount
	numPBSKeys
)

// pbsKey is the index of a key ParsePBS reads, or -1. (A switch: this runs for every word of
// every record, and is several times faster than a map.)
func pbsKey(k string) int {
	switch k {
	case "user":
		return pbsUser
	case "group":
		return pbsGroup
	case "account":
		return pbsAccount
	case "project":
		return pbsProject
	case "queue":
		return pbsQueue
	case "Exit_status":
		return pbsExitStatus
	case "ctime":
		return pbsCtime
	case "start":
		return pbsStart
	case "end":
		return pbsEnd
	case "resources_used.walltime":
		return pbsWalltimeUsed
	case "exec_host":
		return pbsExecHost
	case "exec_gpus":
		return pbsExecGPUs
	case "resources_used.ncpus":
		return pbsNCPUsUsed
	case "Resource_List.ncpus":
		return pbsNCPUs
	case "Resource_List.ngpus":
		return pbsNGPUs
	case "Resource_List.nodect":
		return pbsNodect
	case "Resource_List.nodes":
		return pbsNodes
	case "Resource_List.select":
		return pbsSelect
	case "run_count":
		return pbsRunCount
	}
	return -1
}

// pbsValues are the values of one record by key index; "" for a key the record lacks.
type pbsValues [numPBSKeys]string

// pbsFields splits `key=value key=value` into kv, keeping the keys pbsKey knows; a word without
// '=' belongs to the value before it, and a value in double quotes loses them.
func pbsFields(msg string, kv *pbsValues) {
	last := -1 // the key of the value before, -1 when it is not kept (or there is none)
	for w := range strings.FieldsSeq(msg) {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			if last >= 0 {
				kv[last] += " " + w
			}
			continue
		}
		if last = pbsKey(k); last >= 0 {
			kv[last] = v
		}
	}
	for k, v := range kv {
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			kv[k] = v[1 : len(v)-1]
		}
	}
}

func pbsRecord(id string, kv *pbsValues, stamp time.Time) (Record, skipKind, error) {
	if id == "" {
		return Record{}, keep, errors.New("empty job id")
	}
	if num, _, _ := strings.Cut(id, "."); strings.HasSuffix(num, "[]") {
		return Record{}, skipStep, nil
	}
	rec := Record{
		JobID:     id,
		User:      kv[pbsUser],
		Group:     kv[pbsGroup],
		Account:   kv[pbsAccount],
		Partition: kv[pbsQueue],
		ExitCode:  kv[pbsExitStatus],
		State:     "FAILED",
	}
	if rec.Account == "" {
		rec.Account = kv[pbsProject]
	}
	if rec.ExitCode == "0" {
		rec.State = "COMPLETED"
	}
	var err error
	if rec.Submit, err = epoch(kv[pbsCtime]); err != nil {
		return Record{}, keep, fmt.Errorf("ctime: %w", err)
	}
	if rec.Start, err = epoch(kv[pbsStart]); err != nil {
		return Record{}, keep, fmt.Errorf("start: %w", err)
	}
	if rec.End, err = epoch(kv[pbsEnd]); err != nil {
		return Record{}, keep, fmt.Errorf("end: %w", err)
	}
	if rec.End.IsZero() {
		rec.End = stamp
	}
	if !rec.Start.IsZero() && rec.End.Before(rec.Start) {
		return Record{}, keep, fmt.Errorf("end %s before start %s", rec.End.Format(time.RFC3339), rec.Start.Format(time.RFC3339))
	}
	switch {
	case !rec.Start.IsZero() && kv[pbsEnd] != "":
		rec.Elapsed = rec.End.Sub(rec.Start)
	case kv[pbsWalltimeUsed] != "":
		d, err := ParseElapsed(kv[pbsWalltimeUsed])
		if err != nil && !errors.Is(err, errNoValue) {
			return Record{}, keep, fmt.Errorf("resources_used.walltime: %w", err)
		}
		rec.Elapsed = d
	case !rec.Start.IsZero():
		rec.Elapsed = rec.End.Sub(rec.Start)
	}

	var hostsBuf [16]string
	hosts, slots, err := execHost(hostsBuf[:0], kv[pbsExecHost])
	if err != nil {
		return Record{}, keep, err
	}
	rec.NodeList = strings.Join(hosts, ",")
	rec.Nodes = len(hosts)
	if rec.Nodes == 0 && kv[pbsNodect] != "" {
		if rec.Nodes, err = count(kv[pbsNodect]); err != nil {
			return Record{}, keep, fmt.Errorf("Resource_List.nodect: %w", err)
		}
	}
	switch {
	case kv[pbsNCPUsUsed] != "":
		if rec.CPUs, err = count(kv[pbsNCPUsUsed]); err != nil {
			return Record{}, keep, fmt.Errorf("resources_used.ncpus: %w", err)
		}
	case slots > 0:
		rec.CPUs = slots
	case kv[pbsNCPUs] != "":
		if rec.CPUs, err = count(kv[pbsNCPUs]); err != nil {
			return Record{}, keep, fmt.Errorf("Resource_List.ncpus: %w", err)
		}
	}
	if rec.GPUs, err = pbsGPUs(kv, rec.Nodes); err != nil {
		return Record{}, keep, err
	}
	if v := kv[pbsRunCount]; v != "" {
		if rec.RunCount, err = count(v); err != nil {
			return Record{}, keep, fmt.Errorf("run_count: %w", err)
		}
	}
	return rec, keep, nil
}

// epoch reads PBS epoch seconds; empty and 0 (never started) are unknown.
func epoch(s string) (time.Time, error) {
	if s == "" || s == "0" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > 1<<34 {
		return time.Time{}, fmt.Errorf("bad epoch time %q", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

// execHost reads `n404/2+n404/3` (Torque), `c1/0*13+c2/0*13` or `c1/0-3` (PBS Pro) into the
// distinct hosts, in order, appended to dst, and the number of CPU slots.
func execHost(dst []string, s string) (hosts []string, slots int, err error) {
	if s == "" {
		return dst, 0, nil
	}
	hosts = dst
	var seen map[string]bool // once there are many hosts; until then hosts is searched
	for e := range strings.SplitSeq(s, "+") {
		host, spec, _ := strings.Cut(e, "/")
		if host == "" {
			return nil, 0, fmt.Errorf("bad exec_host entry %q", e)
		}
		switch {
		case seen != nil:
			if !seen[host] {
				seen[host] = true
				hosts = append(hosts, host)
			}
		case !slices.Contains(hosts, host):
			hosts = append(hosts, host)
			if len(hosts) == 16 { // from here on a map is cheaper than a search
				seen = make(map[string]bool)
				for _, h := range hosts {
					seen[h] = true
				}
			}
		}
		n := 1
		switch {
		case spec == "":
		case strings.Contains(spec, "*"):
			_, c, _ := strings.Cut(spec, "*")
			if n, err = count(c); err != nil {
				return nil, 0, fmt.Errorf("bad exec_host entry %q", e)
			}
		default:
			n = 0
			for r := range strings.SplitSeq(spec, ",") {
				a, b, isRange := strings.Cut(r, "-")
				lo, err1 := count(a)
				hi := lo
				var err2 error
				if isRange {
					hi, err2 = count(b)
				}
				if err1 != nil || err2 != nil || hi < lo {
					return nil, 0, fmt.Errorf("bad exec_host entry %q", e)
				}
				n += hi - lo + 1
			}
		}
		if slots += n; slots > maxCount {
			return nil, 0, fmt.Errorf("exec_host: too many slots")
		}
	}
	return hosts, slots, nil
}

// pbsGPUs reads the GPUs of a job: the exec_gpus entries (what it was given), else
// Resource_List.ngpus (a total), else the per-node gpus=/ngpus= of its node or select chunks.
func pbsGPUs(kv *pbsValues, nodes int) (int, error) {
	if v := kv[pbsExecGPUs]; v != "" {
		return strings.Count(v, "+") + 1, nil
	}
	if v := kv[pbsNGPUs]; v != "" {
		n, err := count(v)
		if err != nil {
			return 0, fmt.Errorf("Resource_List.ngpus: %w", err)
		}
		return n, nil
	}
	total := 0
	for _, key := range []struct {
		name string
		i    int
	}{{"Resource_List.nodes", pbsNodes}, {"Resource_List.select", pbsSelect}} {
		spec := kv[key.i]
		if spec == "" {
			continue
		}
		for chunk := range strings.SplitSeq(spec, "+") {
			first, rest, _ := strings.Cut(chunk, ":")
			mult := 1
			if n, err := count(first); err == nil {
				mult = n
			}
			for p := range strings.SplitSeq(rest, ":") {
				k, v, ok := strings.Cut(p, "=")
				if !ok || k != "gpus" && k != "ngpus" {
					continue
				}
				n, err := count(v)
				if err != nil {
					return 0, fmt.Errorf("%s: %w", key.name, err)
				}
				if total += mult * n; mult > maxCount || total > maxCount {
					return 0, fmt.Errorf("%s: too many GPUs", key.name)
				}
			}
		}
		if total > 0 {
			return total, nil
		}
	}
	return 0, nil
}
