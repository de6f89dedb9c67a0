// Package ingest reads the accounting logs of a source (a directory, a file glob and a log
// format) into usage records, once: an unchanged file is skipped without being read, a renamed
// or copied file is recognised by its checksum, a growing file is read from where it stopped,
// and a job seen in several files is stored once (its natural key is cluster + job id + submit
// time, accounting.Record.Key); when its records differ, the one that wins under the same-key
// rule (accounting.Wins) is stored, whatever file, scan or store brought it first. The cluster is always the source's: a cluster name a file
// prints is kept beside it (Record.FileCluster) and a different one counted in
// Report.ClusterMismatches. Bad lines are counted and stored with their file and line.
package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/persistence"
)

// Formats maps a source's format to the accounting parser's.
var Formats = accounting.SourceFormats

// FormatNames lists the source formats, for messages and help.
const FormatNames = accounting.SourceFormatNames

// QuietPeriod is how long a plain file must have gone unmodified before a last line without
// its newline is read as a whole line (the writer is taken to be done with it). Until then the
// line is left for the next run, which reads it once it is complete.
const QuietPeriod = 10 * time.Minute

// Validate checks a source before it is stored and fills its defaults (glob "*", time zone
// UTC, interval 30s, an absolute directory), by the rules of accounting (SourceInput.Validate)
// and the roots (Roots.SourceDir), for code that stores a source without the accounting
// service (tests, benchmarks). Each message names the flag to fix.
// Errors: invalid, with the code of a refusal by the roots (see IsRefused) when there is one.
func Validate(src *persistence.IngestSource, roots []string) error {
	if src.Dir != "" {
		if abs, err := filepath.Abs(src.Dir); err == nil {
			src.Dir = abs
		}
	}
	in := accounting.SourceInput{Name: src.Name, Dir: src.Dir, Glob: src.Glob, Format: src.Format, Cluster: src.Cluster,
		Interval: src.Interval, Timezone: src.Timezone, Enabled: src.Enabled, Columns: src.Columns}
	norm, err := accounting.NewService(accounting.ServiceConfig{Dirs: Roots(roots)}).CheckSource(in)
	if err == nil {
		*src = norm
		return nil
	}
	if inv, ok := accounting.AsInvalid(err); ok {
		return dw.Coded(dw.KindInvalid, inv.Code, "%s", inv.Render(Flag, "\n"))
	}
	return err
}

