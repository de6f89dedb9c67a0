package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/persistence"
)

// decode reads a JSON object body strictly: every string (keys too) valid UTF-8 without NUL or
// other control characters but tab, newline and carriage return; no unknown fields, no trailing
// data, numbers that fit their Go types. optional allows an empty body. Errors: invalid
// (invalid_body, naming the field).
func decode(c *fiber.Ctx, v any, optional bool) error {
	body := bytes.TrimSpace(c.Body())
	if len(body) == 0 {
		if optional {
			return nil
		}
		return dw.Coded(dw.KindInvalid, "invalid_body", "the request body is empty: send a JSON object")
	}
	if err := checkJSONText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return dw.Coded(dw.KindInvalid, "invalid_body", "%s", describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return dw.Coded(dw.KindInvalid, "invalid_body", "the body holds more than one JSON value")
	}
	return nil
}

// checkJSONText checks every string of a JSON document, keys included, as badText does (multiline
// allowed) and names the first bad one by its path (poems[2].lines[0]). encoding/json would
// silently turn invalid UTF-8 into U+FFFD, so each string is also checked on its raw bytes. A
// syntax error is left for the decoder to describe. Errors: invalid (invalid_body).
func checkJSONText(body []byte) error {
	type frame struct {
		array bool
		index int    // array: the element being read
		key   string // object: the key of the value being read
		inKey bool   // object: the next token is a key
	}
	var stack []frame
	name := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.array {
				fmt.Fprintf(&b, "[%d]", f.index)
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		}
		if b.Len() == 0 {
			return "(the body)"
		}
		return b.String()
	}
	done := func() { // a value of the innermost container ended
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].inKey = true
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil // end of input, or a syntax error decode will describe
		}
		raw := body[start:dec.InputOffset()]
		isKey := len(stack) > 0 && stack[len(stack)-1].inKey
		if s, ok := tok.(string); ok {
			msg := badText(s, true, 0)
			if !utf8.Valid(raw) {
				msg = "is not valid UTF-8"
			}
			if msg != "" {
				if isKey {
					return dw.Coded(dw.KindInvalid, "invalid_body", "a field name in %s %s", name(), msg)
				}
				return dw.Coded(dw.KindInvalid, "invalid_body", "field %s %s", name(), msg)
			}
			if isKey {
				stack[len(stack)-1].key, stack[len(stack)-1].inKey = s, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{inKey: true})
		case json.Delim('['):
			stack = append(stack, frame{array: true})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			done()
		default:
			done()
		}
	}
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q must be %s (got %s that does not fit)", typ.Field, jsonType(typ.Type.Kind().String()), typ.Value)
		}
		return "the body must be a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: the body ends too early"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON: " + err.Error()
}

func jsonType(kind string) string {
	switch kind {
	case "int64", "int", "int32":
		return "an integer within ±9223372036854775807"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	}
	return "of another type"
}

// pageSize reads page_size (default 50, 1..500).
func pageSize(c *fiber.Ctx) (int, error) {
	s := c.Query("page_size")
	if s == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 500 {
		return 0, dw.Coded(dw.KindInvalid, "invalid_query", "page_size must be an integer from 1 to 500")
	}
	return n, nil
}

// timeParam reads an RFC 3339 time or a date (YYYY-MM-DD, UTC midnight).
func timeParam(c *fiber.Ctx, name string) (time.Time, error) {
	s := c.Query(name)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, dw.Coded(dw.KindInvalid, "invalid_query", "%s must be an RFC 3339 time (2026-01-31T12:00:00Z) or a date (2026-01-31)", name)
}

func oneOf(c *fiber.Ctx, name string, allowed ...string) (string, error) {
	v := c.Query(name)
	if v == "" {
		return "", nil
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", dw.Coded(dw.KindInvalid, "invalid_query", "%s must be one of %s", name, strings.Join(allowed, ", "))
}

// pageParams reads a listing's sort (created_at or -created_at), from, to, page_size and cursor.
func pageParams(c *fiber.Ctx) (persistence.Page, error) {
	var p persistence.Page
	sort, err := oneOf(c, "sort", "created_at", "-created_at")
	if err != nil {
		return p, err
	}
	p.Asc = sort == "created_at"
	if p.From, err = timeParam(c, "from"); err != nil {
		return p, err
	}
	if p.To, err = timeParam(c, "to"); err != nil {
		return p, err
	}
	if p.Limit, err = pageSize(c); err != nil {
		return p, err
	}
	p.After, err = persistence.DecodeCursor(c.Query("cursor"))
	return p, err
}
