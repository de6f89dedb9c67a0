package fortune

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"

	dw "github.com/divinewhispers/dw"
)

// MaxImportBytes bounds the input of ParseJSON and ParseCSV. The bundled set of 60 poems is
// about 46 KiB; 8 MiB leaves room for large sets and none for a memory attack.
const MaxImportBytes = 8 << 20

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// ParseJSON reads a set in the JSON form of Set (as WriteJSON writes it), strictly: unknown
// and duplicate fields are rejected, the input must be one JSON object of at most
// MaxImportBytes, UTF-8 with an optional byte order mark. The set must then pass Validate.
// The poems are returned sorted by number.
//
// Errors: invalid, naming the position (`line 3:14: …`, the column counted in characters)
// for malformed JSON, and the poem and field for invalid content
// (`poem 12: field "lines": want 4 lines, got 3`); internal when reading r fails.
func ParseJSON(r io.Reader) (*Set, error) {
	data, err := readInput(r)
	if err != nil {
		return nil, err
	}
	if off := invalidUTF8(data); off >= 0 {
		return nil, invalidf("%s: the input is not valid UTF-8", jsonPos(data, int64(off)))
	}
	p := &jsonParser{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber() // Token would fail on numbers beyond float64 with an unhelpful message
	s, err := p.set()
	if err != nil {
		return nil, invalidf("%s", err.Error())
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	sortPoems(s)
	return s, nil
}

// WriteJSON writes s as indented JSON that ParseJSON reads back to an equal set. It refuses
// a set that does not pass Validate (invalid), so that nothing is exported that cannot be
// imported; internal when writing to w fails.
func WriteJSON(w io.Writer, s *Set) error {
	if err := s.Validate(); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return dw.Internal(fmt.Errorf("fortune: writing JSON: %w", err))
	}
	return nil
}

func readInput(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxImportBytes+1))
	if err != nil {
		return nil, dw.Internal(fmt.Errorf("fortune: reading the input: %w", err))
	}
	if len(data) > MaxImportBytes {
		return nil, invalidf("the input is larger than %d MiB", MaxImportBytes>>20)
	}
	return bytes.TrimPrefix(data, utf8BOM), nil
}

func invalidf(format string, args ...any) error {
	return &dw.Error{Kind: dw.KindInvalid, Code: "invalid_poem_set", Message: fmt.Sprintf(format, args...)}
}

// invalidUTF8 returns the offset of the first byte that is not part of valid UTF-8, or -1.
func invalidUTF8(data []byte) int {
	for off := 0; off < len(data); {
		r, size := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && size <= 1 {
			return off
		}
		off += size
	}
	return -1
}

// lineCol turns a byte offset into a 1-based line and a 1-based column counted in characters.
func lineCol(data []byte, off int64) (line, col int) {
	off = max(0, min(off, int64(len(data))))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	start := bytes.LastIndexByte(before, '\n') + 1
	return line, 1 + utf8.RuneCount(before[start:])
}

func jsonPos(data []byte, off int64) string {
	l, c := lineCol(data, off)
	return fmt.Sprintf("line %d:%d", l, c)
}

func sortPoems(s *Set) {
	slices.SortStableFunc(s.Poems, func(a, b Poem) int { return a.Number - b.Number })
}

// jsonParser walks the JSON token by token rather than decoding into Set in one call, so that
// every error carries the position of the field or value at fault, and duplicate keys (which
// encoding/json silently lets the last one win) are rejected.
type jsonParser struct {
	data []byte
	dec  *json.Decoder
}

