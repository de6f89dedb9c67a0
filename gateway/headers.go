package gateway

import (
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/helmet"
)

// securityHeaders go on every response: nothing here is meant to be framed, sniffed, or to leak
// its URL to another site. The policy suits the JSON API and a future web app served by the
// same origin (its scripts, styles and API calls all from 'self'). HSTS is hsts's (server.go):
// helmet would believe an X-Forwarded-Proto from anyone.
var securityHeaders = helmet.New(helmet.Config{
	ContentTypeNosniff: "nosniff",
	XFrameOptions:      "DENY",
	ReferrerPolicy:     "no-referrer",
	ContentSecurityPolicy: "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; " +
		"object-src 'none'",
	CrossOriginOpenerPolicy:   "same-origin",
	CrossOriginResourcePolicy: "same-origin",
	PermissionPolicy:          "camera=(), microphone=(), geolocation=(), payment=()",
})

// noStore keeps every /api/v1 answer out of caches: they carry tokens (login, refresh), money
// and personal data. A handler may still say otherwise for its own answer.
func noStore(c *fiber.Ctx) error {
	if strings.HasPrefix(c.Path(), "/api/") {
		c.Set(fiber.HeaderCacheControl, "no-store")
	}
	return c.Next()
}
