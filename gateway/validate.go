package gateway

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/wallet"
)

// Limits on the strings a request carries outside its body. Each handler has its own, tighter
// rules (a uuid, a slug, page_size 1..500); these only keep garbage from reaching any of them.
const (
	maxPathSegment = 256
	maxQueryValue  = 4096
	maxHeaderValue = 8192 // Authorization: a JWT is a few hundred bytes
)

// checkInput is the one check of every string a request carries outside its body — path
// segments, query names and values, and the headers and cookie the API reads — before any
// route, guard, hold or grain sees them: valid UTF-8 without NUL or other control characters,
// and bounded. The body is checked by decode. Errors: invalid (invalid_path, invalid_query,
// invalid_header, invalid_idempotency_key, reserved_idempotency_key), naming the field.
func checkInput(c *fiber.Ctx) error {
	if err := checkPath(c.Path()); err != nil {
		return err
	}
	var err error
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if err != nil {
			return
		}
		name := string(k)
		if msg := badText(name, false, maxQueryValue); msg != "" {
			err = dw.Coded(dw.KindInvalid, "invalid_query", "a query parameter's name %s", msg)
		} else if msg := badText(string(v), false, maxQueryValue); msg != "" {
			err = dw.Coded(dw.KindInvalid, "invalid_query", "query parameter %s %s", name, msg)
		}
	})
	if err != nil {
		return err
	}
	if key := c.Get("Idempotency-Key"); key != "" {
		if err := wallet.CheckClientKey(key); err != nil {
			return err
		}
	}
	for _, h := range []string{"Authorization", "X-Request-Id"} {
		if msg := badASCII(c.Get(h), maxHeaderValue); msg != "" {
			if h == "X-Request-Id" { // observe took it as the trace id: answer with a fresh one
				fresh := uuid.NewString()
				c.Locals(localKey, fresh)
				c.Set("X-Request-Id", fresh)
			}
			return dw.Coded(dw.KindInvalid, "invalid_header", "header %s %s", h, msg)
		}
	}
	if msg := badASCII(c.Cookies(refreshCookie), maxHeaderValue); msg != "" {
		return dw.Coded(dw.KindInvalid, "invalid_header", "cookie %s %s", refreshCookie, msg)
	}
	return c.Next()
}

// plainPath says whether path needs no closer look: printable ASCII without percent-escapes,
// each segment within maxPathSegment (nearly every request's).
func plainPath(path string) bool {
	seg := 0
	for i := 0; i < len(path); i++ {
		switch b := path[i]; {
		case b == '/':
			seg = 0
			continue
		case b < 0x20 || b > 0x7e || b == '%':
			return false
		}
		if seg++; seg > maxPathSegment {
			return false
		}
	}
	return true
}

// checkPath checks each segment of a request path, percent-decoded, and names the route
// parameter it would fill.
func checkPath(path string) error {
	if plainPath(path) {
		return nil
	}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		text, err := url.PathUnescape(seg)
		msg := ""
		switch {
		case err != nil:
			msg = "is not validly percent-encoded"
		case len(text) > maxPathSegment:
			msg = fmt.Sprintf("is longer than %d bytes", maxPathSegment)
		default:
			msg = badText(text, false, maxPathSegment)
		}
		if msg != "" {
			return dw.Coded(dw.KindInvalid, "invalid_path", "path parameter %s %s", segmentName(segs, i), msg)
		}
	}
	return nil
}

// segmentName names path segment i by the route parameter it fills (id, set, n, ...), or by its
// position when no route has a parameter there.
func segmentName(segs []string, i int) string {
	for _, r := range apiRoutes {
		rs := strings.Split(r.path, "/")
		if len(rs) != len(segs) || !strings.HasPrefix(rs[i], ":") {
			continue
		}
		match := true
		for j, s := range rs {
			if j != i && !strings.HasPrefix(s, ":") && s != segs[j] {
				match = false
				break
			}
		}
		if match {
			return rs[i][1:]
		}
	}
	return fmt.Sprintf("(segment %d)", i)
}

// badText says what is wrong with s as text from outside, "" when nothing: invalid UTF-8, a NUL
// or another control character (tab, newline and carriage return are allowed where multiline),
// or more than max bytes (max 0: no limit).
func badText(s string, multiline bool, max int) string {
	if max > 0 && len(s) > max {
		return fmt.Sprintf("is longer than %d bytes", max)
	}
	if printableASCII(s) { // nearly every value: one pass over its bytes
		return ""
	}
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, r := range s {
		if r == '\t' || r == '\n' || r == '\r' {
			if multiline {
				continue
			}
		} else if !isControl(r) {
			continue
		}
		if r == 0 {
			return "holds a NUL byte"
		}
		return fmt.Sprintf("holds the control character %U", r)
	}
	return ""
}

// isControl: C0, DEL and C1 (which unicode.IsControl also says, spelt out here for the reader).
func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }

// printableASCII says whether every byte of s is printable ASCII (space to ~).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// badASCII is badText for header values, which are printable ASCII here (tokens, keys, ids).
func badASCII(s string, max int) string {
	if len(s) <= max && printableASCII(s) {
		return ""
	}
	if msg := badText(s, false, max); msg != "" {
		return msg
	}
	for i := 0; i < len(s); i++ {
		if s[i] > 0x7e {
			return "must be printable ASCII"
		}
	}
	return ""
}
