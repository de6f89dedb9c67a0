package accounting

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	dw "github.com/divinewhispers/dw"
)

// Formats accepted by Parse.
const (
	FormatSacct   = "sacct"
	FormatJobcomp = "jobcomp"
	FormatPBS     = "pbs"
)

// Options describe one source file.
type Options struct {
	// Cluster is the cluster every record is stored under (the source's configured cluster,
	// authoritative as the operator names the resource): a cluster name printed in the file
	// is kept in Record.FileCluster only. When empty, records take the file's name.
	Cluster string
	// Location is the time zone the scheduler printed local times in; nil means UTC.
	Location *time.Location
	// File names the source in records and line errors.
	File string
	// StartLine and StartOffset say where r begins in the file when a growing file is resumed:
	// pass the previous Result's Lines and Offset (and seek the file to Offset).
	StartLine   int
	StartOffset int64
	// Columns is the sacct column list for a file without a header line (sacct -n), or for a
	// resumed file whose header was read before (pass the previous Result's Columns).
	Columns []string
	// Final says the file will not grow (rotated, compressed): a last line without a newline
	// is parsed instead of being left for the next read.
	Final bool
	// MaxRecords, when above 0, stops the parse after the line that brings Records to it (so a
	// huge file is read in bounded pieces); Result.More then says the input has more. Parse the
	// rest by calling again with the same *bufio.Reader (it is not wrapped again) and StartLine,
	// StartOffset and Columns from the Result.
	MaxRecords int
}

// Skipped counts lines that are not jobs, or not yet.
type Skipped struct {
	Steps      int // job steps (123.batch, 123.0, …) and PBS array parents (123[])
	Unfinished int // running, pending, suspended, or End unknown: read again when finished
	Other      int // records of other kinds (PBS Q/S/D…), repeated sacct headers
}

// Result is what a parser read from one source.
type Result struct {
	Records []Record
	Errors  []LineError
	Skipped Skipped
	// Lines is the number of the last complete line consumed (StartLine + lines read), and
	// Offset the byte offset just after it (StartOffset + bytes read). A truncated last line
	// is not consumed, so resuming at Offset reads it again once it is whole.
	Lines  int
	Offset int64
	// Columns is the sacct column list in use, to resume a file past its header.
	Columns []string
	// More says the parse stopped at Options.MaxRecords with input left.
	More bool
}

// Parse reads r in the given format (FormatSacct, FormatJobcomp or FormatPBS).
// It returns an invalid error for an unknown format, and otherwise what the parser returns.
func Parse(format string, r io.Reader, opts Options) (Result, error) {
	switch strings.ToLower(format) {
	case FormatSacct:
		return ParseSacct(r, opts)
	case FormatJobcomp:
		return ParseJobcomp(r, opts)
	case FormatPBS, "torque":
		return ParsePBS(r, opts)
	}
	return Result{}, dw.Errorf(dw.KindInvalid, "unknown accounting format %q (want sacct, jobcomp or pbs)", format)
}

// Open opens a log file, gunzipping it when it starts with the gzip magic bytes (whatever its
// name). Offsets in a Result read from a gzip stream count uncompressed bytes.
func Open(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(f)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, err
	}
	if !bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		return readCloser{br, f}, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return readCloser{zr, closers{zr, f}}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// maxLine bounds one line; longer lines are reported and skipped, not buffered.
const maxLine = 1 << 20

// lineParser is called for each complete line, without its line ending. The line is only
// valid during the call: a parser keeps nothing of it without copying (string(line)).
type lineParser func(res *Result, line []byte, no int) error

