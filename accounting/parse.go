package accounting

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
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
	// Cluster names the cluster for formats (or lines) that do not print one.
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

// lineParser is called for each complete line (without its line ending).
type lineParser func(res *Result, line string, no int) error

// scanLines feeds every complete line of r to parse, keeping Lines and Offset up to date.
func scanLines(r io.Reader, opts Options, res *Result, parse lineParser) error {
	br := bufio.NewReaderSize(r, 64<<10)
	res.Lines, res.Offset = opts.StartLine, opts.StartOffset
	var (
		buf     []byte
		size    int64 // bytes of the current line so far, line ending included
		tooLong bool
	)
	for {
		chunk, err := br.ReadSlice('\n')
		size += int64(len(chunk))
		if !tooLong {
			if len(buf)+len(chunk) > maxLine {
				tooLong, buf = true, buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		eof := errors.Is(err, io.EOF)
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
			line := strings.TrimSuffix(strings.TrimSuffix(string(buf), "\n"), "\r")
			if err := parse(res, line, res.Lines); err != nil {
				return err
			}
		}
		if eof {
			return nil
		}
		buf, size, tooLong = buf[:0], 0, false
	}
}

func (res *Result) lineError(opts Options, no int, format string, args ...any) {
	res.Errors = append(res.Errors, LineError{File: opts.File, Line: no, Err: fmt.Sprintf(format, args...)})
}

func location(opts Options) *time.Location {
	if opts.Location == nil {
		return time.UTC
	}
	return opts.Location
}
