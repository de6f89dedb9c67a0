package gateway

import (
	"bytes"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"

	dw "github.com/divinewhispers/dw"
)

// FuzzDecode: request bodies come from anyone. decode must accept a well-formed object or
// answer an invalid_body error, never panic or let a malformed body through half-read.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"amount":10,"reference_id":"p1"}`, `{"amount":1e30}`, `{"amount":-5}`,
		`{"amount":10,"bogus":1}`, `{"amount":10}{"amount":11}`, `[1,2]`, `{"amount":"10"}`, `{`, ``, `null`,
		`{"amount":9223372036854775808}`, "{\"reference_id\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	app := fiber.New(fiber.Config{ErrorHandler: func(c *fiber.Ctx, err error) error {
		return c.Status(599).SendString(dw.CodeOf(err))
	}})
	app.Post("/", func(c *fiber.Ctx) error {
		var in amountRequest
		if err := decode(c, &in, false); err != nil {
			return err
		}
		return c.SendString("ok")
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := app.Test(httptest.NewRequest("POST", "/", bytes.NewReader(body)), -1)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		switch {
		case resp.StatusCode == 200 && string(out) == "ok":
		case resp.StatusCode == 599 && string(out) == "invalid_body":
		default:
			t.Fatalf("body %q: %d %q", body, resp.StatusCode, out)
		}
	})
}
