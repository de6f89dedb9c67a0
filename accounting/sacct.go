package accounting

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	dw "github.com/divinewhispers/dw"
)

// ParseSacct reads `sacct --parsable2` (or `-p`, with its trailing '|') output.
//
// The first line is the header of column names, in any order and any case; unknown columns are
// ignored and every column but JobID (or JobIDRaw) and one of State or End is optional. A file
// written with `sacct -n` has no header: give its columns in Options.Columns. A repeated header
// line (files concatenated) is skipped. A line with more fields than columns is taken to have
// '|' in its JobName when that column is present; otherwise it is a bad line.
//
// Per line: steps (`123.batch`, `123.0`, `123.extern`) are skipped; `123_[1-3]` is three
// records; jobs in a running state or whose End is Unknown are skipped as unfinished. Elapsed is
// ElapsedRaw, else Elapsed (any Slurm form), else End − Start, else 0 for a job that never
// started. Nodes, CPUs and GPUs come from AllocNodes, AllocCPUS and AllocTRES (falling back to
// AllocTRES node/cpu, then NNodes/NCPUS, and to a legacy AllocGRES column for GPUs). Times are
// read in Options.Location.
//
// It returns an invalid error when the header names no JobID column or neither State nor End,
// and the reader's error on I/O failure; bad lines become Result.Errors.
func ParseSacct(r io.Reader, opts Options) (Result, error) {
	p := &sacctParser{opts: opts, loc: location(opts)}
	var res Result
	if len(opts.Columns) > 0 {
		if err := p.setColumns(opts.Columns); err != nil {
			return res, err
		}
	}
	err := scanLines(r, opts, &res, p.line)
	res.Columns = p.names
	return res, err
}

type sacctParser struct {
	opts  Options
	loc   *time.Location
	names []string       // columns as given
	col   map[string]int // lower-case name → index
	// pipeEnds: the header ended with '|' (sacct -p), so every line does.
	pipeEnds bool
}

func (p *sacctParser) setColumns(names []string) error {
	if len(names) > 0 && strings.TrimSpace(names[len(names)-1]) == "" {
		names = names[:len(names)-1] // `sacct -p` ends every line with '|'
		p.pipeEnds = true
	}
	col := make(map[string]int, len(names))
	for i, n := range names {
		k := strings.ToLower(strings.TrimSpace(n))
		if _, dup := col[k]; !dup {
			col[k] = i
		}
	}
	_, id := col["jobid"]
	_, raw := col["jobidraw"]
	_, state := col["state"]
	_, end := col["end"]
	if !id && !raw || !state && !end {
		return dw.Errorf(dw.KindInvalid, "%s: unusable sacct header %q: it needs JobID and State or End", p.opts.File, strings.Join(names, "|"))
	}
	p.names, p.col = append([]string(nil), names...), col
	return nil
}

