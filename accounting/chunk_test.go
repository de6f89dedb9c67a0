package accounting

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Parsing a file in pieces of MaxRecords (calling again with the same *bufio.Reader and the
// Result's place) gives the records, errors and place of one whole parse.
func TestMaxRecordsPieces(t *testing.T) {
	for _, c := range []struct{ format, file string }{
		{FormatSacct, "sacct.txt"}, {FormatJobcomp, "jobcomp.log"}, {FormatPBS, "pbs-20240301"},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		opts := Options{Cluster: "c", File: c.file, Final: true}
		whole, err := Parse(c.format, bytes.NewReader(data), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, max := range []int{1, 2, 3, 7} {
			var got Result
			br := bufio.NewReaderSize(bytes.NewReader(data), 64<<10)
			o := opts
			o.MaxRecords = max
			pieces := 0
			for {
				res, err := Parse(c.format, br, o)
				if err != nil {
					t.Fatal(err)
				}
				pieces++
				if res.More && len(res.Records) < max {
					t.Fatalf("%s max %d: piece %d stopped at %d records", c.file, max, pieces, len(res.Records))
				}
				got.Records = append(got.Records, res.Records...)
				got.Errors = append(got.Errors, res.Errors...)
				got.Skipped.Steps += res.Skipped.Steps
				got.Skipped.Unfinished += res.Skipped.Unfinished
				got.Skipped.Other += res.Skipped.Other
				got.Lines, got.Offset, got.Columns = res.Lines, res.Offset, res.Columns
				if !res.More {
					break
				}
				o.StartLine, o.StartOffset, o.Columns = res.Lines, res.Offset, res.Columns
			}
			if pieces < 2 && len(whole.Records) > max {
				t.Errorf("%s max %d: one piece", c.file, max)
			}
			if !reflect.DeepEqual(got.Records, whole.Records) || !reflect.DeepEqual(got.Errors, whole.Errors) ||
				got.Skipped != whole.Skipped || got.Lines != whole.Lines || got.Offset != whole.Offset ||
				!reflect.DeepEqual(got.Columns, whole.Columns) {
				t.Errorf("%s in pieces of %d differs from the whole parse:\n got %d records %d errors %+v lines %d offset %d\nwant %d records %d errors %+v lines %d offset %d",
					c.file, max, len(got.Records), len(got.Errors), got.Skipped, got.Lines, got.Offset,
					len(whole.Records), len(whole.Errors), whole.Skipped, whole.Lines, whole.Offset)
			}
		}
	}
}
