package fortune

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	dw "github.com/divinewhispers/dw"
)

// Set columns.
const (
	colSlug        = "set_slug"
	colName        = "set_name"
	colLanguage    = "language"
	colDescription = "set_description"
)

// csvColumns lists every column in the order WriteCSV writes them.
func csvColumns() []string {
	cols := []string{colSlug, colName, colLanguage, "number", "title", "line1", "line2", "line3", "line4", "level"}
	for _, t := range Topics {
		cols = append(cols, t.Slug)
	}
	return append(cols, "story", "uncertain", "note", colDescription)
}

var csvRequired = []string{colSlug, colName, colLanguage, "number", "title", "line1", "line2", "line3", "line4", "level", "overall"}

// ParseCSV reads a set in CSV (an example is testdata/example.csv) and checks it as Validate
// does. The form, which WriteCSV writes:
//
//   - UTF-8, with or without a byte order mark; RFC 4180 quoting (a field holding a comma, a
//     quote or a line break is quoted, quotes doubled); at most MaxImportBytes.
//   - A header row, then one row per poem, rows in any order of number. Header names are
//     matched case-insensitively, columns may come in any order; an unknown or repeated
//     column is an error.
//   - Set columns, equal on every row: set_slug, set_name, language (required) and
//     set_description (optional; WriteCSV puts it last, as it is long).
//   - Poem columns: number, title, line1, line2, line3, line4, level (required); one column
//     per topic slug of Topics, of which overall is required and family, marriage, wealth,
//     career, health, travel, lawsuit and lost are optional, an empty cell meaning no
//     meaning for that topic; story, uncertain and note (optional). uncertain is true/false,
//     yes/no or 1/0, empty meaning false.
//
// The parsed set has its poems sorted by number.
//
// Errors: invalid, listing up to 50 problems, each with its line (counted from 1, the header
// included) and column, e.g. `line 7, column "level": "大吉" is not a fortune level (one of
// 上上, 上吉, …)`; internal when reading r fails.
func ParseCSV(r io.Reader) (*Set, error) {
	data, err := readInput(r)
	if err != nil {
		return nil, err
	}
	if off := invalidUTF8(data); off >= 0 {
		l, _ := lineCol(data, int64(off))
		return nil, invalidf("line %d: the input is not valid UTF-8", l)
	}
	cr := csv.NewReader(bytes.NewReader(data))
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, invalidf("the input is empty; want a header row (%s)", strings.Join(csvColumns(), ","))
	}
	if err != nil {
		return nil, invalidf("%s", csvError(data, err))
	}
	var ps problems
	cols := parseHeader(header, &ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	p := csvParser{cols: cols, ps: &ps, set: &Set{}}
	for !ps.full() {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			ps.addf("%s", csvError(data, err))
			if errors.Is(err, csv.ErrFieldCount) {
				continue // the reader is in step: go on with the next row
			}
			return nil, ps.err() // the rest of the input cannot be trusted to split into rows
		}
		line, _ := cr.FieldPos(0)
		if len(p.set.Poems) == MaxPoems {
			ps.addf("line %d: more than %d poems", line, MaxPoems)
			break
		}
		p.row(rec, line)
	}
	p.finish()
	if err := ps.err(); err != nil {
		return nil, err
	}
	s := p.set
	if err := s.Validate(); err != nil {
		return nil, err // not expected: the row checks are Validate's
	}
	sortPoems(s)
	return s, nil
}

// csvError words an error of encoding/csv with its line and column, the column counted in
// characters (encoding/csv counts bytes).
func csvError(data []byte, err error) string {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return "malformed CSV: " + err.Error()
	}
	if errors.Is(pe.Err, csv.ErrFieldCount) {
		return fmt.Sprintf("line %d: %v (the header has another number of columns)", pe.StartLine, pe.Err)
	}
	col := pe.Column
	if start := lineStart(data, pe.Line); start >= 0 && pe.Column >= 1 && start+pe.Column-1 <= len(data) {
		col = 1 + utf8.RuneCount(data[start:start+pe.Column-1])
	}
	return fmt.Sprintf("line %d, column %d: malformed CSV: %v", pe.Line, col, pe.Err)
}

// lineStart is the offset of the first byte of line n (1-based), or -1.
func lineStart(data []byte, n int) int {
	off := 0
	for ; n > 1; n-- {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return -1
		}
		off += i + 1
	}
	return off
}

// parseHeader maps each known column name to its index.
func parseHeader(header []string, ps *problems) map[string]int {
	known := csvColumns()
	cols := make(map[string]int, len(header))
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		switch _, dup := cols[name]; {
		case !slices.Contains(known, name):
			ps.addf("line 1, column %d: unknown column %q (known: %s)", i+1, clip(h), strings.Join(known, ", "))
		case dup:
			ps.addf("line 1, column %d: column %q appears twice", i+1, name)
		default:
			cols[name] = i
		}
	}
	for _, name := range csvRequired {
		if _, ok := cols[name]; !ok {
			ps.addf("line 1: the required column %q is missing", name)
		}
	}
	return cols
}

type csvParser struct {
	cols map[string]int
	ps   *problems
	set  *Set

	firstLine int      // line of the first row, whose set columns the others must repeat
	lines     []int    // line of each poem in set.Poems
	badNumber []bool   // whether the number of set.Poems[i] did not parse
	setCells  []string // the first row's set columns, in setColumns order
}

