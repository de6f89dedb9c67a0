package gateway

import (
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/divinewhispers/dw/web"
)

// Cache lifetimes of the web app's files: Vite names the files under assets/ by a hash of their
// content, so they never change; index.html and the others must be revalidated.
const (
	cacheHashed = "public, max-age=31536000, immutable"
	cacheFresh  = "no-cache"
)

// webApp serves the web app (package web: the embedded Vite build, or a page saying how to
// build it) at /: its files, and index.html for every other GET outside the API, so the app's
// own routes (/draw, /history, ...) load on a reload. Registered after the API routes: an
// unknown /api/ path still answers a problem+json 404.
func (s *Server) webApp() {
	assets := s.cfg.WebApp
	if assets == nil {
		if a, ok := web.Assets(); ok {
			assets = a
		}
	}
	index := web.Fallback()
	if assets != nil {
		if b, err := fs.ReadFile(assets, "index.html"); err == nil {
			index = b
		} else {
			assets = nil
		}
	}
	s.App.Use(func(c *fiber.Ctx) error {
		if m := c.Method(); m != fiber.MethodGet && m != fiber.MethodHead {
			return c.Next()
		}
		p := c.Path()
		if p == "/api" || strings.HasPrefix(p, "/api/") || p == "/metrics" {
			return c.Next()
		}
		name := strings.TrimPrefix(path.Clean(p), "/")
		if name == "index.html" {
			name = ""
		}
		if assets != nil && name != "" && fs.ValidPath(name) {
			if b, err := fs.ReadFile(assets, name); err == nil {
				ctype := mime.TypeByExtension(path.Ext(name))
				if ctype == "" {
					ctype = "application/octet-stream"
				}
				c.Set(fiber.HeaderContentType, ctype)
				if strings.HasPrefix(name, "assets/") {
					c.Set(fiber.HeaderCacheControl, cacheHashed)
				} else {
					c.Set(fiber.HeaderCacheControl, cacheFresh)
				}
				return c.Send(b)
			}
		}
		if strings.HasPrefix(name, "assets/") || path.Ext(name) != "" {
			return c.Next() // a missing file is a 404, not the app
		}
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		c.Set(fiber.HeaderCacheControl, cacheFresh)
		return c.Send(index)
	})
}
