package accounting

import (
	"path/filepath"
	"strings"
	"time"

	dw "github.com/divinewhispers/dw"
)

// SourceFormats maps a source's log format to the parser's (Parse).
var SourceFormats = map[string]string{
	"slurm-sacct":   FormatSacct,
	"slurm-jobcomp": FormatJobcomp,
	"pbs":           FormatPBS,
}

// SourceFormatNames lists the source formats, for messages and help.
const SourceFormatNames = "slurm-sacct, slurm-jobcomp or pbs"

// Source defaults and bounds.
const (
	DefaultInterval = 30 * time.Second
	MaxInterval     = 30 * 24 * time.Hour // keeps interval_seconds within its column, and a source from being forgotten
	maxText         = 200                 // bytes of a name, cluster, glob, time zone, login…
	maxDir          = 4096
	maxNote         = 500
)

// Error codes of a source refused by the ingest roots (see Dirs), and the audit action of a refusal.
const (
	CodeRootRequired = "ingest_root_required"     // no root is configured
	CodeOutsideRoots = "dir_outside_ingest_roots" // the directory does not resolve inside a root
	CodeGlobEscapes  = "glob_outside_dir"         // the glob could select files of another directory
	RefusedAction    = "accounting.source.refused"
)

// RootSetting names the setting of the ingest roots in messages: it is the node's, not a field.
const RootSetting = "--ingest-root (DW_INGEST_ROOTS)"

// IsRefused reports whether err refuses a source for the ingest roots: the refusals that are audited.
func IsRefused(err error) bool {
	switch dw.CodeOf(err) {
	case CodeRootRequired, CodeOutsideRoots, CodeGlobEscapes:
		return true
	}
	return false
}

// SourceInput is a new ingest source. Interval 0, Glob "" and Timezone "" take the defaults
// (30s, "*", UTC). Dir must be absolute: an adapter resolves a relative one where it means
// something (the CLI, against its working directory).
type SourceInput struct {
	Name     string
	Dir      string
	Glob     string
	Format   string // slurm-sacct, slurm-jobcomp or pbs
	Cluster  string // stored with every job, whatever cluster its file names
	Interval time.Duration
	Timezone string
	Enabled  bool
	Columns  []string // of header-less sacct files; empty: the files have a header
}

// Source is the input as a source, trimmed, with its defaults.
func (in SourceInput) Source() Source {
	src := Source{Name: strings.TrimSpace(in.Name), Dir: in.Dir, Glob: in.Glob, Format: in.Format,
		Cluster: strings.TrimSpace(in.Cluster), Interval: in.Interval, Timezone: in.Timezone, Enabled: in.Enabled, Columns: in.Columns}
	if src.Glob == "" {
		src.Glob = "*"
	}
	if src.Interval == 0 {
		src.Interval = DefaultInterval
	}
	if src.Timezone == "" {
		src.Timezone = "UTC"
	}
	return src
}

// Validate reports every problem of the input, keyed by field, except those of its directory
// on the node (whether it exists and lies in an ingest root: the service asks Dirs).
// Errors: invalid (code glob_outside_dir when the glob could leave the directory).
func (in SourceInput) Validate() error {
	var ps Problems
	checkSource(&ps, in.Source(), true)
	return ps.Err()
}

