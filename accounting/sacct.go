package accounting

import (
	"bytes"
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
	names []string // columns as given; nil until the header is read
	col   sacctColumns
	// pipeEnds: the header ended with '|' (sacct -p), so every line does.
	pipeEnds bool

	fields []string // the current line's fields, reusing one array
	ids    []string // the current line's job ids, reusing one array
}

// sacctColumns are the positions of the columns the parser reads, -1 for an absent one.
type sacctColumns struct {
	jobID, jobIDRaw, jobName, cluster, user, uid, group, gid, account, partition, qos int
	state, exitCode, nodeList, submit, start, end, elapsedRaw, elapsed, allocTRES     int
	allocNodes, nNodes, allocCPUs, nCPUs, allocGRES, gres                             int
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
		return dw.Errorf(dw.KindInvalid, "%s: unusable sacct header %q: it needs JobID and State or End", p.opts.File, Excerpt(strings.Join(names, "|")))
	}
	at := func(name string) int {
		if i, ok := col[name]; ok {
			return i
		}
		return -1
	}
	p.names = append([]string(nil), names...)
	p.col = sacctColumns{
		jobID: at("jobid"), jobIDRaw: at("jobidraw"), jobName: at("jobname"), cluster: at("cluster"),
		user: at("user"), uid: at("uid"), group: at("group"), gid: at("gid"), account: at("account"),
		partition: at("partition"), qos: at("qos"), state: at("state"), exitCode: at("exitcode"),
		nodeList: at("nodelist"), submit: at("submit"), start: at("start"), end: at("end"),
		elapsedRaw: at("elapsedraw"), elapsed: at("elapsed"), allocTRES: at("alloctres"),
		allocNodes: at("allocnodes"), nNodes: at("nnodes"), allocCPUs: at("alloccpus"), nCPUs: at("ncpus"),
		allocGRES: at("allocgres"), gres: at("gres"),
	}
	return nil
}

// isStep reports, before the line is copied and split, that parse would count it as a job
// step: its fields match the columns one to one and its job id has a '.'. Steps are two
// thirds of a typical file. A false answer decides nothing: parse reads the line in full.
func (p *sacctParser) isStep(line []byte) bool {
	n := bytes.Count(line, []byte("|")) + 1
	if (p.pipeEnds || n == len(p.names)+1) && n > len(p.names) && bytes.HasSuffix(line, []byte("|")) {
		n-- // as parse drops the empty field after a trailing '|'
	}
	if n != len(p.names) {
		return false
	}
	// An id with a '.' is not null, so it is the one parse would take, JobID before JobIDRaw.
	i := p.col.jobID
	if i < 0 {
		i = p.col.jobIDRaw
	}
	for ; i > 0; i-- {
		line = line[bytes.IndexByte(line, '|')+1:]
	}
	if end := bytes.IndexByte(line, '|'); end >= 0 {
		line = line[:end]
	}
	return bytes.IndexByte(line, '.') >= 0
}

func (p *sacctParser) line(res *Result, b []byte, no int) error {
	if p.names != nil && p.isStep(b) {
		res.Skipped.Steps++
		return nil
	}
	return p.parse(res, string(b), no)
}

