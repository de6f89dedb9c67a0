package fortune

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	dw "github.com/divinewhispers/dw"
)

// smallSet is a valid set of two poems, for tests to build on.
func smallSet() *Set {
	return &Set{
		Slug: "test-set", Name: "測試籤", Language: "zh-TW",
		Poems: []Poem{
			{Number: 1, Title: "甲子", Lines: []string{"一", "二", "三", "四"}, Level: "上上", Meanings: map[string]string{"overall": "吉。"}},
			{Number: 2, Title: "甲寅", Lines: []string{"五", "六", "七", "八"}, Level: "下下", Meanings: map[string]string{"overall": "凶。", "lost": "難尋。"},
				Story: "故事", Uncertain: true, Note: "未確認"},
		},
	}
}

// message is what a caller is shown for err; the import errors must all be invalid.
func message(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	if k := dw.KindOf(err); k != dw.KindInvalid {
		t.Errorf("error %v has kind %s, want invalid", err, k)
	}
	return dw.MessageOf(err)
}

const poem1 = `{"number": 1, "title": "甲子", "lines": ["一", "二", "三", "四"], "level": "上上", "meanings": {"overall": "吉。"}}`

func TestParseJSONErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"empty", " \n", `line 1:1: the input is empty; want a JSON object`},
		{"not an object", `[1]`, `line 1:1: the set: want an object, got an array`},
		{"unknown set field", "{\n  \"slug\": \"a\",\n  \"colour\": \"red\"\n}",
			`line 3:3: the set: unknown field "colour" (known: slug, name, description, language, poems)`},
		{"duplicate field", `{"slug": "a", "slug": "b"}`, `line 1:15: the set: duplicate field "slug"`},
		{"trailing comma", `{"slug": "a",}`, `line 1:14: malformed JSON: invalid character '}' looking for beginning of object key string`},
		{"truncated", `{"slug": "a"`, `line 1:13: malformed JSON: unexpected end of input`},
		{"data after the set", `{"slug": "a"} {}`, `line 1:15: unexpected data after the set`},
		{"invalid UTF-8", "{\"slug\":\n\"a\xffb\"}", `line 2:3: the input is not valid UTF-8`},
		{"slug not a string", `{"slug": 5}`, `line 1:10: the set: field "slug": want a string, got number`},
		{"poems not an array", `{"poems": {}}`, `line 1:11: the set: field "poems": want an array, got an object`},
		{"number as a string", "{\"poems\": [\n" + `{"number": "1"}]}`, `line 2:12: poem at index 0: field "number": want a whole number, got a string`},
		{"fractional number", `{"poems": [{"number": 1.5}]}`, `line 1:23: poem at index 0: field "number": want a whole number, got 1.5`},
		{"lines not strings", `{"poems": [{"lines": [1, 2]}]}`, `line 1:22: poem at index 0: field "lines": want an array of strings, got number`},
		{"uncertain not a bool", `{"poems": [{"uncertain": "yes"}]}`, `line 1:26: poem at index 0: field "uncertain": want true or false, got string`},
		{"unknown poem field", "{\"poems\": [" + poem1 + ",\n  {\"number\": 2, \"colour\": 1}]}",
			`line 2:17: poem at index 1: unknown field "colour" (known: number, title, lines, level, meanings, story, uncertain, note)`},
		{"unknown topic", `{"poems": [{"meanings": {"overall": "吉", "weather": "晴"}}]}`,
			`line 1:42: poem at index 0: field "meanings": "weather" is not a topic (one of overall, family, marriage, wealth, career, health, travel, lawsuit, lost)`},
		{"duplicate topic", `{"poems": [{"meanings": {"overall": "吉", "overall": "凶"}}]}`,
			`line 1:42: poem at index 0: field "meanings": duplicate field "overall"`},
		{"three lines", `{"slug": "a", "name": "N", "language": "zh-TW", "poems": [` + strings.Replace(poem1, `, "四"]`, `]`, 1) + `]}`,
			`poem 1: field "lines": want 4 lines, got 3`},
		{"every problem of the content", `{"slug": "Bad Slug", "name": "", "language": "zh_TW", "poems": [` +
			`{"number": 1, "title": "", "lines": ["一", " 二", "", "` + strings.Repeat("長", 65) + `"], "level": "大吉", "meanings": {"family": ""}, "uncertain": true},` +
			`{"number": 1, "title": "乙", "lines": ["一", "二", "三", "四"], "level": "上", "meanings": {"overall": "x"}},` +
			`{"number": 7, "title": "丙", "lines": ["一", "二", "三", "四"], "level": "上", "meanings": {"overall": "x"}}]}`,
			strings.Join([]string{
				`set: field "slug": "Bad Slug" is not a slug (1 to 64 lowercase letters, digits and '-')`,
				`set: field "name": is empty`,
				`set: field "language": "zh_TW" is not a BCP 47 language tag such as "zh-TW"`,
				`poem 1: field "title": is empty`,
				`poem 1: field "lines": line 2 starts or ends with white space`,
				`poem 1: field "lines": line 3 is empty`,
				`poem 1: field "lines": line 4 has 65 characters, at most 64`,
				`poem 1: field "level": "大吉" is not a fortune level (one of 上上, 上吉, 上, 中吉, 中, 中平, 下, 下下)`,
				`poem 1: field "meanings": the "overall" meaning is required`,
				`poem 1: field "meanings": "family" is empty`,
				`poem 1: field "note": an uncertain poem needs a note saying what is uncertain`,
				`poem at index 1: field "number": 1 is already the number of the poem at index 0`,
				`poem at index 2: field "number": 7 is not in 1..3 (poems are numbered 1 to the number of poems)`,
				`poems: missing numbers: 2, 3`,
			}, "\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := ParseJSON(strings.NewReader(tc.in))
			if s != nil {
				t.Errorf("ParseJSON returned a set with the error")
			}
			if got := message(t, err); got != tc.want {
				t.Errorf("ParseJSON error:\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

const csvHeader = "set_slug,set_name,language,number,title,line1,line2,line3,line4,level,overall\n"

func TestParseCSVErrors(t *testing.T) {
	t.Parallel()
	row := func(n, level string) string {
		return "s,名,zh-TW," + n + ",甲子,一,二,三,四," + level + ",吉\n"
	}
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", `the input is empty; want a header row (set_slug,set_name,language,number,title,line1,line2,line3,line4,level,overall,family,marriage,wealth,career,health,travel,lawsuit,lost,story,uncertain,note,set_description)`},
		{"header only", csvHeader, `the input has a header but no poem rows`},
		{"bad header", "Set_Slug,set_name,language,number,title,line1,line2,line3,line4,Colour,NUMBER\n",
			strings.Join([]string{
				`line 1, column 10: unknown column "Colour" (known: set_slug, set_name, language, number, title, line1, line2, line3, line4, level, overall, family, marriage, wealth, career, health, travel, lawsuit, lost, story, uncertain, note, set_description)`,
				`line 1, column 11: column "number" appears twice`,
				`line 1: the required column "level" is missing`,
				`line 1: the required column "overall" is missing`,
			}, "\n")},
		{"not a level", csvHeader + row("1", "上上") + row("2", "大吉"),
			`line 3, column "level": "大吉" is not a fortune level (one of 上上, 上吉, 上, 中吉, 中, 中平, 下, 下下)`},
		{"set columns differ", csvHeader + row("1", "上上") + "s,別名,zh-TW,2,甲寅,一,二,三,四,上,吉\n",
			`line 3, column "set_name": "別名" differs from "名" on line 2 (set columns must be equal on every row)`},
		{"bad numbers", csvHeader + row("1", "上上") + row("x", "上上") + row("1", "上上"),
			`line 3, column "number": "x" is not a whole number`},
		{"duplicate and gap", csvHeader + row("1", "上上") + row("3", "上上") + row("1", "上上"),
			strings.Join([]string{
				`line 4, column "number": 1 is already the number of line 2`,
				`column "number": missing numbers: 2`,
			}, "\n")},
		{"field count", csvHeader + "s,名,zh-TW,1,甲子,一,二,三,四,上上\n" + row("1", "下下"),
			`line 2: wrong number of fields (the header has another number of columns)`},
		{"bare quote", csvHeader + "s,名,zh-TW,1,甲\"子,一,二,三,四,上上,吉\n",
			`line 2, column 14: malformed CSV: bare " in non-quoted-field`},
		{"multi-line cell", csvHeader + "s,名,zh-TW,1,\"甲\n子\",一,二,三,四,上上,吉\n",
			`line 2, column "title": contains the control character U+000A`},
		{"uncertain", "set_slug,set_name,language,number,title,line1,line2,line3,line4,level,overall,uncertain,note\n" +
			"s,名,zh-TW,1,甲子,一,二,三,四,上上,吉,maybe,\n" +
			"s,名,zh-TW,2,甲寅,一,二,三,四,上上,吉,TRUE,\n",
			strings.Join([]string{
				`line 2, column "uncertain": "maybe" is not true or false`,
				`line 3, column "note": an uncertain poem needs a note saying what is uncertain`,
			}, "\n")},
		{"empty cells", csvHeader + "Bad,,zh-TW,1,, 一,二,三,,上上,\n",
			strings.Join([]string{
				`line 2, column "title": is empty`,
				`line 2, column "line1": starts or ends with white space`,
				`line 2, column "line4": is empty`,
				`line 2, column "overall": the "overall" meaning is required`,
				`line 2, column "set_slug": "Bad" is not a slug (1 to 64 lowercase letters, digits and '-')`,
				`line 2, column "set_name": is empty`,
			}, "\n")},
		{"invalid UTF-8", csvHeader + row("1", "上上") + "s,名,zh-TW,2,\xff,一,二,三,四,上上,吉\n", `line 3: the input is not valid UTF-8`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := ParseCSV(strings.NewReader(tc.in))
			if s != nil {
				t.Errorf("ParseCSV returned a set with the error")
			}
			if got := message(t, err); got != tc.want {
				t.Errorf("ParseCSV error:\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

func TestParseCSVStopsAt50Problems(t *testing.T) {
	t.Parallel()
	var in strings.Builder
	in.WriteString(csvHeader)
	for range 60 {
		in.WriteString("s,名,zh-TW,1,甲子,一,二,三,四,大吉,吉\n")
	}
	_, err := ParseCSV(strings.NewReader(in.String()))
	lines := strings.Split(message(t, err), "\n")
	if len(lines) != 51 || lines[50] != "… more problems not shown (stopped after 50)" {
		t.Errorf("got %d lines ending %q, want 50 problems and a line saying there are more", len(lines), lines[len(lines)-1])
	}
}

func TestParseTooLarge(t *testing.T) {
	t.Parallel()
	big := bytes.Repeat([]byte(" "), MaxImportBytes+1)
	for name, parse := range map[string]func([]byte) (*Set, error){
		"json": func(b []byte) (*Set, error) { return ParseJSON(bytes.NewReader(b)) },
		"csv":  func(b []byte) (*Set, error) { return ParseCSV(bytes.NewReader(b)) },
	} {
		_, err := parse(big)
		if got, want := message(t, err), "the input is larger than 8 MiB"; got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestParseReadError(t *testing.T) {
	t.Parallel()
	if _, err := ParseJSON(failingReader{}); dw.KindOf(err) != dw.KindInternal {
		t.Errorf("ParseJSON: got %v, want an internal error", err)
	}
	if _, err := ParseCSV(failingReader{}); dw.KindOf(err) != dw.KindInternal {
		t.Errorf("ParseCSV: got %v, want an internal error", err)
	}
}

func TestParseCSVExample(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/example.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := ParseCSV(f)
	if err != nil {
		t.Fatal(err)
	}
	want := liushiJiazi(t)
	if s.Slug != "example" || len(s.Poems) != 3 || !reflect.DeepEqual(s.Poems, want.Poems[:3]) {
		t.Fatalf("testdata/example.csv: got %+v, want the first three bundled poems", s)
	}
}

func TestParseCSVLenient(t *testing.T) {
	t.Parallel()
	// A byte order mark, columns in another order and case, rows out of order, CRLF.
	in := "\uFEFFOVERALL,Number,title,line4,line3,line2,line1,level,language,set_name,set_slug,lost\r\n" +
		"凶。,2,甲寅,八,七,六,五,下下,zh-TW,測試籤,test-set,難尋。\r\n" +
		"吉。,1,甲子,四,三,二,一,上上,zh-TW,測試籤,test-set,\r\n"
	s, err := ParseCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := smallSet()
	want.Poems[1].Story, want.Poems[1].Uncertain, want.Poems[1].Note = "", false, ""
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
}

func TestRoundTripSmall(t *testing.T) {
	t.Parallel()
	s := smallSet()
	s.Description = "多行\n說明，含 \"引號\"、逗號,\t與 tab"
	s.Poems[0].Story = " leading space and trailing\n"
	var j, c bytes.Buffer
	if err := WriteJSON(&j, s); err != nil {
		t.Fatal(err)
	}
	if err := WriteCSV(&c, s); err != nil {
		t.Fatal(err)
	}
	fromJSON, err := ParseJSON(&j)
	if err != nil {
		t.Fatal(err)
	}
	fromCSV, err := ParseCSV(&c)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, s) || !reflect.DeepEqual(fromCSV, s) {
		t.Fatalf("round trip changed the set:\n json %+v\n csv  %+v\n want %+v", fromJSON, fromCSV, s)
	}
}

func TestWriteRefusesInvalid(t *testing.T) {
	t.Parallel()
	s := smallSet()
	s.Poems[0].Level = "大吉"
	var b bytes.Buffer
	if err := WriteJSON(&b, s); dw.KindOf(err) != dw.KindInvalid {
		t.Errorf("WriteJSON: got %v, want invalid", err)
	}
	if err := WriteCSV(&b, s); dw.KindOf(err) != dw.KindInvalid {
		t.Errorf("WriteCSV: got %v, want invalid", err)
	}
	if b.Len() != 0 {
		t.Errorf("an invalid set wrote %q", b.String())
	}
}
