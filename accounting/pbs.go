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
// A line may start with the name of the daily file it came from, as `grep` prints matches
// from several files (`20150327:03/27/2015 00:06:27;E;…`, or `accounting/20150327:…`): a
// prefix ending in ':' whose last path element is eight digits (YYYYMMDD) is dropped and the
// rest read as the record (the name is not compared with the record's date). Any other text
// before the record's time makes the line a line error.
//
// Per record: Submit = ctime, Start = start, End = end (epoch seconds; the record's own
// timestamp, read in Options.Location, when end is missing).
//
// Elapsed = resources_used.walltime (`HH:MM:SS`, or plain seconds as Torque 6 prints it) when
// it is present, above zero and not longer than end − start; else end − start; else (no
// start) the walltime as printed. The walltime comes first because it leaves out the time a
// job was suspended, as Slurm's Elapsed does, where end − start counts it. XDMoD uses end −
// start because "resources_used.walltime is occasionally incorrect"; the wrong values seen in
// real logs are zero for a job that ran (PBS Pro, a job shorter than the MOM's sampling) and a
// walltime longer than the job's whole span between start and end: both are caught by the
// bounds above, and end − start is used for them.
//
// Nodes = distinct hosts of exec_host, else Resource_List.nodect. CPUs = resources_used.ncpus,
// else the slots of exec_host, else Resource_List.ncpus. GPUs, the first that is present:
//  1. exec_gpus, the GPUs the job was given (Torque: `n1-gpu/0+n1-gpu/1`): distinct GPUs
//     counted, a GPU listed twice once, `n1-gpu/0-3` as four;
//  2. Resource_List.ngpus, a total (PBS Pro);
//  3. gpus=N or gpu=N in the chunks of Resource_List.nodes (Torque, `2:ppn=32:gpus=2+1:ppn=4`):
//     N per node times the chunk's node count (its leading number, else one named host);
//  4. gpus=N or ngpus=N in the chunks of Resource_List.select (PBS Pro), counted the same way.
//
// What the job was given comes before what it asked for. State = COMPLETED for Exit_status 0,
// FAILED otherwise. It fails only on I/O errors.
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
	stampText = strings.TrimSpace(stampText)
	stamp, err := pbsStamp(stampText, loc)
	if err != nil {
		if t, ok := pbsStripFileName(stampText); ok {
			stamp, err = pbsStamp(t, loc)
		} else if len(stampText) > len(pbsTime) {
			res.lineError(opts, no, "bad record time %q: only a daily file's name (YYYYMMDD:, as grep prints it) may come before the time", stampText)
			return
		}
	}
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

