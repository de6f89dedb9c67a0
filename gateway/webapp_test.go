package gateway_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/divinewhispers/dw/fortune"
	"github.com/divinewhispers/dw/gateway"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/web"
)

var updateOpenAPI = flag.Bool("update-openapi", false, "rewrite web/openapi.json from the gateway's OpenAPI document")

// webGateway serves a gateway without a database or cluster: enough for the web app's files,
// the 404s and the OpenAPI document.
func webGateway(t *testing.T, app fstest.MapFS) (string, *http.Client) {
	t.Helper()
	cfg := gateway.Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if app != nil {
		cfg.WebApp = app
	}
	return serveGateway(t, gateway.New(cfg))
}

func get(t *testing.T, client *http.Client, url string) (*http.Response, string) {
	t.Helper()
	res, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// TestWebAppServing: / and the app's own routes answer index.html (revalidated), hashed assets
// are cached for a year with their type, a missing asset and unknown API paths are 404s (the
// API's as problem+json), and the CSP and no-store rules stay as they were.
func TestWebAppServing(t *testing.T) {
	t.Parallel()
	app := fstest.MapFS{
		"index.html":                {Data: []byte(`<!doctype html><script type="module" src="/assets/index-abc123.js"></script>`)},
		"assets/index-abc123.js":    {Data: []byte(`console.log("app")`)},
		"assets/index-abc123.css":   {Data: []byte(`body{}`)},
		"favicon.svg":               {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
		"manifest.webmanifest":      {Data: []byte(`{"name":"靈籤 Divine Whispers"}`)},
		"sw.js":                     {Data: []byte(`self.addEventListener("fetch",()=>{})`)},
		"assets/poem-cloud-9f8e.js": {Data: []byte(`export{}`)},
		"assets/big-77aa.js":        {Data: []byte(strings.Repeat("export const poem = '籤詩';\n", 200))},
	}
	base, client := webGateway(t, app)
	for _, tc := range []struct {
		path, status, ctype, cache, body string
	}{
		{"/", "200", "text/html", "no-cache", "/assets/index-abc123.js"},
		{"/draw", "200", "text/html", "no-cache", "/assets/index-abc123.js"},
		{"/jobs/0190-abc", "200", "text/html", "no-cache", "/assets/index-abc123.js"},
		{"/reset-password?token=AbC-_123", "200", "text/html", "no-cache", "/assets/index-abc123.js"}, // the reset mail's link
		{"/index.html", "200", "text/html", "no-cache", "/assets/index-abc123.js"},
		{"/assets/index-abc123.js", "200", "text/javascript", "public, max-age=31536000, immutable", `console.log("app")`},
		{"/assets/index-abc123.css", "200", "text/css", "public, max-age=31536000, immutable", "body{}"},
		{"/favicon.svg", "200", "image/svg+xml", "no-cache", "<svg"},
		{"/manifest.webmanifest", "200", "application/manifest+json", "no-cache", "Divine Whispers"},
		{"/sw.js", "200", "text/javascript", "no-cache", "fetch"}, // revalidated: a new build's worker is found at once
		{"/assets/gone-123.js", "404", "application/problem+json", "", "route_not_found"},
		{"/robots.txt", "404", "application/problem+json", "", "route_not_found"},
		{"/api/v1/nothing", "404", "application/problem+json", "no-store", "route_not_found"},
		{"/api", "404", "application/problem+json", "", "route_not_found"},
	} {
		res, body := get(t, client, base+tc.path)
		if got := res.Status[:3]; got != tc.status {
			t.Errorf("GET %s: status %s, want %s (%s)", tc.path, got, tc.status, body)
		}
		if got := res.Header.Get("Content-Type"); !strings.HasPrefix(got, tc.ctype) {
			t.Errorf("GET %s: Content-Type %q, want %s…", tc.path, got, tc.ctype)
		}
		if got := res.Header.Get("Cache-Control"); got != tc.cache {
			t.Errorf("GET %s: Cache-Control %q, want %q", tc.path, got, tc.cache)
		}
		if !strings.Contains(body, tc.body) {
			t.Errorf("GET %s: body %.200q lacks %q", tc.path, body, tc.body)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", tc.path, csp)
		}
	}
	// Text files are sent gzipped to a client that takes gzip (and plain to one that does not).
	for _, accept := range []string{"gzip, deflate, br", ""} {
		req, _ := http.NewRequest("GET", base+"/assets/big-77aa.js", nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept) // set by hand: the transport leaves the body as sent
		} else {
			req.Header.Set("Accept-Encoding", "identity")
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		body := raw
		if accept != "" {
			if res.Header.Get("Content-Encoding") != "gzip" || len(raw) >= len(app["assets/big-77aa.js"].Data) {
				t.Errorf("Accept-Encoding %q: Content-Encoding %q, %d bytes", accept, res.Header.Get("Content-Encoding"), len(raw))
			}
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		} else if res.Header.Get("Content-Encoding") != "" {
			t.Errorf("no gzip accepted: Content-Encoding %q", res.Header.Get("Content-Encoding"))
		}
		if !bytes.Equal(body, app["assets/big-77aa.js"].Data) || res.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: %d bytes, Vary %q", accept, len(body), res.Header.Get("Vary"))
		}
	}

	req, _ := http.NewRequest("POST", base+"/draw", nil)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("POST /draw: status %d, want 404 (only GET serves the app)", res.StatusCode)
	}
}