// Flag names a source's field by its CLI flag (interval_seconds is --interval).
func Flag(field string) string {
	if field == "interval_seconds" {
		field = "interval"
	}
	return "--" + strings.ReplaceAll(field, "_", "-")
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Report says what one run over a source did.
type Report struct {
	Source     string `json:"source"`
	Files      int    `json:"files"`       // files matching the glob
	Skipped    int    `json:"skipped"`     // unchanged since the last run: not read
	Renamed    int    `json:"renamed"`     // same content as a file already read: not parsed
	Resumed    int    `json:"resumed"`     // grown files read from where the last run stopped
	Read       int    `json:"read"`        // files parsed from their start
	Failed     int    `json:"failed"`      // files that could not be read
	Refused    int    `json:"refused"`     // files leading outside the ingest root (symlinks): not read
	Records    int    `json:"records"`     // jobs parsed
	NewRecords int64  `json:"new_records"` // jobs not stored before
	// ReplacedRecords counts stored jobs replaced by a record of the same key that wins over
	// them (accounting.Wins): their usage, rollups and charges were corrected.
	ReplacedRecords int64 `json:"replaced_records"`
	Errors          int   `json:"errors"`  // bad lines, and files that could not be read
	Charges         int   `json:"charges"` // usage charges created (one per wallet per file)
	// ClusterMismatches counts the jobs parsed whose file names a cluster other than the
	// source's: they are stored under the source's cluster (the operator's is authoritative),
	// the file's name kept beside it.
	ClusterMismatches int `json:"cluster_mismatches"`
	// QuotaEvents are the quota thresholds the new usage crossed.
	QuotaEvents []persistence.QuotaEvent `json:"quota_events,omitempty"`
}

func (r Report) String() string {
	refused := ""
	if r.Refused > 0 {
		refused = fmt.Sprintf(", %d refused (leading outside the ingest root)", r.Refused)
	}
	mismatches := ""
	if r.ClusterMismatches > 0 {
		mismatches = fmt.Sprintf(", %d cluster mismatches (jobs whose file names another cluster, stored under the source's)", r.ClusterMismatches)
	}
	replaced := ""
	if r.ReplacedRecords > 0 {
		replaced = fmt.Sprintf(", %d replaced (a record of the same job that wins over the stored one; usage and charges corrected)", r.ReplacedRecords)
	}
	return fmt.Sprintf("%s: %d files (%d skipped, %d renamed/copied, %d resumed, %d read, %d failed%s), %d records, %d new%s, %d errors, %d charges%s",
		r.Source, r.Files, r.Skipped, r.Renamed, r.Resumed, r.Read, r.Failed, refused, r.Records, r.NewRecords, replaced, r.Errors, r.Charges, mismatches)
}

// Run reads the new content of one source's files. now stamps the rows written and decides
// whether a plain file is quiet (see QuietPeriod). Each file is stored in its own transaction,
// so a run that stops midway leaves the files it had not finished unrecorded: the next run reads
// them again, and the records already stored are not stored twice.
//
// The source is checked against roots, the ingest roots, again (its directory may have been
// swapped for a symlink since it was added, or the roots changed): a source refused is not read
// at all, and the caller records the refusal (see RecordRefusal). Every file is opened through
// the root the directory lies in, so that a symlink leading outside it is not followed.
// Errors: invalid for a source that does not validate, with the code of a refusal by the roots
// (see IsRefused); database errors; the context's.
func Run(ctx context.Context, store *persistence.Store, src persistence.IngestSource, roots []string, now time.Time) (Report, error) {
	rep := Report{Source: src.Name}
	format, ok := Formats[src.Format]
	if !ok {
		return rep, dw.Errorf(dw.KindInvalid, "source %s: unknown format %q (want %s)", src.Name, src.Format, FormatNames)
	}
	loc, err := time.LoadLocation(src.Timezone)
	if err != nil {
		return rep, dw.Errorf(dw.KindInvalid, "source %s: unknown time zone %q", src.Name, src.Timezone)
	}
	glob := src.Glob
	if glob == "" {
		glob = "*"
	}
	if err := CheckGlob(glob); err != nil {
		return rep, err
	}
	if _, err := filepath.Match(glob, ""); err != nil {
		return rep, dw.Errorf(dw.KindInvalid, "source %s: bad glob %q", src.Name, glob)
	}
	resolved, rootDir, p := checkDir(roots, src.Dir)
	if p != nil {
		return rep, p.err()
	}
	root, err := os.OpenRoot(rootDir)
	if err != nil {
		return rep, dw.Coded(dw.KindInvalid, CodeOutsideRoots, "source %s: cannot open its ingest root: %v", src.Name, unwrapPath(err))
	}
	defer root.Close()
	rel, err := filepath.Rel(rootDir, resolved)
	if err != nil {
		return rep, dw.Coded(dw.KindInvalid, CodeOutsideRoots, "source %s: --dir %s is not inside an ingest root", src.Name, src.Dir)
	}
	names, err := list(root, rel, glob)
	if err != nil {
		// The directory went away (or was swapped) since the check: nothing to read this time.
		return rep, nil
	}
	known, err := store.ProcessedFiles(ctx, src.ID)
	if err != nil {
		return rep, err
	}
	byHash := make(map[string]persistence.ProcessedFile, len(known))
	for _, f := range known {
		if f.Status != persistence.FileFailed && len(f.SHA256) > 0 {
			byHash[hex.EncodeToString(f.SHA256)] = f
		}
	}
	r := &runner{store: store, src: src, format: format, loc: loc, now: now, known: known, byHash: byHash, rep: &rep}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			_ = r.wait()
			return rep, err
		}
		// The path recorded is the one the source names; the file is opened through the root,
		// which follows no symlink out of it, whatever was swapped since this check.
		path, inRoot := filepath.Join(src.Dir, name), filepath.Join(rel, name)
		if real, err := filepath.EvalSymlinks(filepath.Join(resolved, name)); err == nil && !within(rootDir, real) {
			rep.Refused++ // a symlink leading outside the root: not read
			continue
		}
		fi, err := root.Stat(inRoot)
		if err != nil || !fi.Mode().IsRegular() {
			continue // gone since the listing, dangling, a directory, a fifo
		}
		rep.Files++
		open := func() (*os.File, error) {
			// Non-blocking: a fifo swapped in since the Stat must not hang the scan.
			f, err := root.OpenFile(inRoot, os.O_RDONLY|syscall.O_NONBLOCK, 0)
			if err != nil {
				return nil, err
			}
			if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
				f.Close()
				return nil, errors.New("not a regular file")
			}
			return f, nil
		}
		if err := r.file(ctx, path, open, fi); err != nil {
			_ = r.wait()
			return rep, err
		}
	}
	return rep, r.wait()
}

