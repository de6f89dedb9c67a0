package accounting_test

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/divinewhispers/dw/accounting"
)

// checkResult holds the invariants every parse must keep, whatever the input.
func checkResult(t *testing.T, res accounting.Result, err error, n, startLine int) {
	t.Helper()
	if err != nil {
		return // an unusable header; nothing else is allowed to fail
	}
	for _, r := range res.Records {
		if r.Key() == "" || r.JobID == "" {
			t.Fatalf("record without key: %+v", r)
		}
		if r.NodeSeconds() < 0 || r.GPUSeconds() < 0 || r.Elapsed < 0 {
			t.Fatalf("negative usage: %+v", r)
		}
		if r.IsGPU() && r.NodeSeconds() != 0 || !r.IsGPU() && r.GPUSeconds() != 0 {
			t.Fatalf("a job is charged as both CPU and GPU: %+v", r)
		}
		if !r.Start.IsZero() && !r.End.IsZero() && r.End.Before(r.Start) {
			t.Fatalf("end before start: %+v", r)
		}
		if r.Start.Location() != time.UTC || r.End.Location() != time.UTC || r.Submit.Location() != time.UTC {
			t.Fatalf("times not in UTC: %+v", r)
		}
	}
	if res.Offset < 0 || res.Offset > int64(n) || res.Lines < startLine {
		t.Fatalf("offset %d lines %d for %d bytes", res.Offset, res.Lines, n)
	}
	for _, e := range res.Errors {
		if e.Line <= startLine || e.Line > res.Lines {
			t.Fatalf("line error outside the lines read: %+v (lines %d)", e, res.Lines)
		}
	}
}

func fuzzParser(f *testing.F, parse func(io.Reader, accounting.Options) (accounting.Result, error)) {
	taipei, err := time.LoadLocation("Asia/Taipei")
	if err != nil {
		taipei = time.FixedZone("CST", 8*3600)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EST", -5*3600)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opts := range []accounting.Options{
			{File: "f"},
			{File: "f", Location: taipei, Cluster: "c", Final: true},
			{File: "f", Location: ny, StartLine: 7, Final: true},
		} {
			res, err := parse(bytes.NewReader(data), opts)
			checkResult(t, res, err, len(data), opts.StartLine)
		}
	})
}

func FuzzParseSacct(f *testing.F)   { fuzzParser(f, accounting.ParseSacct) }
func FuzzParseJobcomp(f *testing.F) { fuzzParser(f, accounting.ParseJobcomp) }
func FuzzParsePBS(f *testing.F)     { fuzzParser(f, accounting.ParsePBS) }
