package fortune

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	dw "github.com/divinewhispers/dw"
)

// checkAccepted asserts what must hold of any set a parser accepts: it is valid, and it comes
// back equal through both formats.
func checkAccepted(t *testing.T, s *Set) {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatalf("accepted set does not validate: %v", err)
	}
	var j, c bytes.Buffer
	if err := WriteJSON(&j, s); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	if err := WriteCSV(&c, s); err != nil {
		t.Fatalf("WriteCSV: %v", err)
	}
	fromJSON, err := ParseJSON(bytes.NewReader(j.Bytes()))
	if err != nil {
		t.Fatalf("ParseJSON of WriteJSON's output: %v\n%s", err, j.Bytes())
	}
	if !reflect.DeepEqual(fromJSON, s) {
		t.Fatalf("JSON round trip changed the set:\n got %#v\nwant %#v", fromJSON, s)
	}
	fromCSV, err := ParseCSV(bytes.NewReader(c.Bytes()))
	if err != nil {
		t.Fatalf("ParseCSV of WriteCSV's output: %v\n%s", err, c.Bytes())
	}
	if !reflect.DeepEqual(fromCSV, s) {
		t.Fatalf("CSV round trip changed the set:\n got %#v\nwant %#v", fromCSV, s)
	}
}

func checkRejected(t *testing.T, s *Set, err error) {
	t.Helper()
	if s != nil {
		t.Fatalf("a set returned with the error %v", err)
	}
	if k := dw.KindOf(err); k != dw.KindInvalid {
		t.Fatalf("error %v has kind %s, want invalid", err, k)
	}
}

// FuzzParseJSON: ParseJSON never panics, rejects with an invalid error, and what it accepts
// validates and round-trips. Seeds are here and in testdata/fuzz/FuzzParseJSON.
func FuzzParseJSON(f *testing.F) {
	small, err := json.Marshal(smallSet()) // compact: see FuzzParseCSV on small seeds
	if err != nil {
		f.Fatal(err)
	}
	f.Add(small)
	f.Add([]byte(`{"slug":"a","name":"n","language":"en","poems":[` + poem1 + `]}`))
	f.Add([]byte(`{"poems":[{"number":1e3,"lines":[null,"",1]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseJSON(bytes.NewReader(data))
		if err != nil {
			checkRejected(t, s, err)
			return
		}
		checkAccepted(t, s)
	})
}

// FuzzParseCSV: as FuzzParseJSON, for ParseCSV. Seeds are here and in
// testdata/fuzz/FuzzParseCSV.
func FuzzParseCSV(f *testing.F) {
	// Seeds are small on purpose: the fuzzer minimizes every new interesting input, and with
	// multi-kilobyte seeds (testdata/example.csv) that takes most of a 20-second run.
	var b bytes.Buffer
	if err := WriteCSV(&b, smallSet()); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte(csvHeader + "s,名,zh-TW,1,甲子,一,二,三,四,上上,吉\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseCSV(bytes.NewReader(data))
		if err != nil {
			checkRejected(t, s, err)
			return
		}
		checkAccepted(t, s)
	})
}