// pbsStripFileName drops the file name grep puts before a record's time: `20150327:` or
// `dir/20150327:`, eight digits as the last path element. It reports whether there was one.
func pbsStripFileName(stamp string) (string, bool) {
	i := len(stamp) - len(pbsTime) - 1
	if i < 8 || stamp[i] != ':' {
		return stamp, false
	}
	name := stamp[:i]
	if j := strings.LastIndexAny(name, `/\`); j >= 0 {
		name = name[j+1:]
	}
	if len(name) != 8 || !digits(name) {
		return stamp, false
	}
	return stamp[i+1:], true
}

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
	var wall time.Duration
	if v := kv[pbsWalltimeUsed]; v != "" {
		if wall, err = pbsDuration(v); err != nil {
			return Record{}, keep, fmt.Errorf("resources_used.walltime: %w", err)
		}
	}
	switch span := rec.End.Sub(rec.Start); {
	case rec.Start.IsZero():
		rec.Elapsed = wall
	case wall > 0 && wall <= span:
		rec.Elapsed = wall
	default:
		rec.Elapsed = span
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
	if rec.GPUs, err = pbsGPUs(kv); err != nil {
		return Record{}, keep, err
	}
	if v := kv[pbsRunCount]; v != "" {
		if rec.RunCount, err = count(v); err != nil {
			return Record{}, keep, fmt.Errorf("run_count: %w", err)
		}
	}
	return rec, keep, nil
}

// pbsDuration reads a PBS duration: `HH:MM:SS` (any number of hours), or plain seconds as
// Torque 6 prints resources_used.walltime. No value is zero.
func pbsDuration(s string) (time.Duration, error) {
	if digits(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > maxSeconds {
			return 0, fmt.Errorf("duration %q too large", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := ParseElapsed(s)
	if errors.Is(err, errNoValue) {
		return 0, nil
	}
	return d, err
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

// pbsGPUs reads the GPUs of a job in the order ParsePBS documents: exec_gpus (distinct GPUs
// given), else Resource_List.ngpus (a total), else the per-node gpus=/gpu= of the
// Resource_List.nodes chunks, else the gpus=/ngpus= of the Resource_List.select chunks.
func pbsGPUs(kv *pbsValues) (int, error) {
	if v := kv[pbsExecGPUs]; v != "" {
		return execGPUs(v)
	}
	if v := kv[pbsNGPUs]; v != "" {
		n, err := count(v)
		if err != nil {
			return 0, fmt.Errorf("Resource_List.ngpus: %w", err)
		}
		return n, nil
	}
	for _, key := range []struct {
		name  string
		i     int
		words [2]string
	}{{"Resource_List.nodes", pbsNodes, [2]string{"gpus", "gpu"}}, {"Resource_List.select", pbsSelect, [2]string{"gpus", "ngpus"}}} {
		total, err := chunkGPUs(kv[key.i], key.words)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", key.name, err)
		}
		if total > 0 {
			return total, nil
		}
	}
	return 0, nil
}

// chunkGPUs sums a node or select spec's GPUs: per chunk (`2:ppn=32:gpus=2`), the value of a
// words key times the chunk's leading count (1 when the chunk starts with a host name).
func chunkGPUs(spec string, words [2]string) (int, error) {
	if spec == "" {
		return 0, nil
	}
	total := 0
	for chunk := range strings.SplitSeq(spec, "+") {
		first, rest, _ := strings.Cut(chunk, ":")
		mult := 1
		if digits(first) { // else a host name: one node
			n, err := count(first)
			if err != nil {
				return 0, err
			}
			mult = n
		}
		for p := range strings.SplitSeq(rest, ":") {
			k, v, ok := strings.Cut(p, "=")
			if !ok || k != words[0] && k != words[1] {
				continue
			}
			n, err := count(v)
			if err != nil {
				return 0, err
			}
			if mult > maxCount || n > maxCount {
				return 0, errors.New("too many GPUs")
			}
			if total += mult * n; total > maxCount {
				return 0, errors.New("too many GPUs")
			}
		}
	}
	return total, nil
}

// maxExecGPUs bounds the GPUs exec_gpus may list (no job comes near it; a garbage range must
// not be expanded).
const maxExecGPUs = 1 << 16

// execGPUs counts the distinct GPUs of exec_gpus: `n1-gpu/0+n1-gpu/1`, `n1-gpu/0-3` or
// `n1-gpu/0,2`; an entry without an index counts as one GPU of its own.
func execGPUs(s string) (int, error) {
	seen := map[string]bool{}
	for e := range strings.SplitSeq(s, "+") {
		host, spec, ok := strings.Cut(e, "/")
		if !ok {
			seen[e] = true
			continue
		}
		for r := range strings.SplitSeq(spec, ",") {
			a, b, isRange := strings.Cut(r, "-")
			lo, err1 := count(a)
			hi := lo
			var err2 error
			if isRange {
				hi, err2 = count(b)
			}
			if err1 != nil || err2 != nil || hi < lo {
				return 0, fmt.Errorf("bad exec_gpus entry %q", e)
			}
			if len(seen)+hi-lo >= maxExecGPUs {
				return 0, errors.New("exec_gpus: too many GPUs")
			}
			for i := lo; i <= hi; i++ {
				seen[host+"/"+strconv.Itoa(i)] = true
			}
		}
	}
	return len(seen), nil
}