func (p *sacctParser) line(res *Result, line string, no int) error {
	if strings.TrimSpace(line) == "" {
		return nil
	}
	fields := strings.Split(line, "|")
	if p.col == nil {
		return p.setColumns(fields)
	}
	if (p.pipeEnds || len(fields) == len(p.names)+1) && len(fields) > len(p.names) && fields[len(fields)-1] == "" {
		fields = fields[:len(fields)-1]
	}
	if extra := len(fields) - len(p.names); extra > 0 {
		i, ok := p.col["jobname"]
		if !ok {
			res.lineError(p.opts, no, "%d fields for %d columns", len(fields), len(p.names))
			return nil
		}
		name := strings.Join(fields[i:i+extra+1], "|")
		fields = append(append(fields[:i:i], name), fields[i+extra+1:]...)
	}
	if len(fields) < len(p.names) {
		res.lineError(p.opts, no, "%d fields for %d columns", len(fields), len(p.names))
		return nil
	}
	get := func(name string) (string, bool) {
		i, ok := p.col[name]
		if !ok {
			return "", false
		}
		return strings.TrimSpace(fields[i]), true
	}
	first := func(names ...string) string {
		for _, n := range names {
			if v, ok := get(n); ok && !isNull(v) {
				return v
			}
		}
		return ""
	}

	rawID := first("jobid", "jobidraw")
	if strings.EqualFold(rawID, "JobID") || strings.EqualFold(rawID, "JobIDRaw") {
		res.Skipped.Other++ // a repeated header
		return nil
	}
	ids, step, err := slurmJobIDs(rawID)
	switch {
	case step:
		res.Skipped.Steps++
		return nil
	case err != nil:
		res.lineError(p.opts, no, "%v", err)
		return nil
	}
	stateVal, _ := get("state")
	state := normState(stateVal)
	if unfinished(state) {
		res.Skipped.Unfinished++
		return nil
	}

	rec := Record{
		Cluster:   first("cluster"),
		User:      first("user", "uid"),
		Group:     first("group", "gid"),
		Account:   first("account"),
		Partition: first("partition"),
		QOS:       first("qos"),
		State:     state,
		ExitCode:  first("exitcode"),
		NodeList:  first("nodelist"),
		File:      p.opts.File,
		Line:      no,
	}
	if rec.Cluster == "" {
		rec.Cluster = p.opts.Cluster
	}
	if rec.NodeList == "None assigned" {
		rec.NodeList = ""
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"submit", &rec.Submit}, {"start", &rec.Start}, {"end", &rec.End}} {
		v, _ := get(f.name)
		if *f.dst, err = parseSlurmTime(v, p.loc); err != nil {
			res.lineError(p.opts, no, "%s: %v", f.name, err)
			return nil
		}
	}
	if _, hasState := get("state"); hasState && state == "" {
		res.lineError(p.opts, no, "no State")
		return nil
	}
	if _, hasEnd := get("end"); hasEnd && rec.End.IsZero() {
		res.Skipped.Unfinished++
		return nil
	}
	if rec.End, err = orderTimes(rec.Start, rec.End, p.loc); err != nil {
		res.lineError(p.opts, no, "%v", err)
		return nil
	}

	if rec.Elapsed, err = p.elapsed(get, rec); err != nil {
		res.lineError(p.opts, no, "%v", err)
		return nil
	}

	t, err := parseTRES(first("alloctres"))
	if err != nil {
		res.lineError(p.opts, no, "AllocTRES: %v", err)
		return nil
	}
	for _, c := range []struct {
		dst      *int
		col      string
		fromTRES int
		fallback string
	}{
		{&rec.Nodes, "allocnodes", t.nodes, "nnodes"},
		{&rec.CPUs, "alloccpus", t.cpus, "ncpus"},
	} {
		n, err := p.count(get, c.col, c.fromTRES, c.fallback)
		if err != nil {
			res.lineError(p.opts, no, "%v", err)
			return nil
		}
		*c.dst = n
	}
	rec.GPUs = max(t.gpus, 0)
	if t.gpus < 0 {
		g, err := parseGRES(first("allocgres", "gres"))
		if err != nil {
			res.lineError(p.opts, no, "AllocGRES: %v", err)
			return nil
		}
		rec.GPUs = max(g, 0)
	}

	for _, id := range ids {
		rec.JobID = id
		res.Records = append(res.Records, rec)
	}
	return nil
}

// elapsed applies the definition: ElapsedRaw, else Elapsed, else End − Start, else 0 when the
// job never started.
func (p *sacctParser) elapsed(get func(string) (string, bool), rec Record) (time.Duration, error) {
	if v, ok := get("elapsedraw"); ok && !isNull(v) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > maxSeconds {
			return 0, fmt.Errorf("bad ElapsedRaw %q", v)
		}
		return time.Duration(n) * time.Second, nil
	}
	if v, ok := get("elapsed"); ok {
		d, err := ParseElapsed(v)
		if err == nil {
			if d > maxSeconds*time.Second {
				return 0, fmt.Errorf("Elapsed %q too large", v)
			}
			return d, nil
		}
		if !errors.Is(err, errNoValue) {
			return 0, err
		}
	}
	switch {
	case !rec.Start.IsZero() && !rec.End.IsZero():
		return rec.End.Sub(rec.Start), nil
	case rec.Start.IsZero():
		return 0, nil
	}
	return 0, fmt.Errorf("no elapsed time: no ElapsedRaw, Elapsed or End")
}

// count reads a node or CPU count from its column, else from AllocTRES, else from a fallback
// column, else 0.
func (p *sacctParser) count(get func(string) (string, bool), col string, fromTRES int, fallback string) (int, error) {
	if v, ok := get(col); ok && !isNull(v) {
		return count(v)
	}
	if fromTRES >= 0 {
		return fromTRES, nil
	}
	if v, ok := get(fallback); ok && !isNull(v) {
		return count(v)
	}
	return 0, nil
}
