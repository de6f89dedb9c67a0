package gateway

import (
	"bytes"
	"compress/gzip"
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

// The web app manifest's own media type (the system's table may lack it).
func init() { _ = mime.AddExtensionType(".webmanifest", "application/manifest+json") }

// webFile is one file of the web app, read once, with its gzip form when that is smaller.
type webFile struct {
	data, gz     []byte
	ctype, cache string
}

func newWebFile(name string, data []byte) webFile {
	f := webFile{data: data, ctype: mime.TypeByExtension(path.Ext(name)), cache: cacheFresh}
	if f.ctype == "" {
		f.ctype = "application/octet-stream"
	}
	if strings.HasPrefix(name, "assets/") {
		f.cache = cacheHashed
	}
	if compressible(f.ctype) && len(data) > 512 {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		if _, err := zw.Write(data); err == nil && zw.Close() == nil && b.Len() < len(data) {
			f.gz = b.Bytes()
		}
	}
	return f
}

func compressible(ctype string) bool {
	for _, p := range []string{"text/", "application/javascript", "application/json", "image/svg+xml", "application/manifest+json"} {
		if strings.HasPrefix(ctype, p) {
			return true
		}
	}
	return false
}

func (f webFile) send(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, f.ctype)
	c.Set(fiber.HeaderCacheControl, f.cache)
	if f.gz != nil {
		c.Vary(fiber.HeaderAcceptEncoding)
		if strings.Contains(c.Get(fiber.HeaderAcceptEncoding), "gzip") {
			c.Set(fiber.HeaderContentEncoding, "gzip")
			return c.Send(f.gz)
		}
	}
	return c.Send(f.data)
}

// webApp serves the web app (package web: the embedded Vite build, or a page saying how to
// build it) at /: its files, gzipped for clients that take it, and index.html for every other
// GET outside the API, so the app's own routes (/draw, /history, ...) load on a reload.
// Registered after the API routes: an unknown /api/ path still answers a problem+json 404.
func (s *Server) webApp() {
	assets := s.cfg.WebApp
	if assets == nil {
		if a, ok := web.Assets(); ok {
			assets = a
		}
	}
	files := map[string]webFile{}
	if assets != nil {
		_ = fs.WalkDir(assets, ".", func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if b, err := fs.ReadFile(assets, name); err == nil {
				files[name] = newWebFile(name, b)
			}
			return nil
		})
	}
	index, ok := files["index.html"]
	if !ok {
		index = newWebFile("index.html", web.Fallback())
	}
	index.ctype = fiber.MIMETextHTMLCharsetUTF8
	s.App.Use(func(c *fiber.Ctx) error {
		if m := c.Method(); m != fiber.MethodGet && m != fiber.MethodHead {
			return c.Next()
		}
		p := c.Path()
		if p == "/api" || strings.HasPrefix(p, "/api/") || p == "/metrics" {
			return c.Next()
		}
		name := strings.TrimPrefix(path.Clean(p), "/")
		if name == "" || name == "index.html" {
			return index.send(c)
		}
		if f, ok := files[name]; ok {
			return f.send(c)
		}
		if strings.HasPrefix(name, "assets/") || path.Ext(name) != "" {
			return c.Next() // a missing file is a 404, not the app
		}
		return index.send(c)
	})
}
