package gateway

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// securityHeaders go on every response: nothing here is meant to be framed, sniffed, or to leak
// its URL to another site. The policy suits the JSON API and a future web app served by the
// same origin (its scripts, styles and API calls all from 'self'). HSTS is hsts's (server.go).
//
// The set is fiber's helmet middleware's, with our policy; it is written here as canonical
// header lines set without re-normalising their names, because helmet's thirteen c.Set calls
// were 4% of the CPU of a GET on a wallet (scripts/bench-http.sh).
var securityHeaderLines = [][2][]byte{
	{[]byte("X-Xss-Protection"), []byte("0")},
	{[]byte("X-Content-Type-Options"), []byte("nosniff")},
	{[]byte("X-Frame-Options"), []byte("DENY")},
	{[]byte("Cross-Origin-Embedder-Policy"), []byte("require-corp")},
	{[]byte("Cross-Origin-Opener-Policy"), []byte("same-origin")},
	{[]byte("Cross-Origin-Resource-Policy"), []byte("same-origin")},
	{[]byte("Origin-Agent-Cluster"), []byte("?1")},
	{[]byte("Referrer-Policy"), []byte("no-referrer")},
	{[]byte("X-Dns-Prefetch-Control"), []byte("off")},
	{[]byte("X-Download-Options"), []byte("noopen")},
	{[]byte("X-Permitted-Cross-Domain-Policies"), []byte("none")},
	{[]byte("Content-Security-Policy"), []byte("default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'")},
	{[]byte("Permissions-Policy"), []byte("camera=(), microphone=(), geolocation=(), payment=()")},
}

// securityHeaders sets securityHeaderLines; formActions are origins besides 'self' that the
// app's forms may post to (a payment provider's checkout, e.g. ECPay's AIO form).
func securityHeaders(formActions []string) fiber.Handler {
	lines := securityHeaderLines
	if len(formActions) > 0 {
		lines = append([][2][]byte(nil), securityHeaderLines...)
		for i, kv := range lines {
			if string(kv[0]) == "Content-Security-Policy" {
				csp := strings.Replace(string(kv[1]), "form-action 'self'", "form-action 'self' "+strings.Join(formActions, " "), 1)
				lines[i][1] = []byte(csp)
			}
		}
	}
	return func(c *fiber.Ctx) error {
		h := &c.Response().Header
		for _, kv := range lines {
			h.SetCanonical(kv[0], kv[1])
		}
		return c.Next()
	}
}

// noStore keeps every /api/v1 answer out of caches: they carry tokens (login, refresh), money
// and personal data. A handler may still say otherwise for its own answer.
func noStore(c *fiber.Ctx) error {
	if strings.HasPrefix(c.Path(), "/api/") {
		c.Set(fiber.HeaderCacheControl, "no-store")
	}
	return c.Next()
}