// scanLines feeds every complete line of r to parse, keeping Lines and Offset up to date.
func scanLines(r io.Reader, opts Options, res *Result, parse lineParser) error {
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < 64<<10 {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	res.Lines, res.Offset = opts.StartLine, opts.StartOffset
	grow := recordsGrower{size: inputSize(r), max: opts.MaxRecords}
	var (
		buf     []byte // a line longer than br's buffer, gathered
		size    int64  // bytes of the current line so far, line ending included
		tooLong bool
	)
	for {
		chunk, err := br.ReadSlice('\n')
		size += int64(len(chunk))
		full := err != nil && errors.Is(err, bufio.ErrBufferFull)
		line := chunk // most lines are parsed in place, in br's buffer
		if full || len(buf) > 0 || tooLong {
			if !tooLong {
				if len(buf)+len(chunk) > maxLine {
					tooLong, buf = true, buf[:0]
				} else {
					buf = append(buf, chunk...)
				}
			}
			if full {
				continue
			}
			line = buf
		}
		eof := err != nil && errors.Is(err, io.EOF)
		if err != nil && !eof {
			return err
		}
		if eof && (size == 0 || !opts.Final) {
			// Nothing left, or a truncated last line: leave it for the next read.
			return nil
		}
		res.Lines++
		res.Offset += size
		if tooLong {
			res.lineError(opts, res.Lines, "line longer than %d bytes", maxLine)
		} else {
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			if err := parse(res, line, res.Lines); err != nil {
				return err
			}
		}
		grow.check(res, res.Offset-opts.StartOffset, res.Lines-opts.StartLine)
		if eof {
			return nil
		}
		if opts.MaxRecords > 0 && len(res.Records) >= opts.MaxRecords {
			// Stop at this line's end; br holds what follows, for the next call.
			res.More = true
			return nil
		}
		buf, size, tooLong = buf[:0], 0, false
	}
}

// inputSize is the number of bytes left in r when r can tell (a section of a file, a file, a
// buffer), else 0.
func inputSize(r io.Reader) int64 {
	switch r := r.(type) {
	case *bufio.Reader: // its Size is that of its buffer
		return 0
	case interface{ Len() int }: // *bytes.Reader, *strings.Reader, *bytes.Buffer
		return int64(r.Len())
	case interface{ Size() int64 }: // *io.SectionReader, as ingest reads a file
		return r.Size()
	case *os.File:
		if fi, err := r.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	}
	return 0
}

// recordsGrower grows Result.Records ahead of the parsers' appends, which for a large slice
// add only a quarter at a time and so copy the records of a large file several times over
// (half the cost of a parse when measured). When the size of the input is known, it sizes the
// slice once from a sample; past that estimate, or without one, it doubles a full slice.
type recordsGrower struct {
	size int64 // bytes of input, 0 when unknown
	done bool  // the estimate is made
	max  int   // Options.MaxRecords: no estimate beyond it
}

const (
	// sampleBytes is how much input is read before the number of records is estimated.
	sampleBytes = 256 << 10
	// maxReserve bounds the estimate (≈ 300 MB of records) in case the sample misleads.
	maxReserve = 1 << 20
	// minDoubling is the length from which a full slice is doubled; below it the slice is
	// small and append's own growth is fast enough.
	minDoubling = 1024
)

// check is called after each line with the bytes and lines read so far.
func (g *recordsGrower) check(res *Result, read int64, lines int) {
	if n := len(res.Records); n >= minDoubling && n == cap(res.Records) {
		res.Records = slices.Grow(res.Records, n)
	}
	if g.done || read < sampleBytes {
		return
	}
	g.done = true
	if g.size <= read {
		return
	}
	// Records per line are capped at one: an unexpanded array (`123_[1-1000]`) near the top
	// must not inflate the estimate for the rest of the file.
	perByte := float64(min(len(res.Records), lines)) / float64(read)
	want := int(min(perByte*float64(g.size)*9/8, maxReserve))
	if g.max > 0 {
		want = min(want, g.max+g.max/8)
	}
	if n := want - len(res.Records); n > 0 {
		res.Records = slices.Grow(res.Records, n)
	}
}

func (res *Result) lineError(opts Options, no int, format string, args ...any) {
	res.Errors = append(res.Errors, LineError{File: opts.File, Line: no, Err: Excerpt(fmt.Sprintf(format, args...))})
}

func location(opts Options) *time.Location {
	if opts.Location == nil {
		return time.UTC
	}
	return opts.Location
}