func (p *sacctParser) parse(res *Result, line string, no int) error {
	if strings.TrimSpace(line) == "" {
		return nil
	}
	fields := splitFields(p.fields[:0], line, '|')
	p.fields = fields
	if p.names == nil {
		return p.setColumns(fields)
	}
	if (p.pipeEnds || len(fields) == len(p.names)+1) && len(fields) > len(p.names) && fields[len(fields)-1] == "" {
		fields = fields[:len(fields)-1]
	}
	if extra := len(fields) - len(p.names); extra > 0 {
		i := p.col.jobName
		if i < 0 {
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
	f := sacctFields(fields)
	c := &p.col

	rawID := f.first(c.jobID, c.jobIDRaw)
	if strings.EqualFold(rawID, "JobID") || strings.EqualFold(rawID, "JobIDRaw") {
		res.Skipped.Other++ // a repeated header
		return nil
	}
	ids, step, err := appendJobIDs(p.ids[:0], rawID)
	switch {
	case step:
		res.Skipped.Steps++
		return nil
	case err != nil:
		res.lineError(p.opts, no, "%v", err)
		return nil
	}
	p.ids = ids
	stateVal, hasState := f.get(c.state)
	state := normState(stateVal)
	if unfinished(state) {
		res.Skipped.Unfinished++
		return nil
	}

	rec := Record{
		Cluster:   p.opts.Cluster,
		User:      f.first(c.user, c.uid),
		Group:     f.first(c.group, c.gid),
		Account:   f.first(c.account),
		Partition: f.first(c.partition),
		QOS:       f.first(c.qos),
		State:     state,
		ExitCode:  f.first(c.exitCode),
		NodeList:  f.first(c.nodeList),
		File:      p.opts.File,
		Line:      no,
	}
	rec.FileCluster = f.first(c.cluster)
	if rec.Cluster == "" {
		rec.Cluster = rec.FileCluster
	}
	if rec.NodeList == "None assigned" {
		rec.NodeList = ""
	}
	if rec.Submit, err = p.timeAt(f, c.submit); err != nil {
		res.lineError(p.opts, no, "submit: %v", err)
		return nil
	}
	if rec.Start, err = p.timeAt(f, c.start); err != nil {
		res.lineError(p.opts, no, "start: %v", err)
		return nil
	}
	if rec.End, err = p.timeAt(f, c.end); err != nil {
		res.lineError(p.opts, no, "end: %v", err)
		return nil
	}
	if hasState && state == "" {
		res.lineError(p.opts, no, "no State")
		return nil
	}
	if c.end >= 0 && rec.End.IsZero() {
		res.Skipped.Unfinished++
		return nil
	}
	if rec.End, err = orderTimes(rec.Start, rec.End, p.loc); err != nil {
		res.lineError(p.opts, no, "%v", err)
		return nil
	}

	if rec.Elapsed, err = p.elapsed(f, rec.Start, rec.End); err != nil {
		res.lineError(p.opts, no, "%v", err)
		return nil
	}

	t, err := parseTRES(f.first(c.allocTRES))
	if err != nil {
		res.lineError(p.opts, no, "AllocTRES: %v", err)
		return nil
	}
	if rec.Nodes, err = f.count(c.allocNodes, t.nodes, c.nNodes); err != nil {
		res.lineError(p.opts, no, "%v", err)
		return nil
	}
	if rec.CPUs, err = f.count(c.allocCPUs, t.cpus, c.nCPUs); err != nil {
		res.lineError(p.opts, no, "%v", err)
		return nil
	}
	rec.GPUs = max(t.gpus, 0)
	if t.gpus < 0 {
		g, err := parseGRES(f.first(c.allocGRES, c.gres))
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

// splitFields is strings.Split(s, string(sep)) into dst's array.
func splitFields(dst []string, s string, sep byte) []string {
	for {
		i := strings.IndexByte(s, sep)
		if i < 0 {
			return append(dst, s)
		}
		dst = append(dst, s[:i])
		s = s[i+1:]
	}
}

// sacctFields are the fields of one line, read by column position.
type sacctFields []string

// get returns the trimmed field of column i, and false when there is no such column.
func (f sacctFields) get(i int) (string, bool) {
	if i < 0 {
		return "", false
	}
	return strings.TrimSpace(f[i]), true
}

// first returns the first of the columns that holds a value, or "".
func (f sacctFields) first(cols ...int) string {
	for _, i := range cols {
		if v, ok := f.get(i); ok && !isNull(v) {
			return v
		}
	}
	return ""
}

// timeAt reads the time in column i; a missing column is a zero time, like a null one.
func (p *sacctParser) timeAt(f sacctFields, i int) (time.Time, error) {
	v, _ := f.get(i)
	return parseSlurmTime(v, p.loc)
}

// elapsed applies the definition: ElapsedRaw, else Elapsed, else End − Start, else 0 when the
// job never started.
func (p *sacctParser) elapsed(f sacctFields, start, end time.Time) (time.Duration, error) {
	if v, ok := f.get(p.col.elapsedRaw); ok && !isNull(v) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > maxSeconds {
			return 0, fmt.Errorf("bad ElapsedRaw %q", v)
		}
		return time.Duration(n) * time.Second, nil
	}
	if v, ok := f.get(p.col.elapsed); ok {
		d, err := ParseElapsed(v)
		if err == nil {
			if d > maxSeconds*time.Second {
				//lint:ignore ST1005 the message starts with the field's name as the log spells it
				return 0, fmt.Errorf("Elapsed %q too large", v)
			}
			return d, nil
		}
		if !errors.Is(err, errNoValue) {
			return 0, err
		}
	}
	switch {
	case !start.IsZero() && !end.IsZero():
		return end.Sub(start), nil
	case start.IsZero():
		return 0, nil
	}
	return 0, fmt.Errorf("no elapsed time: no ElapsedRaw, Elapsed or End")
}

// count reads a node or CPU count from column col, else from AllocTRES (fromTRES, -1 when
// absent), else from the fallback column, else 0.
func (f sacctFields) count(col, fromTRES, fallback int) (int, error) {
	if v, ok := f.get(col); ok && !isNull(v) {
		return count(v)
	}
	if fromTRES >= 0 {
		return fromTRES, nil
	}
	if v, ok := f.get(fallback); ok && !isNull(v) {
		return count(v)
	}
	return 0, nil
}
