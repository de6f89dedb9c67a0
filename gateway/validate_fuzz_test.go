package gateway

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	dw "github.com/divinewhispers/dw"
)

// FuzzCheckInput: paths, queries, Idempotency-Keys and bodies come from anyone. The gateway's
// one string validation (checkInput, then decode) must never panic nor answer 5xx, and what it
// lets through to a handler holds no NUL, no other control character (but tab, newline and
// carriage return in bodies) and no invalid UTF-8, whatever the escaping.
func FuzzCheckInput(f *testing.F) {
	for _, s := range []struct{ path, query, key, body string }{
		{"abc", "page_size=10", "0195f3c2-7b7e-7c4e-9d5e-8e1f2a3b4c5d", `{"question":"q","number":1}`},
		{"a%00b", "", "", `{}`},
		{"a%FFb", "set=%00", "k", `{"a":"\u0000"}`},
		{"a\xffb", "set=%FF", "k\xff", "{\"a\":\"\xff\"}"},
		{"%C0%AF", "q=a%C0%AFb", "job-hold:1", `{"a":["ok","\u0007"]}`},
		{"%zz", "%00=1", "auto:x", `{"a":{"b\u0000":"c"}}`},
		{"n", "page_size=99999999999", "", `{"number":99999999999}`},
		{"n", "top=1e30", "", `{"number":1e30,"amount":-1,"x":1.5}`},
		{"n", "limit=-1", "", `{"a":"\ud800"}`},
		{"x", "a=b&a=%0a", "key with spaces", "{\"a\":\"line\\nline\\ttab\\r\"}"},
		{"x", "", strings.Repeat("k", 201), `[{"a":"\u001f"},"\u007f","\u0085"]`},
	} {
		f.Add(s.path, s.query, s.key, []byte(s.body))
	}
	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		var fe *fiber.Error
		if errors.As(err, &fe) {
			return c.Status(fe.Code).SendString("fiber")
		}
		return c.Status(kindStatus[dw.KindOf(err)]).SendString(dw.CodeOf(err))
	}})
	app.Use(checkInput)
	app.Post("/f/:p", func(c *fiber.Ctx) error {
		var v any
		if err := decode(c, &v, true); err != nil {
			return err
		}
		seen := []string{c.Get("Idempotency-Key")}
		p, err := url.PathUnescape(c.Params("p"))
		if err != nil {
			return c.Status(598).SendString("leak: undecodable path " + c.Params("p"))
		}
		seen = append(seen, p)
		c.Context().QueryArgs().VisitAll(func(k, val []byte) { seen = append(seen, string(k), string(val)) })
		for _, s := range seen {
			if msg := badText(s, false, 0); msg != "" {
				return c.Status(598).SendString(fmt.Sprintf("leak: %q %s", s, msg))
			}
		}
		if msg := badJSONValue(v); msg != "" {
			return c.Status(598).SendString("leak: body " + msg)
		}
		return c.SendString("ok")
	})
	handler := app.Handler()
	f.Fuzz(func(t *testing.T, path, query, key string, body []byte) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/f/" + path + "?" + query)
		if key != "" {
			ctx.Request.Header.Set("Idempotency-Key", key)
		}
		ctx.Request.SetBody(body)
		handler(&ctx)
		status, out := ctx.Response.StatusCode(), string(ctx.Response.Body())
		switch {
		case status == 200 && out == "ok":
		case status == 400 || status == 404:
		default:
			t.Fatalf("path %q query %q key %q body %q: %d %s", path, query, key, body, status, out)
		}
	})
}

// badJSONValue says what is wrong with the first bad string of a decoded JSON value.
func badJSONValue(v any) string {
	switch v := v.(type) {
	case string:
		if msg := badText(v, true, 0); msg != "" {
			return fmt.Sprintf("%q %s", v, msg)
		}
	case []any:
		for _, e := range v {
			if msg := badJSONValue(e); msg != "" {
				return msg
			}
		}
	case map[string]any:
		for k, e := range v {
			if msg := badJSONValue(k); msg != "" {
				return "key " + msg
			}
			if msg := badJSONValue(e); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// TestBadText pins the rule the fuzz property checks against.
func TestBadText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s         string
		multiline bool
		bad       bool
	}{
		{"plain", false, false}, {"問卦", false, false}, {"a\tb", false, true}, {"a\tb\nc\r", true, false},
		{"a\x00b", true, true}, {"a\x07b", true, true}, {"a\x7fb", true, true}, {"a\u0085b", true, true},
		{"a\xffb", true, true}, {"\xc0\xaf", true, true}, {string(utf8.RuneError), false, false},
	} {
		if got := badText(tc.s, tc.multiline, 0) != ""; got != tc.bad {
			t.Errorf("badText(%q, %v) bad = %v, want %v", tc.s, tc.multiline, got, tc.bad)
		}
	}
}
