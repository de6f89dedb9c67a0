package accounting

import (
	"errors"
	"fmt"
	"io"
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
	err := scanLines(r, opts, &res, func(res *Result, line string, no int) error {
		if strings.TrimSpace(line) == "" {
			return nil
		}
		f := strings.SplitN(line, ";", 4)
		if len(f) < 3 {
			res.lineError(opts, no, "not a PBS accounting record")
			return nil
		}
		stamp, err := time.ParseInLocation("01/02/2006 15:04:05", strings.TrimSpace(f[0]), loc)
		if err != nil {
			res.lineError(opts, no, "bad record time %q", f[0])
			return nil
		}
		if f[1] != "E" {
			res.Skipped.Other++
			return nil
		}
		msg := ""
		if len(f) == 4 {
			msg = f[3]
		}
		rec, skip, err := pbsRecord(strings.TrimSpace(f[2]), pbsFields(msg), stamp.UTC())
		switch {
		case err != nil:
			res.lineError(opts, no, "%v", err)
		case skip == skipStep:
			res.Skipped.Steps++
		default:
			rec.Cluster, rec.File, rec.Line = opts.Cluster, opts.File, no
			res.Records = append(res.Records, rec)
		}
		return nil
	})
	return res, err
}

// pbsFields splits `key=value key=value`; a word without '=' belongs to the value before it.
func pbsFields(msg string) map[string]string {
	kv := map[string]string{}
	last := ""
	for _, w := range strings.Fields(msg) {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			if last != "" {
				kv[last] += " " + w
			}
			continue
		}
		kv[k], last = v, k
	}
	for k, v := range kv {
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			kv[k] = v[1 : len(v)-1]
		}
	}
	return kv
}

func pbsRecord(id string, kv map[string]string, stamp time.Time) (Record, skipKind, error) {
	if id == "" {
		return Record{}, keep, errors.New("empty job id")
	}
	if num, _, _ := strings.Cut(id, "."); strings.HasSuffix(num, "[]") {
		return Record{}, skipStep, nil
	}
	rec := Record{
		JobID:     id,
		User:      kv["user"],
		Group:     kv["group"],
		Account:   kv["account"],
		Partition: kv["queue"],
		ExitCode:  kv["Exit_status"],
		State:     "FAILED",
	}
	if rec.Account == "" {
		rec.Account = kv["project"]
	}
	if rec.ExitCode == "0" {
		rec.State = "COMPLETED"
	}
	var err error
	for _, t := range []struct {
		key string
		dst *time.Time
	}{{"ctime", &rec.Submit}, {"start", &rec.Start}, {"end", &rec.End}} {
		if *t.dst, err = epoch(kv[t.key]); err != nil {
			return Record{}, keep, fmt.Errorf("%s: %w", t.key, err)
		}
	}
	if rec.End.IsZero() {
		rec.End = stamp
	}
	if !rec.Start.IsZero() && rec.End.Before(rec.Start) {
		return Record{}, keep, fmt.Errorf("end %s before start %s", rec.End.Format(time.RFC3339), rec.Start.Format(time.RFC3339))
	}
	switch {
	case !rec.Start.IsZero() && kv["end"] != "":
		rec.Elapsed = rec.End.Sub(rec.Start)
	case kv["resources_used.walltime"] != "":
		d, err := ParseElapsed(kv["resources_used.walltime"])
		if err != nil && !errors.Is(err, errNoValue) {
			return Record{}, keep, fmt.Errorf("resources_used.walltime: %w", err)
		}
		rec.Elapsed = d
	case !rec.Start.IsZero():
		rec.Elapsed = rec.End.Sub(rec.Start)
	}

	hosts, slots, err := execHost(kv["exec_host"])
	if err != nil {
		return Record{}, keep, err
	}
	rec.NodeList = strings.Join(hosts, ",")
	rec.Nodes = len(hosts)
	if rec.Nodes == 0 && kv["Resource_List.nodect"] != "" {
		if rec.Nodes, err = count(kv["Resource_List.nodect"]); err != nil {
			return Record{}, keep, fmt.Errorf("Resource_List.nodect: %w", err)
		}
	}
	switch {
	case kv["resources_used.ncpus"] != "":
		if rec.CPUs, err = count(kv["resources_used.ncpus"]); err != nil {
			return Record{}, keep, fmt.Errorf("resources_used.ncpus: %w", err)
		}
	case slots > 0:
		rec.CPUs = slots
	case kv["Resource_List.ncpus"] != "":
		if rec.CPUs, err = count(kv["Resource_List.ncpus"]); err != nil {
			return Record{}, keep, fmt.Errorf("Resource_List.ncpus: %w", err)
		}
	}
	if rec.GPUs, err = pbsGPUs(kv, rec.Nodes); err != nil {
		return Record{}, keep, err
	}
	if v := kv["run_count"]; v != "" {
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
// distinct hosts, in order, and the number of CPU slots.
func execHost(s string) (hosts []string, slots int, err error) {
	if s == "" {
		return nil, 0, nil
	}
	seen := map[string]bool{}
	for _, e := range strings.Split(s, "+") {
		host, spec, _ := strings.Cut(e, "/")
		if host == "" {
			return nil, 0, fmt.Errorf("bad exec_host entry %q", e)
		}
		if !seen[host] {
			seen[host] = true
			hosts = append(hosts, host)
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
			for _, r := range strings.Split(spec, ",") {
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
func pbsGPUs(kv map[string]string, nodes int) (int, error) {
	if v := kv["exec_gpus"]; v != "" {
		return len(strings.Split(v, "+")), nil
	}
	if v := kv["Resource_List.ngpus"]; v != "" {
		n, err := count(v)
		if err != nil {
			return 0, fmt.Errorf("Resource_List.ngpus: %w", err)
		}
		return n, nil
	}
	total := 0
	for _, key := range []string{"Resource_List.nodes", "Resource_List.select"} {
		spec := kv[key]
		if spec == "" {
			continue
		}
		for _, chunk := range strings.Split(spec, "+") {
			parts := strings.Split(chunk, ":")
			mult := 1
			if n, err := count(parts[0]); err == nil {
				mult = n
			}
			for _, p := range parts[1:] {
				k, v, ok := strings.Cut(p, "=")
				if !ok || k != "gpus" && k != "ngpus" {
					continue
				}
				n, err := count(v)
				if err != nil {
					return 0, fmt.Errorf("%s: %w", key, err)
				}
				if total += mult * n; mult > maxCount || total > maxCount {
					return 0, fmt.Errorf("%s: too many GPUs", key)
				}
			}
		}
		if total > 0 {
			return total, nil
		}
	}
	return 0, nil
}
