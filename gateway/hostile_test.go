package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/persistence"
)

// rawDo sends one request exactly as given (raw bytes in the target and the header values,
// which net/http refuses or escapes) on a connection of its own.
func (tn *testNode) rawDo(method, target string, h hdr, body []byte) response {
	tn.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(tn.base, "http://"))
	if err != nil {
		tn.t.Fatal(err)
	}
	defer conn.Close()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n", method, target)
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s: %s\r\n", k, h[k])
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	if _, err := conn.Write(b.Bytes()); err != nil {
		tn.t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		tn.t.Fatalf("%s %q: %v", method, target, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Header: res.Header, Body: out}
}

// apiOp is one operation of the served OpenAPI document, with what a request to it may carry.
type apiOp struct {
	method, path string // path as in the document: /wallets/{id}
	query        []string
	idempotent   bool
	body         map[string]string // property → "string", "strings", "map", "number"
}

// apiOps reads every operation of /api/v1 from the node's own OpenAPI document (built from the
// gateway's route table), so that a route added later is covered here without a new row.
func (tn *testNode) apiOps() []apiOp {
	tn.t.Helper()
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]schema `json:"schemas"`
		} `json:"components"`
	}
	decodeInto(tn.t, tn.do("GET", "/api/v1/openapi.json", "", nil), 200, &doc)
	var ops []apiOp
	for path, item := range doc.Paths {
		if !strings.HasPrefix(path, "/api/v1/") || path == "/api/v1/openapi.json" {
			continue
		}
		for method, raw := range item {
			var op struct {
				Parameters []struct {
					Name string `json:"name"`
					In   string `json:"in"`
				} `json:"parameters"`
				RequestBody struct {
					Content map[string]struct {
						Schema schema `json:"schema"`
					} `json:"content"`
				} `json:"requestBody"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				tn.t.Fatalf("%s %s: %v", method, path, err)
			}
			o := apiOp{method: strings.ToUpper(method), path: path}
			for _, p := range op.Parameters {
				switch p.In {
				case "query":
					o.query = append(o.query, p.Name)
				case "header":
					o.idempotent = o.idempotent || p.Name == "Idempotency-Key"
				}
			}
			if c, ok := op.RequestBody.Content["application/json"]; ok {
				o.body = map[string]string{}
				s := doc.Components.Schemas[strings.TrimPrefix(c.Schema.Ref, "#/components/schemas/")]
				for name, p := range s.Properties {
					switch {
					case p.Type == "string":
						o.body[name] = "string"
					case p.Type == "array" && p.Items != nil && p.Items.Type == "string":
						o.body[name] = "strings"
					case p.Type == "object" && p.AdditionalProperties != nil:
						o.body[name] = "map"
					case p.Type == "integer" || p.Type == "number" || len(p.OneOf) > 0:
						o.body[name] = "number"
					}
				}
			}
			ops = append(ops, o)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path+ops[i].method < ops[j].path+ops[j].method })
	return ops
}

type schema struct {
	Ref                  string            `json:"$ref"`
	Type                 string            `json:"type"`
	Properties           map[string]schema `json:"properties"`
	Items                *schema           `json:"items"`
	AdditionalProperties any               `json:"additionalProperties"`
	OneOf                []schema          `json:"oneOf"`
}

// hostileFixture is what valid requests to every route need: ids that exist, and a body per
// route that the route accepts (or refuses only for reasons unrelated to encoding).
type hostileFixture struct {
	params map[string]string // "{id} of /api/v1/wallets" style keys: see fill
	bodies map[string]string // "METHOD /path" → a valid JSON body
	query  map[string]string // path → query parameters the route requires ("name=v&")
}

var placeholder = regexp.MustCompile(`\{([a-z_]+)\}`)

// fill puts the fixture's values in a path's parameters, bad (already escaped) in the one named
// badParam.
func (f hostileFixture) fill(path, badParam, bad string) string {
	return placeholder.ReplaceAllStringFunc(path, func(m string) string {
		name := m[1 : len(m)-1]
		if name == badParam {
			return bad
		}
		for prefix, v := range f.params {
			if p, n, _ := strings.Cut(prefix, " "); n == name && strings.HasPrefix(path, p) {
				return v
			}
		}
		if v, ok := f.params[name]; ok {
			return v
		}
		return uuid.NewString()
	})
}

func (tn *testNode) hostileFixture(admin *user) hostileFixture {
	t := tn.t
	svc, u, victim := tn.newUser("service"), tn.newUser("user"), tn.newUser("user")
	w := "/api/v1/wallets/" + u.WalletID
	tn.mustMove(svc.Access, w+"/deposits", map[string]any{"amount": 100000})
	tn.mustMove(svc.Access, "/api/v1/wallets/"+admin.WalletID+"/deposits", map[string]any{"amount": 100000})
	hold := tn.mustMove(svc.Access, w+"/holds", map[string]any{"amount": 100, "expires_in_seconds": 600})
	spend := tn.mustMove(svc.Access, w+"/spends", map[string]any{"amount": 500})

	// A poem set of this test's own (the routes may delete or replace it).
	var sets struct {
		Items []struct{ Slug string } `json:"items"`
	}
	decodeInto(t, tn.do("GET", "/api/v1/poem-sets", "", nil), 200, &sets)
	if len(sets.Items) == 0 {
		t.Fatal("no bundled poem set")
	}
	var set map[string]any
	decodeInto(t, tn.do("GET", "/api/v1/poem-sets/"+sets.Items[0].Slug+"/poems", "", nil), 200, &set)
	slug := fmt.Sprintf("hostile-%d", userSeq.Add(1))
	set["slug"] = slug
	for _, k := range []string{"bundled", "updated_at"} {
		delete(set, k)
	}
	setJSON, _ := json.Marshal(set)
	decodeInto(t, tn.do("POST", "/api/v1/poem-sets", admin.Access, setJSON), 201, nil)
	poem, _ := json.Marshal(set["poems"].([]any)[0])

	// A source of its own (disabled: never scanned), so that body checks run past its lookup.
	src, err := tn.store.CreateSource(t.Context(), persistence.IngestSource{Name: fmt.Sprintf("hostile-src-%d", userSeq.Add(1)),
		Dir: t.TempDir(), Glob: "*", Format: "slurm-sacct", Cluster: "c", Interval: time.Minute, Timezone: "UTC"})
	if err != nil {
		t.Fatalf("create source: %v", err)
	}

	var draw struct{ ID string }
	decodeInto(t, tn.do("POST", "/api/v1/draws", admin.Access, map[string]any{"set": slug}), 201, &draw)

	return hostileFixture{
		params: map[string]string{
			"/api/v1/wallets id":            u.WalletID,
			"/api/v1/holds id":              hold.ID,
			"/api/v1/transactions id":       spend.ID,
			"/api/v1/admin/users id":        victim.ID,
			"/api/v1/draws id":              draw.ID,
			"/api/v1/accounting/sources id": src.ID,
			"set":                           slug,
			"n":                             "1",
			"cluster":                       "c1",
			"login":                         "l1",
		},
		query: map[string]string{"/api/v1/accounting/usage": "group_by=wallet&"},
		bodies: map[string]string{
			"POST /api/v1/auth/register":                     `{"email":"hostile-new@example.com","password":"long-password-123"}`,
			"POST /api/v1/auth/login":                        `{"email":"` + victim.Email + `","password":"wrong-password-1"}`,
			"POST /api/v1/auth/refresh":                      `{"refresh_token":"not-a-token"}`,
			"POST /api/v1/auth/logout":                       `{"refresh_token":"not-a-token"}`,
			"POST /api/v1/me/password":                       `{"current_password":"wrong-password-1","new_password":"new-password-123"}`,
			"POST /api/v1/wallets/{id}/deposits":             `{"amount":5,"reference_id":"r"}`,
			"POST /api/v1/wallets/{id}/spends":               `{"amount":5,"reference_id":"r"}`,
			"POST /api/v1/wallets/{id}/holds":                `{"amount":5,"expires_in_seconds":60,"reference_id":"r"}`,
			"POST /api/v1/holds/{id}/capture":                `{"amount":1,"reference_id":"r"}`,
			"POST /api/v1/transactions/{id}/refunds":         `{"amount":1,"reference_id":"r"}`,
			"POST /api/v1/wallets/{id}/adjustments":          `{"amount":1,"reason":"r"}`,
			"PATCH /api/v1/admin/users/{id}":                 `{"status":"active"}`,
			"POST /api/v1/wallets":                           `{"name":"hostile-wallet"}`,
			"POST /api/v1/accounting/sources":                `{"name":"s","dir":"/nonexistent-dir","format":"slurm-sacct","cluster":"c"}`,
			"PATCH /api/v1/accounting/sources/{id}":          `{"enabled":true}`,
			"POST /api/v1/accounting/mappings":               `{"cluster":"c","user":"u","wallet":"` + u.WalletID + `"}`,
			"POST /api/v1/accounting/rates":                  `{"cluster":"c","partition":"p","node_hour_points":1,"gpu_hour_points":1}`,
			"PUT /api/v1/accounting/quotas":                  `{"wallet":"` + u.WalletID + `","period":"month","node_hours":1}`,
			"POST /api/v1/push/subscriptions":                `{"endpoint":"https://push.example.com/hostile","expirationTime":null,"keys":{"p256dh":"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4","auth":"BTBZMqHH6r4Tts7J_aSIgg"}}`,
			"PUT /api/v1/accounting/users/{cluster}/{login}": `{"user_id":""}`,
			"POST /api/v1/poem-sets":                         string(setJSON),
			"PUT /api/v1/poem-sets/{set}/poems/{n}":          string(poem),
			"POST /api/v1/draws":                             `{"set":"` + slug + `"}`,
			"POST /api/v1/jobs":                              `{"type":"interpretation","set":"` + slug + `","number":1,"question":"q"}`,
			"POST /api/v1/accounting/sources/{id}/scan":      `{}`,
			"POST /api/v1/holds/{id}/release":                `{}`,
		},
	}
}

// newAdmin makes an admin of the test's own (through the account core, as the first admin is),
// so that what the hostile requests do to their caller touches no other scenario.
func (tn *testNode) newAdmin() *user {
	tn.t.Helper()
	u := &user{Email: fmt.Sprintf("hostile-admin-%d@example.com", userSeq.Add(1)), Password: "admin-password-2", Role: account.RoleAdmin}
	created, err := tn.accounts.Register(tn.t.Context(), account.RegisterInput{Email: u.Email, Password: u.Password, Role: account.RoleAdmin})
	if err != nil {
		tn.t.Fatalf("register admin: %v", err)
	}
	u.ID, u.WalletID = created.ID, created.WalletID
	tn.login(u)
	return u
}

// hostileCase is one bad input sent to one route.
type hostileCase struct {
	name   string
	method string
	target string
	h      hdr
	body   []byte
	// want: "" = any answer but a 5xx (a value that may be valid, e.g. a large number);
	// else the 400 code, whose detail must contain field.
	code, field string
	value       string // a number: the detail of a 400 names its field or quotes it
}

const sentinel = "@@HOSTILE@@"

// mutate sets one field of a JSON object body to a sentinel shaped as kind, then replaces the
// sentinel by raw (bytes put verbatim between the quotes, or a whole JSON value if number).
func mutate(t *testing.T, base, field, kind string, raw string, number bool) []byte {
	t.Helper()
	m := map[string]any{}
	if strings.TrimSpace(base) != "" {
		if err := json.Unmarshal([]byte(base), &m); err != nil {
			t.Fatalf("base body %s: %v", base, err)
		}
	}
	switch kind {
	case "strings":
		m[field] = []any{sentinel, "ok", "ok", "ok"}
	case "map":
		m[field] = map[string]any{"overall": sentinel}
	default:
		m[field] = sentinel
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if number {
		return bytes.Replace(b, []byte(`"`+sentinel+`"`), []byte(raw), 1)
	}
	return bytes.Replace(b, []byte(sentinel), []byte(raw), 1)
}

// hostileCases are, for every route: NUL, control characters and invalid UTF-8 in every body
// string, path parameter, query parameter and read header; huge, negative and fractional numbers
// in every numeric field.
func hostileCases(t *testing.T, ops []apiOp, f hostileFixture, token string) []hostileCase {
	badStrings := []struct{ name, json, escaped, header string }{
		{"NUL", `a\u0000b`, "a%00b", "a\x00b"},
		{"control", `a\u0007b`, "a%07b", "a\x07b"},
		{"invalid UTF-8", "a\xffb", "a%FFb", "a\xffb"},
		{"overlong UTF-8", "a\xc0\xafb", "a%C0%AFb", "a\xc0\xafb"},
	}
	badNumbers := []string{"99999999999", "-99999999999", "1e30", "-1", "0", "1.5", "9223372036854775808"}
	var cases []hostileCase
	for _, op := range ops {
		if op.path == "/api/v1/ws" {
			continue // no upgrade: answered 400 websocket_required before anything is read
		}
		route := op.method + " " + op.path
		base := f.bodies[route]
		var baseBody []byte
		if op.body != nil {
			baseBody = []byte(base)
			if base == "" {
				baseBody = []byte(`{}`)
			}
		}
		auth := hdr{"Authorization": "Bearer " + token}
		target := f.fill(op.path, "", "")
		add := func(c hostileCase) {
			c.name = route + ": " + c.name
			c.method = op.method
			if c.target == "" {
				c.target = target
			}
			if c.h == nil {
				c.h = auth
			}
			if c.body == nil {
				c.body = baseBody
			}
			cases = append(cases, c)
		}
		for _, bs := range badStrings {
			for field, kind := range op.body {
				if kind == "number" {
					continue
				}
				add(hostileCase{name: bs.name + " in body " + field, body: mutate(t, base, field, kind, bs.json, false),
					code: "invalid_body", field: field})
			}
			for _, m := range placeholder.FindAllStringSubmatch(op.path, -1) {
				add(hostileCase{name: bs.name + " in path " + m[1], target: f.fill(op.path, m[1], bs.escaped),
					code: "invalid_path", field: m[1]})
				if strings.Contains(bs.name, "UTF-8") { // raw bytes in the request line too
					add(hostileCase{name: bs.name + " (raw) in path " + m[1], target: f.fill(op.path, m[1], bs.header),
						code: "invalid_path", field: m[1]})
				}
			}
			if op.method == "GET" {
				for _, q := range op.query {
					add(hostileCase{name: bs.name + " in query " + q, target: target + "?" + f.query[op.path] + q + "=" + bs.escaped,
						code: "invalid_query", field: q})
				}
			}
			// fasthttp itself refuses control characters in header values (400 bad_request).
			code, xid, authz, ikey := "invalid_header", "X-Request-Id", "Authorization", "Idempotency-Key"
			if bs.name == "NUL" || bs.name == "control" {
				code, xid, authz, ikey = "bad_request", "", "", ""
			}
			if op.idempotent {
				kcode := "invalid_idempotency_key"
				if code == "bad_request" {
					kcode = code
				}
				add(hostileCase{name: bs.name + " in Idempotency-Key", h: hdr{"Authorization": auth["Authorization"], "Idempotency-Key": bs.header},
					code: kcode, field: ikey})
			}
			add(hostileCase{name: bs.name + " in X-Request-Id", h: hdr{"Authorization": auth["Authorization"], "X-Request-Id": bs.header},
				code: code, field: xid})
			add(hostileCase{name: bs.name + " in Authorization", h: hdr{"Authorization": "Bearer " + bs.header},
				code: code, field: authz})
		}
		for _, n := range badNumbers {
			for field, kind := range op.body {
				if kind == "number" {
					add(hostileCase{name: "number " + n + " in body " + field, body: mutate(t, base, field, kind, n, true), field: field, value: n})
				}
			}
			for _, m := range placeholder.FindAllStringSubmatch(op.path, -1) {
				if m[1] == "n" {
					add(hostileCase{name: "number " + n + " in path n", target: f.fill(op.path, "n", n)})
				}
			}
			if op.method == "GET" {
				for _, q := range op.query {
					add(hostileCase{name: "number " + n + " in query " + q, target: target + "?" + f.query[op.path] + q + "=" + n, field: q, value: n})
				}
			}
		}
		if op.idempotent {
			for _, key := range []string{"job-hold:" + uuid.NewString(), "job-capture:x", "job-release:x", "usage-charge:1", "expire:x", "auto:x"} {
				add(hostileCase{name: "reserved key " + key, h: hdr{"Authorization": auth["Authorization"], "Idempotency-Key": key},
					code: "reserved_idempotency_key", field: "Idempotency-Key"})
			}
			add(hostileCase{name: "key of 256 bytes", h: hdr{"Authorization": auth["Authorization"], "Idempotency-Key": strings.Repeat("k", 256)},
				code: "invalid_idempotency_key", field: "Idempotency-Key"})
		}
	}
	return cases
}

// testHostileInput: finding 5 of issue 9. Every route, given NUL, control characters, invalid
// UTF-8 or out-of-range numbers anywhere it reads input, answers 4xx with a stable code (400
// naming the field for strings), never 500 or 503.
func testHostileInput(t *testing.T, tn *testNode) {
	admin := tn.newAdmin()
	f := tn.hostileFixture(admin)
	ops := tn.apiOps()
	if len(ops) < 50 {
		t.Fatalf("the OpenAPI document lists %d operations; expected the whole API", len(ops))
	}
	token := admin.Access
	cases := hostileCases(t, ops, f, token)
	failures := 0
	for _, c := range cases {
		r := tn.rawDo(c.method, c.target, c.h, c.body)
		p := r.problem()
		var problem string
		switch {
		case bytes.Contains(r.Body, []byte(token)):
			problem = "the answer quotes the caller's token: " + r.String()
		case r.Status >= 500:
			problem = r.String()
		case c.code == "":
			if r.Status >= 400 && p.Code == "" {
				problem = "a 4xx without a problem code: " + r.String()
			} else if r.Status == 400 && !strings.Contains(p.Detail, c.field) && !strings.Contains(p.Detail, c.value) {
				problem = fmt.Sprintf("detail %q does not name %s", p.Detail, c.field)
			}
		case r.Status != 400 || p.Code != c.code:
			problem = fmt.Sprintf("got %s, want 400 %s", r, c.code)
		case !strings.Contains(p.Detail, c.field):
			problem = fmt.Sprintf("detail %q does not name %s", p.Detail, c.field)
		}
		if problem == "" {
			continue
		}
		t.Errorf("%s: %s", c.name, problem)
		if failures++; failures >= 400 {
			t.Fatalf("stopping after %d failures of %d cases", failures, len(cases))
		}
	}
	t.Logf("%d hostile requests", len(cases))
}
