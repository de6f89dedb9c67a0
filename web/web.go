// Package web holds the web app's assets for the gateway to serve: the Vite build under
// build/app (made by `make build`, not committed), or, in a binary built without it, a page
// saying how to build it.
package web

import (
	"embed"
	"io/fs"
)

// build/.keep is committed so that the embed pattern matches on a fresh clone; Vite writes
// build/app (ignored by git).
//
//go:embed all:build
var build embed.FS

//go:embed fallback.html
var fallback []byte

// Assets returns the built app (index.html at its root) and true, or nil and false when the
// binary was built without `make build`.
func Assets() (fs.FS, bool) {
	app, err := fs.Sub(build, "build/app")
	if err != nil {
		return nil, false
	}
	if _, err := fs.Stat(app, "index.html"); err != nil {
		return nil, false
	}
	return app, true
}

// Fallback is the page served at / when the app was not built.
func Fallback() []byte { return fallback }
