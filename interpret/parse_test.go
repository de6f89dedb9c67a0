package interpret

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

const goodAnswer = `{"summary":"雲開見日。","aspects":[{"name":"功名","guidance":"穩步前進。"}],"advice":["先把本分做好。"],"cautions":["勿急躁。"],"poem_lines":["日出便見風雲散","萬事清吉保平安"]}`

func TestParseResult(t *testing.T) {
	t.Parallel()
	want := Result{
		Summary:   "雲開見日。",
		Aspects:   []Aspect{{"功名", "穩步前進。"}},
		Advice:    []string{"先把本分做好。"},
		Cautions:  []string{"勿急躁。"},
		PoemLines: []string{"日出便見風雲散", "萬事清吉保平安"},
		Language:  LangZhTW,
		Model:     "m",
	}
	ok := []struct{ name, in string }{
		{"bare", goodAnswer},
		{"fenced", "```json\n" + goodAnswer + "\n```"},
		{"prose around", "好的，以下是解籤：\n" + goodAnswer + "\n祝福你。"},
		{"think block", "<think>the user wants {json}…</think>\n" + goodAnswer},
		{"braces in prose first", "Format: {like this} and {\"x\": 1}.\n" + goodAnswer},
		{"wrapped", `{"result": ` + goodAnswer + `}`},
		{"lines with punctuation and numbers", strings.Replace(goodAnswer, `"日出便見風雲散","萬事清吉保平安"`, `"1. 日出便見風雲散，"," 「萬事清吉保平安」。","日出便見風雲散"`, 1)},
		{"single strings and aspect object", `{"summary":"雲開見日。","aspects":{"功名":"穩步前進。"},"advice":"先把本分做好。","cautions":["勿急躁。", ""],"poemLines":["日出便見風雲散","萬事清吉保平安"]}`},
		{"padded values", strings.ReplaceAll(goodAnswer, `":"`, `":"  `)},
	}
	for _, tt := range ok {
		got, err := parseResult(tt.in, poemGood, LangZhTW, "m")
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, want)
		}
	}
	bad := []struct{ name, in, want string }{
		{"empty", "", "no JSON object"},
		{"prose", "I cannot answer that.", "no JSON object"},
		{"truncated", goodAnswer[:len(goodAnswer)/2], "no valid JSON object"},
		{"wrong types", `{"summary": 3}`, "no valid JSON object"},
		{"missing fields", `{"summary":"x"}`, "aspects: none"},
		{"foreign lines", strings.Replace(goodAnswer, "日出便見風雲散", "床前明月光", 1), "not a line of the poem"},
		{"five lines", strings.Replace(goodAnswer, `"萬事清吉保平安"]`, `"萬事清吉保平安","x","y","z"]`, 1), "not a line"},
	}
	for _, tt := range bad {
		_, err := parseResult(tt.in, poemGood, LangZhTW, "m")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

// FuzzParseResult feeds arbitrary model output to the parser: it must not panic, what it accepts
// must validate, and an accepted reading written back as JSON must parse to itself.
func FuzzParseResult(f *testing.F) {
	f.Add(goodAnswer)
	f.Add("```json\n" + goodAnswer + "\n```")
	f.Add(`{"aspects":{"a":"b"},"advice":"x","summary":"s","cautions":["c"],"poem_lines":"光明清淨照世間"}`)
	f.Add("{")
	f.Add("")
	f.Fuzz(func(t *testing.T, out string) {
		r, err := parseResult(out, poemGood, LangEn, "m")
		if err != nil {
			return
		}
		if err := r.Validate(poemGood); err != nil {
			t.Fatalf("accepted an invalid result: %v", err)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseResult(string(b), poemGood, LangEn, "m")
		if err != nil {
			t.Fatalf("re-parsing %s: %v", b, err)
		}
		if !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip changed the result:\n%+v\n%+v", r, again)
		}
	})
}

// TestFuzzSeeds checks that the committed seeds named valid_* are accepted, so that the fuzzer
// starts from inputs that reach validation and the round trip.
func TestFuzzSeeds(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("testdata", "fuzz", "FuzzParseResult")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 10 {
		t.Fatalf("%d seeds", len(entries))
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		header, value, _ := strings.Cut(string(b), "\n")
		value = strings.TrimSpace(value)
		if header != "go test fuzz v1" || !strings.HasPrefix(value, "string(") || !strings.HasSuffix(value, ")") {
			t.Fatalf("%s is not a go test fuzz v1 string seed", e.Name())
		}
		in, err := strconv.Unquote(value[len("string(") : len(value)-1])
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		_, err = parseResult(in, poemGood, LangEn, "m")
		if valid := strings.HasPrefix(e.Name(), "valid_"); valid != (err == nil) {
			t.Errorf("%s: parse error %v", e.Name(), err)
		}
	}
}