// TestWebAppFallback: a binary built without the web app (`go build` alone) serves the page
// saying how to build it, or the embedded build when there is one.
func TestWebAppFallback(t *testing.T) {
	t.Parallel()
	base, client := webGateway(t, nil)
	res, body := get(t, client, base+"/")
	if res.StatusCode != 200 {
		t.Fatalf("GET /: %d %s", res.StatusCode, body)
	}
	if built, ok := web.Assets(); ok {
		index, err := built.Open("index.html")
		if err != nil {
			t.Fatal(err)
		}
		want, _ := io.ReadAll(index)
		index.Close()
		if body != string(want) {
			t.Errorf("GET /: not the embedded build's index.html")
		}
		return
	}
	if !strings.Contains(body, "make build") || body != string(web.Fallback()) {
		t.Errorf("GET / without a build: %.300q, want the fallback page", body)
	}
}

// TestWebAppOpenAPIDump: web/openapi.json, from which the web app's TypeScript types are
// generated (npm run gen), is the gateway's current OpenAPI document. After changing the API:
// go test ./gateway -run TestWebAppOpenAPIDump -update-openapi, then npm run gen in web/.
func TestWebAppOpenAPIDump(t *testing.T) {
	t.Parallel()
	base, client := webGateway(t, nil)
	_, body := get(t, client, base+"/api/v1/openapi.json")
	var doc any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	want, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	const file = "../web/openapi.json"
	if *updateOpenAPI {
		if err := os.WriteFile(file, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go test ./gateway -run TestWebAppOpenAPIDump -update-openapi, then npm run gen in web/", file)
	}
}

// TestGetDraw: GET /api/v1/draws/{id} answers the caller's own draw with its poem, and a
// stranger's, a deleted or a malformed id as 404 not_found.
func TestGetDraw(t *testing.T) {
	t.Parallel()
	tn := authGateway(t, func(*node.Config) {})
	tn.makeAdmin("draw-admin@example.com")
	for _, set := range fortune.Bundled() {
		if err := tn.store.EnsureSet(t.Context(), set); err != nil {
			t.Fatal(err)
		}
	}
	owner, other := tn.newUser("user"), tn.newUser("user")
	var d struct {
		ID     string `json:"id"`
		Set    string `json:"set"`
		Number int    `json:"number"`
		Poem   struct {
			Number int      `json:"number"`
			Lines  []string `json:"lines"`
		} `json:"poem"`
	}
	decodeInto(t, tn.do("POST", "/api/v1/draws", owner.Access, map[string]any{"set": "liushi-jiazi", "confirm": true}), 201, &d)
	var got struct {
		ID     string `json:"id"`
		Number int    `json:"number"`
		Poem   struct {
			Number int      `json:"number"`
			Lines  []string `json:"lines"`
		} `json:"poem"`
	}
	decodeInto(t, tn.do("GET", "/api/v1/draws/"+d.ID, owner.Access, nil), 200, &got)
	if got.ID != d.ID || got.Number != d.Number || got.Poem.Number != d.Number || len(got.Poem.Lines) != 4 {
		t.Errorf("GET draw: %+v, want the draw %+v with its poem", got, d)
	}
	wantProblem(t, "a stranger's draw", tn.do("GET", "/api/v1/draws/"+d.ID, other.Access, nil), 404, "not_found")
	wantProblem(t, "a malformed id", tn.do("GET", "/api/v1/draws/not-a-uuid", owner.Access, nil), 404, "not_found")
	decodeInto(t, tn.do("DELETE", "/api/v1/draws/"+d.ID, owner.Access, nil), 204, nil)
	wantProblem(t, "a deleted draw", tn.do("GET", "/api/v1/draws/"+d.ID, owner.Access, nil), 404, "not_found")
	wantProblem(t, "no token", tn.do("GET", "/api/v1/draws/"+d.ID, "", nil), 401, "missing_token")
}