// checkSource records the problems of a source; checkDir says its Dir is new (given now).
func checkSource(ps *Problems, src Source, checkDir bool) {
	if src.Name == "" {
		ps.Add("name", "{name} is required: a short name for the source, e.g. alpha-sacct")
	}
	switch {
	case !checkDir:
	case src.Dir == "":
		ps.Add("dir", "{dir} is required: the directory that holds the log files")
	case !filepath.IsAbs(src.Dir):
		ps.Add("dir", "{dir} %s must be an absolute path on the node", src.Dir)
	}
	if _, ok := SourceFormats[src.Format]; !ok {
		ps.Add("format", "{format} must be %s, not %q", SourceFormatNames, src.Format)
	}
	if src.Cluster == "" {
		ps.Add("cluster", "{cluster} is required: the cluster name stored with every job, whatever cluster its file names")
	}
	if strings.ContainsAny(src.Glob, `/\`+"\x00") || strings.Contains(src.Glob, "..") {
		ps.AddCoded(CodeGlobEscapes, "glob", "{glob} %q must select files of {dir} itself: no path separator and no \"..\" (e.g. '*.log', 'sacct-*.txt*')", src.Glob)
	} else if _, err := filepath.Match(src.Glob, ""); err != nil {
		ps.Add("glob", "{glob} %q is not a valid file pattern (e.g. '*.log', 'sacct-*.txt*')", src.Glob)
	}
	switch {
	case src.Interval < time.Second || src.Interval%time.Second != 0:
		ps.Add("interval", "{interval} %s must be whole seconds, at least 1s (e.g. 30s, 5m)", src.Interval)
	case src.Interval > MaxInterval:
		ps.Add("interval", "{interval} must be at most %s", MaxInterval)
	}
	if len(src.Columns) > 0 {
		if src.Format != "slurm-sacct" {
			ps.Add("columns", "{columns} is for slurm-sacct sources (header-less sacct -n files), not %s", src.Format)
		} else if _, err := Parse(FormatSacct, strings.NewReader(""), Options{Columns: src.Columns}); err != nil {
			ps.Add("columns", "{columns} %s: %s (give sacct's field names in the order of the files, e.g. JobID,User,Account,State,Submit,Start,End,ElapsedRaw,AllocNodes,AllocTRES)",
				strings.Join(src.Columns, ","), dw.MessageOf(err))
		}
	}
	if _, err := time.LoadLocation(src.Timezone); err != nil {
		ps.Add("timezone", "{timezone} %q is not a known time zone (e.g. UTC, Europe/Berlin, America/Chicago)", src.Timezone)
	}
	tooLong(ps, maxText, "name", src.Name, "cluster", src.Cluster, "glob", src.Glob, "timezone", src.Timezone)
	tooLong(ps, maxDir, "dir", src.Dir)
}

// tooLong records each of the (field, value) pairs longer than max bytes.
func tooLong(ps *Problems, max int, pairs ...string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		if len(pairs[i+1]) > max {
			ps.Add(pairs[i], "{"+pairs[i]+"} must be at most %d bytes", max)
		}
	}
}

// SourceChange changes some settings of a stored source; nil fields are kept. Glob "" is the
// default again, as when adding.
type SourceChange struct {
	Dir      *string
	Glob     *string
	Timezone *string
	Interval *time.Duration
	Enabled  *bool
	Columns  *[]string
}

// Empty reports whether the change changes nothing.
func (ch SourceChange) Empty() bool { return ch == SourceChange{} }

// apply returns src changed, with defaults for what is set to "".
func (ch SourceChange) apply(src Source) Source {
	if ch.Dir != nil {
		src.Dir = *ch.Dir
	}
	if ch.Glob != nil {
		src.Glob = *ch.Glob
		if src.Glob == "" {
			src.Glob = "*"
		}
	}
	if ch.Timezone != nil {
		src.Timezone = *ch.Timezone
		if src.Timezone == "" {
			src.Timezone = "UTC"
		}
	}
	if ch.Interval != nil {
		src.Interval = *ch.Interval
	}
	if ch.Enabled != nil {
		src.Enabled = *ch.Enabled
	}
	if ch.Columns != nil {
		src.Columns = *ch.Columns
	}
	return src
}

// Dirs checks a source's directory on the node: it must exist and lie inside one of the
// node's ingest roots (implemented by ingest.Roots).
type Dirs interface {
	// SourceDir returns dir made absolute when it is a directory inside a root.
	// Errors: invalid (field dir; code ingest_root_required or dir_outside_ingest_roots for a
	// refusal by the roots).
	SourceDir(dir string) (string, error)
}

// RefusalDetail is the detail of the audit row of a source the ingest roots refused: what was
// asked (via: create, update or scan), which source, and why.
func RefusalDetail(src Source, via string, refusal error) map[string]string {
	return map[string]string{"via": via, "name": Excerpt(src.Name), "dir": Excerpt(src.Dir),
		"glob": Excerpt(src.Glob), "code": dw.CodeOf(refusal), "message": Excerpt(dw.MessageOf(refusal))}
}