// list returns the names of the entries of dir (relative to root) that match glob, sorted.
// Listing and matching names, rather than globbing a path, keeps the pattern to the one
// directory, whatever the meta characters of the directory's own path.
func list(root *os.Root, dir, glob string) ([]string, error) {
	d, err := root.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if ok, _ := filepath.Match(glob, e.Name()); ok {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

type runner struct {
	store  *persistence.Store
	src    persistence.IngestSource
	format string
	loc    *time.Location
	now    time.Time
	known  map[string]persistence.ProcessedFile
	byHash map[string]persistence.ProcessedFile
	rep    *Report

	inflight []chan stored // files being stored, oldest first
}

// file handles one file; it returns only errors that should stop the run (database, context).
func (r *runner) file(ctx context.Context, path string, open func() (*os.File, error), fi os.FileInfo) error {
	size := fi.Size()
	mtime := fi.ModTime().UTC().Truncate(time.Microsecond) // as PostgreSQL stores it
	prev, seen := r.known[path]
	// A partial file (a last line without its newline, or a run stopped between pieces) is
	// never "unchanged": what is left of it is read.
	unchanged := seen && prev.Status != persistence.FilePartial
	if unchanged && prev.Size == size && prev.MTime.Equal(mtime) {
		r.rep.Skipped++
		return nil
	}
	row := persistence.ProcessedFile{SourceID: r.src.ID, Path: path, Size: size, MTime: mtime}

	f, err := open()
	if err != nil {
		return r.fail(ctx, row, err)
	}
	defer f.Close()

	// One pass computes the whole file's checksum and, for a file read before, that of the
	// prefix the last run consumed: the same prefix means the file grew and is resumed.
	resumable := seen && !prev.Gzip && prev.Status != persistence.FileFailed && prev.Offset > 0 && prev.Offset <= size
	h := sha256.New()
	var prefix []byte
	var done int64
	if resumable {
		if _, err := io.CopyN(h, f, prev.Offset); err != nil {
			return r.fail(ctx, row, err)
		}
		prefix, done = h.Sum(nil), prev.Offset
	}
	if _, err := io.CopyN(h, f, size-done); err != nil {
		return r.fail(ctx, row, fmt.Errorf("file shrank while being read: %w", err))
	}
	row.SHA256 = h.Sum(nil)
	magic := make([]byte, 2)
	n, _ := f.ReadAt(magic, 0)
	row.Gzip = n == 2 && magic[0] == 0x1f && magic[1] == 0x8b

	if unchanged && bytes.Equal(prev.SHA256, row.SHA256) {
		// Touched, not changed.
		prev.MTime = mtime
		r.rep.Skipped++
		return r.save(ctx, prev, "")
	}
	if other, ok := r.byHash[hex.EncodeToString(row.SHA256)]; ok && other.Path != path && other.Size == size {
		// Renamed or copied: its records are those of a file already read.
		dup := other
		dup.Path, dup.MTime = path, mtime
		r.rep.Renamed++
		return r.save(ctx, dup, "")
	}

	opts := accounting.Options{Cluster: r.src.Cluster, Location: r.loc, File: path}
	var in io.Reader
	reset := true
	if !row.Gzip && resumable && bytes.Equal(prefix, prev.PrefixSHA256) {
		opts.StartLine, opts.StartOffset, opts.Columns = prev.Lines, prev.Offset, prev.Columns
		row.Records, row.Errors, row.ClusterMismatches = prev.Records, prev.Errors, prev.ClusterMismatches
		reset = false
		r.rep.Resumed++
	} else {
		opts.Columns = r.src.Columns // for header-less files; a header line, if any, is skipped
		r.rep.Read++
	}
	if row.Gzip {
		zr, err := gzip.NewReader(bufio.NewReader(io.NewSectionReader(f, 0, size)))
		if err != nil {
			return r.fail(ctx, row, err)
		}
		defer zr.Close()
		in, opts.Final = zr, true
	} else {
		in = io.NewSectionReader(f, opts.StartOffset, size-opts.StartOffset)
		opts.Final = r.now.Sub(mtime) >= QuietPeriod
	}
	// A file is read and stored in pieces of at most ChunkRecords jobs, so that a file of any
	// size is read in bounded memory. Each piece is stored with the file's row saying how far
	// it was read (partial), as for a growing file: a run that stops between pieces resumes
	// after the last stored one (a gzip file is read again from its start; the jobs stored
	// already are not stored twice).
	in = bufio.NewReaderSize(in, 64<<10)
	opts.MaxRecords = ChunkRecords
	consumed := sha256.New() // of the bytes consumed so far, for the partial rows
	var hashed int64
	for first := true; ; first = false {
		res, err := accounting.Parse(r.format, in, opts)
		if err != nil {
			if !first {
				// The pieces stored stay stored; the rest is read again next time.
				if werr := r.wait(); werr != nil {
					return werr
				}
			}
			return r.fail(ctx, row, err)
		}
		row.Offset, row.Lines, row.Columns = res.Offset, res.Lines, res.Columns
		row.Records += len(res.Records)
		row.Errors += len(res.Errors)
		mismatches := 0
		for i := range res.Records {
			if res.Records[i].ClusterMismatch() {
				mismatches++
			}
		}
		row.ClusterMismatches += mismatches
		r.rep.ClusterMismatches += mismatches
		row.Status = persistence.FileDone
		switch {
		case !res.More && (row.Gzip || res.Offset == size):
			row.PrefixSHA256 = row.SHA256
		case row.Gzip:
			row.Status = persistence.FilePartial // not resumable: read again from its start
		default:
			// More to read, or a last line without its newline left for the next run.
			row.Status = persistence.FilePartial
			if _, err := io.Copy(consumed, io.NewSectionReader(f, hashed, res.Offset-hashed)); err != nil {
				return r.fail(ctx, row, err)
			}
			hashed = res.Offset
			row.PrefixSHA256 = consumed.Sum(nil)
		}
		if !first {
			// The pieces of one file are stored one after the other: a piece's row must never
			// claim more of the file than the pieces stored before it.
			if err := r.wait(); err != nil {
				return err
			}
		}
		if err := r.store1(ctx, row, res, reset && first); err != nil {
			return err
		}
		if !res.More {
			return nil
		}
		opts.StartLine, opts.StartOffset, opts.Columns = res.Lines, res.Offset, res.Columns
	}
}

// ChunkRecords is the most jobs read from a file before they are stored (see runner.file).
var ChunkRecords = 200_000

// store1 stores one piece of a file (its records, errors and row) while the next piece or file
// is read and parsed, with up to MaxStoring pieces in flight: the database and the parser work
// at the same time, on every core. The row is remembered now, so that a copy of the file later
// in this run is recognised; a failed store ends the run.
func (r *runner) store1(ctx context.Context, row persistence.ProcessedFile, res accounting.Result, reset bool) error {
	for len(r.inflight) >= MaxStoring {
		if err := r.waitOldest(); err != nil {
			return err
		}
	}
	for i, e := range res.Errors {
		// Stored and shown to operators: never more than an excerpt of a line, never bytes
		// PostgreSQL's text refuses.
		res.Errors[i].Err, res.Errors[i].File = accounting.Excerpt(e.Err), strings.ToValidUTF8(e.File, "\uFFFD")
	}
	fr := persistence.FileResult{File: row, Records: accounting.Dedupe(res.Records), Errors: res.Errors, Reset: reset}
	r.rep.Records += len(res.Records)
	r.rep.Errors += len(res.Errors)
	r.remember(row)
	result := make(chan stored, 1)
	r.inflight = append(r.inflight, result)
	go func() {
		var s stored
		for attempt := 0; ; attempt++ {
			s.saved, s.err = r.store.SaveFile(ctx, fr, r.now)
			// Two pieces stored at once that hold the same jobs in another order can deadlock
			// in PostgreSQL, which cancels one of them: store that one again.
			if s.err == nil || attempt == 3 || !persistence.IsRetryable(s.err) {
				break
			}
		}
		result <- s
	}()
	return nil
}

// MaxStoring is how many files of one run are stored at once.
const MaxStoring = 2

type stored struct {
	saved persistence.Saved
	err   error
}

// waitOldest waits for the oldest file being stored and counts what it stored.
func (r *runner) waitOldest() error {
	s := <-r.inflight[0]
	r.inflight = r.inflight[1:]
	if s.err != nil {
		return s.err
	}
	r.rep.NewRecords += s.saved.Added
	r.rep.ReplacedRecords += s.saved.Replaced
	r.rep.Charges += s.saved.Charges
	r.rep.QuotaEvents = append(r.rep.QuotaEvents, s.saved.Events...)
	return nil
}

// wait waits for every file being stored; it returns the first error.
func (r *runner) wait() error {
	var first error
	for len(r.inflight) > 0 {
		if err := r.waitOldest(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// fail records a file that could not be read, with the reason as an error of line 0. It is
// read again once its size or modification time changes.
func (r *runner) fail(ctx context.Context, row persistence.ProcessedFile, cause error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	msg := cause.Error()
	var e *dw.Error
	if errors.As(cause, &e) {
		msg = e.Message
	}
	row.Status = persistence.FileFailed
	row.Offset, row.Lines, row.Columns, row.Records, row.Errors, row.ClusterMismatches = 0, 0, nil, 0, 1, 0
	r.rep.Failed++
	r.rep.Errors++
	return r.save(ctx, row, accounting.Excerpt("cannot read the file: "+msg))
}

func (r *runner) save(ctx context.Context, row persistence.ProcessedFile, failure string) error {
	if err := r.wait(); err != nil {
		return err
	}
	if err := r.store.SaveFileState(ctx, row, failure, r.now); err != nil {
		return err
	}
	r.remember(row)
	return nil
}

func (r *runner) remember(row persistence.ProcessedFile) {
	r.known[row.Path] = row
	if row.Status != persistence.FileFailed && len(row.SHA256) > 0 {
		r.byHash[hex.EncodeToString(row.SHA256)] = row
	}
}