// next is the offset of the next token: the decoder's offset moved past white space and the
// separators ',' and ':' that Token does not return.
func (p *jsonParser) next() int64 {
	off := p.dec.InputOffset()
	for off < int64(len(p.data)) {
		switch p.data[off] {
		case ' ', '\t', '\n', '\r', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}

func (p *jsonParser) errAt(off int64, format string, args ...any) error {
	return fmt.Errorf("%s: %s", jsonPos(p.data, off), fmt.Sprintf(format, args...))
}

// syntax turns a decoder error into a located one.
func (p *jsonParser) syntax(at int64, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return p.errAt(se.Offset, "malformed JSON: %s", se.Error())
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return p.errAt(int64(len(p.data)), "malformed JSON: unexpected end of input")
	}
	return p.errAt(at, "malformed JSON: %s", clip(err.Error()))
}

// object reads an object, calling field for each key with the key's offset; a JSON null is
// taken as an absent object. Duplicate keys are rejected.
func (p *jsonParser) object(what string, field func(key string, at int64) error) error {
	at := p.next()
	tok, err := p.dec.Token()
	if err != nil {
		return p.syntax(at, err)
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return p.errAt(at, "%s: want an object, got %s", what, describeToken(tok))
	}
	seen := map[string]bool{}
	for p.dec.More() {
		kat := p.next()
		tok, err := p.dec.Token()
		if err != nil {
			return p.syntax(kat, err)
		}
		key, ok := tok.(string)
		if !ok {
			return p.errAt(kat, "%s: want a field name, got %s", what, describeToken(tok))
		}
		if seen[key] {
			return p.errAt(kat, "%s: duplicate field %q", what, clip(key))
		}
		seen[key] = true
		if err := field(key, kat); err != nil {
			return err
		}
	}
	end := p.next()
	tok, err = p.dec.Token()
	if err != nil {
		return p.syntax(end, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '}' {
		return p.errAt(end, "%s: malformed JSON, want '}'", what)
	}
	return nil
}

// value decodes one value into dst, which is a *string, *int, *bool or *[]string.
func (p *jsonParser) value(what, field string, dst any) error {
	at := p.next()
	var raw json.RawMessage
	if err := p.dec.Decode(&raw); err != nil {
		return p.syntax(at, err)
	}
	if string(raw) == "null" {
		return nil // leaves the zero value; Validate says what is missing
	}
	var err error
	switch d := dst.(type) {
	case *int:
		if c := raw[0]; c != '-' && (c < '0' || c > '9') {
			return p.errAt(at, "%s: field %q: want a whole number, got %s", what, field, describeRaw(raw))
		}
		n, perr := strconv.ParseInt(string(raw), 10, 32)
		if perr != nil {
			return p.errAt(at, "%s: field %q: want a whole number, got %s", what, field, clip(string(raw)))
		}
		*d = int(n)
	default:
		err = json.Unmarshal(raw, dst)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return p.errAt(at, "%s: field %q: want %s, got %s", what, field, describeType(dst), te.Value)
	}
	if err != nil {
		return p.errAt(at, "%s: field %q: %v", what, field, err)
	}
	return nil
}

func describeType(dst any) string {
	switch dst.(type) {
	case *int:
		return "a whole number"
	case *bool:
		return "true or false"
	case *[]string:
		return "an array of strings"
	default:
		return "a string"
	}
}

// describeRaw names the JSON type of a raw value.
func describeRaw(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '[':
		return "an array"
	case '{':
		return "an object"
	case 't', 'f':
		return "true or false"
	}
	return "a number"
}

func describeToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '[':
			return "an array"
		case '{':
			return "an object"
		}
		return fmt.Sprintf("%q", string(t))
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "true or false"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

func (p *jsonParser) set() (*Set, error) {
	var s Set
	if p.next() == int64(len(p.data)) {
		return nil, p.errAt(0, "the input is empty; want a JSON object")
	}
	err := p.object("the set", func(key string, at int64) error {
		switch key {
		case "slug":
			return p.value("the set", key, &s.Slug)
		case "name":
			return p.value("the set", key, &s.Name)
		case "description":
			return p.value("the set", key, &s.Description)
		case "language":
			return p.value("the set", key, &s.Language)
		case "poems":
			return p.poems(&s.Poems)
		}
		return p.errAt(at, "the set: unknown field %q (known: slug, name, description, language, poems)", clip(key))
	})
	if err != nil {
		return nil, err
	}
	at := p.next()
	if _, err := p.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, p.errAt(at, "unexpected data after the set")
	}
	return &s, nil
}

func (p *jsonParser) poems(dst *[]Poem) error {
	at := p.next()
	tok, err := p.dec.Token()
	if err != nil {
		return p.syntax(at, err)
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return p.errAt(at, "the set: field \"poems\": want an array, got %s", describeToken(tok))
	}
	for i := 0; p.dec.More(); i++ {
		if i == MaxPoems {
			return p.errAt(p.next(), "the set: more than %d poems", MaxPoems)
		}
		var poem Poem
		if err := p.poem(&poem, fmt.Sprintf("poem at index %d", i)); err != nil {
			return err
		}
		*dst = append(*dst, poem)
	}
	end := p.next()
	if _, err := p.dec.Token(); err != nil {
		return p.syntax(end, err)
	}
	return nil
}

func (p *jsonParser) poem(dst *Poem, what string) error {
	return p.object(what, func(key string, at int64) error {
		switch key {
		case "number":
			return p.value(what, key, &dst.Number)
		case "title":
			return p.value(what, key, &dst.Title)
		case "lines":
			return p.value(what, key, &dst.Lines)
		case "level":
			return p.value(what, key, &dst.Level)
		case "meanings":
			return p.meanings(dst, what)
		case "story":
			return p.value(what, key, &dst.Story)
		case "uncertain":
			return p.value(what, key, &dst.Uncertain)
		case "note":
			return p.value(what, key, &dst.Note)
		}
		return p.errAt(at, "%s: unknown field %q (known: number, title, lines, level, meanings, story, uncertain, note)", what, clip(key))
	})
}

func (p *jsonParser) meanings(dst *Poem, what string) error {
	in := what + ": field \"meanings\""
	return p.object(in, func(key string, at int64) error {
		if !knownTopic(key) {
			return p.errAt(at, "%s: %q is not a topic (one of %s)", in, clip(key), topicSlugs())
		}
		var v string
		if err := p.value(in, key, &v); err != nil {
			return err
		}
		if dst.Meanings == nil {
			dst.Meanings = map[string]string{}
		}
		dst.Meanings[key] = v
		return nil
	})
}