var setColumns = []string{colSlug, colName, colLanguage, colDescription}

func (p *csvParser) cell(rec []string, col string) string {
	if i, ok := p.cols[col]; ok && i < len(rec) {
		return rec[i]
	}
	return ""
}

func (p *csvParser) row(rec []string, line int) {
	cells := make([]string, len(setColumns))
	for i, c := range setColumns {
		cells[i] = p.cell(rec, c)
	}
	if p.setCells == nil {
		p.firstLine, p.setCells = line, cells
		p.set.Slug, p.set.Name, p.set.Language, p.set.Description = cells[0], cells[1], cells[2], cells[3]
	} else {
		for i, c := range setColumns {
			if cells[i] != p.setCells[i] {
				p.ps.addf("line %d, column %q: %q differs from %q on line %d (set columns must be equal on every row)",
					line, c, clip(cells[i]), clip(p.setCells[i]), p.firstLine)
			}
		}
	}

	poem := Poem{
		Title: p.cell(rec, "title"),
		Lines: []string{p.cell(rec, "line1"), p.cell(rec, "line2"), p.cell(rec, "line3"), p.cell(rec, "line4")},
		Level: p.cell(rec, "level"),
		Story: p.cell(rec, "story"),
		Note:  p.cell(rec, "note"),
	}
	num := p.cell(rec, "number")
	n, err := strconv.Atoi(strings.TrimSpace(num))
	bad := err != nil
	if bad {
		p.ps.addf("line %d, column \"number\": %q is not a whole number", line, clip(num))
	}
	poem.Number = n
	for _, t := range Topics {
		if v := p.cell(rec, t.Slug); v != "" {
			if poem.Meanings == nil {
				poem.Meanings = make(map[string]string, len(Topics))
			}
			poem.Meanings[t.Slug] = v
		}
	}
	u := p.cell(rec, "uncertain")
	switch strings.ToLower(strings.TrimSpace(u)) {
	case "", "false", "no", "0":
	case "true", "yes", "1":
		poem.Uncertain = true
	default:
		p.ps.addf("line %d, column \"uncertain\": %q is not true or false", line, clip(u))
	}
	for _, fp := range poem.check() {
		if fp.column == "" {
			p.ps.addf("line %d: %s", line, fp.jsonMsg())
		} else {
			p.ps.addf("line %d, column %q: %s", line, fp.column, fp.msg)
		}
	}
	p.set.Poems = append(p.set.Poems, poem)
	p.lines = append(p.lines, line)
	p.badNumber = append(p.badNumber, bad)
}

// finish checks what concerns the whole set: its columns, and the numbers across rows.
func (p *csvParser) finish() {
	if p.ps.full() {
		return
	}
	if len(p.set.Poems) == 0 {
		p.ps.addf("the input has a header but no poem rows")
		return
	}
	for _, fp := range p.set.checkHeader() {
		if fp.column != "" {
			p.ps.addf("line %d, column %q: %s", p.firstLine, fp.column, fp.msg)
		} else {
			p.ps.addf("%s", fp.msg)
		}
	}
	if slices.Contains(p.badNumber, true) {
		return // the other numbers would be reported as out of place for no reason
	}
	onLine := func(i int) string { return fmt.Sprintf("line %d", p.lines[i]) }
	for _, np := range checkNumbers(numbersOf(p.set.Poems), onLine) {
		if np.index >= 0 {
			p.ps.addf("line %d, column \"number\": %s", p.lines[np.index], np.msg)
		} else {
			p.ps.addf("column \"number\": %s", np.msg)
		}
	}
}

// WriteCSV writes s in the CSV form ParseCSV reads, every column present, rows in the order
// of s.Poems. It refuses a set that does not pass Validate (invalid); internal when writing
// to w fails.
func WriteCSV(w io.Writer, s *Set) error {
	if err := s.Validate(); err != nil {
		return err
	}
	cols := csvColumns()
	cw := csv.NewWriter(w)
	if err := cw.Write(cols); err != nil {
		return dw.Internal(fmt.Errorf("fortune: writing CSV: %w", err))
	}
	rec := make([]string, len(cols))
	for _, poem := range s.Poems {
		for i, c := range cols {
			rec[i] = csvCell(s, &poem, c)
		}
		if err := cw.Write(rec); err != nil {
			return dw.Internal(fmt.Errorf("fortune: writing CSV: %w", err))
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return dw.Internal(fmt.Errorf("fortune: writing CSV: %w", err))
	}
	return nil
}

func csvCell(s *Set, p *Poem, col string) string {
	switch col {
	case colSlug:
		return s.Slug
	case colName:
		return s.Name
	case colLanguage:
		return s.Language
	case colDescription:
		return s.Description
	case "number":
		return strconv.Itoa(p.Number)
	case "title":
		return p.Title
	case "line1", "line2", "line3", "line4":
		return p.Lines[col[4]-'1']
	case "level":
		return p.Level
	case "story":
		return p.Story
	case "uncertain":
		if p.Uncertain {
			return "true"
		}
		return ""
	case "note":
		return p.Note
	}
	return p.Meanings[col] // a topic
}
