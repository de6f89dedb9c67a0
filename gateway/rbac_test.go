package gateway_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
)

const anonymous = "anonymous"

var (
	allRoles = []string{"admin", "operator", "service", "user"}
	public   = []string{anonymous, "admin", "operator", "service", "user"}
	signedIn = []string{"admin", "operator", "service", "user"}
	movers   = []string{"admin", "service"}
	admins   = []string{"admin"}
	opers    = []string{"admin", "operator"}
)

// rbacTable is who may call each route, written independently of the gateway's route table:
// a route added to the API without a row here fails TestGateway/RBACMatrix.
var rbacTable = map[string][]string{
	"GET /healthz":                           public,
	"GET /readyz":                            public,
	"GET /metrics":                           public,
	"GET /api/v1/openapi.json":               public,
	"POST /api/v1/auth/register":             public,
	"POST /api/v1/auth/login":                public,
	"POST /api/v1/auth/refresh":              public,
	"POST /api/v1/auth/logout":               signedIn,
	"GET /api/v1/me":                         signedIn,
	"GET /api/v1/me/usage":                   signedIn,
	"POST /api/v1/me/password":               signedIn,
	"GET /api/v1/wallets/{id}":               signedIn,
	"GET /api/v1/wallets/{id}/transactions":  signedIn,
	"POST /api/v1/wallets/{id}/deposits":     movers,
	"POST /api/v1/wallets/{id}/spends":       movers,
	"POST /api/v1/wallets/{id}/holds":        movers,
	"POST /api/v1/holds/{id}/capture":        movers,
	"POST /api/v1/holds/{id}/release":        movers,
	"POST /api/v1/transactions/{id}/refunds": movers,
	"POST /api/v1/wallets/{id}/adjustments":  admins,
	"GET /api/v1/admin/users":                admins,
	"PATCH /api/v1/admin/users/{id}":         admins,
	"GET /api/v1/admin/audit-logs":           admins,
	"GET /api/v1/poem-sets":                  public,
	"GET /api/v1/poem-sets/{set}/poems":      public,
	"GET /api/v1/poem-sets/{set}/poems/{n}":  public,
	"POST /api/v1/poem-sets":                 admins,
	"PUT /api/v1/poem-sets/{set}/poems/{n}":  admins,
	"DELETE /api/v1/poem-sets/{set}":         admins,
	"POST /api/v1/draws":                     signedIn,
	"GET /api/v1/draws":                      signedIn,
	"GET /api/v1/draws/{id}":                 signedIn,
	"DELETE /api/v1/draws/{id}":              signedIn,
	"POST /api/v1/jobs":                      signedIn,
	"GET /api/v1/jobs":                       signedIn,
	"GET /api/v1/jobs/{id}":                  signedIn,
	"DELETE /api/v1/jobs/{id}":               signedIn,
	"GET /api/v1/jobs/{id}/result":           signedIn,
	"GET /api/v1/jobs/{id}/events":           signedIn,
	"GET /api/v1/ws":                         signedIn,

	"POST /api/v1/wallets":                           opers,
	"GET /api/v1/wallets/{id}/quotas":                signedIn,
	"GET /api/v1/accounting/sources":                 opers,
	"POST /api/v1/accounting/sources":                opers,
	"GET /api/v1/accounting/sources/{id}":            opers,
	"PATCH /api/v1/accounting/sources/{id}":          opers,
	"DELETE /api/v1/accounting/sources/{id}":         opers,
	"POST /api/v1/accounting/sources/{id}/scan":      opers,
	"GET /api/v1/accounting/sources/{id}/files":      opers,
	"GET /api/v1/accounting/errors":                  opers,
	"GET /api/v1/accounting/mappings":                opers,
	"POST /api/v1/accounting/mappings":               opers,
	"DELETE /api/v1/accounting/mappings/{id}":        opers,
	"GET /api/v1/accounting/rates":                   opers,
	"POST /api/v1/accounting/rates":                  opers,
	"DELETE /api/v1/accounting/rates/{id}":           opers,
	"GET /api/v1/accounting/quotas":                  opers,
	"PUT /api/v1/accounting/quotas":                  opers,
	"DELETE /api/v1/accounting/quotas/{id}":          opers,
	"GET /api/v1/accounting/quota-events":            opers,
	"GET /api/v1/accounting/charges":                 opers,
	"GET /api/v1/accounting/users":                   opers,
	"PUT /api/v1/accounting/users/{cluster}/{login}": admins,
	"GET /api/v1/accounting/overview":                opers,
	"GET /api/v1/accounting/usage":                   opers,

	// Password reset (a block of its own, so that its long paths realign no row above).
	"POST /api/v1/auth/password/reset-request": public,
	"POST /api/v1/auth/password/reset":         public,

	// Profile and account deletion (a block of its own).
	"PATCH /api/v1/me":                signedIn,
	"DELETE /api/v1/me":               signedIn,
	"DELETE /api/v1/admin/users/{id}": admins,

	// Runtime configuration (a block of its own).
	"GET /api/v1/admin/config":   admins,
	"PATCH /api/v1/admin/config": admins,
}

// openAPIOp is the part of an OpenAPI operation the tests read.
type openAPIOp struct {
	Security   []map[string][]string `json:"security"`
	XRoles     []string              `json:"x-roles"`
	Responses  map[string]any        `json:"responses"`
	Parameters []struct {
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	RequestBody *struct {
		Required bool `json:"required"`
	} `json:"requestBody"`
}

type openAPIDoc struct {
	OpenAPI    string                          `json:"openapi"`
	Paths      map[string]map[string]openAPIOp `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

// operations returns "METHOD /path" → operation for every route of the served OpenAPI document.
func (tn *testNode) operations() (map[string]openAPIOp, []byte) {
	tn.t.Helper()
	r := tn.do("GET", "/api/v1/openapi.json", "", nil)
	var doc openAPIDoc
	decodeInto(tn.t, r, 200, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		tn.t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	ops := map[string]openAPIOp{}
	for path, item := range doc.Paths {
		for method, op := range item {
			ops[strings.ToUpper(method)+" "+path] = op
		}
	}
	return ops, r.Body
}

// concrete fills every {param} of an OpenAPI path with a well-formed id nobody uses.
func concrete(path string) string {
	for {
		i := strings.Index(path, "{")
		if i < 0 {
			return path
		}
		j := strings.Index(path[i:], "}")
		path = path[:i] + uuid.NewString() + path[i+j+1:]
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// testRBACMatrix calls every documented route as every role and anonymously, and checks who is
// let through against rbacTable. Denied: 401 missing_token (anonymous on a protected route) or
// 403 forbidden (wrong role), as problem+json. Let through: anything but an auth refusal (a 404,
// 400 or 409 for the dummy id or the empty body is fine).
func testRBACMatrix(t *testing.T, tn *testNode) {
	tokens := map[string]string{anonymous: "", "admin": tn.admin.Access}
	users := map[string]*user{"admin": tn.admin}
	for _, role := range allRoles[1:] {
		users[role] = tn.newUser(role)
		tokens[role] = users[role].Access
	}

	ops, _ := tn.operations()
	for _, key := range sortedKeys(ops) {
		if _, ok := rbacTable[key]; !ok {
			t.Errorf("route %s is in the OpenAPI document but has no RBAC expectation in rbacTable", key)
		}
	}
	for _, key := range sortedKeys(rbacTable) {
		if _, ok := ops[key]; !ok {
			t.Errorf("rbacTable expects route %s, which the OpenAPI document lacks", key)
		}
	}

	for _, key := range sortedKeys(rbacTable) {
		want := rbacTable[key]
		op, documented := ops[key]
		if documented {
			// The document must say the same as the table.
			protected := len(op.Security) > 0
			if protected == slices.Contains(want, anonymous) {
				t.Errorf("%s: OpenAPI security %v disagrees with the expected roles %v", key, op.Security, want)
			}
			if protected {
				docRoles := op.XRoles
				if docRoles == nil {
					docRoles = signedIn
				}
				if !sameSet(docRoles, want) {
					t.Errorf("%s: OpenAPI x-roles %v, expected %v", key, docRoles, want)
				}
			} else if op.XRoles != nil {
				t.Errorf("%s: public route with x-roles %v", key, op.XRoles)
			}
		}
		method, path, _ := strings.Cut(key, " ")
		for _, who := range append([]string{anonymous}, allRoles...) {
			var body any
			if method == "POST" || method == "PATCH" {
				body = "{}"
			}
			token := tokens[who]
			if key == "POST /api/v1/auth/logout" && who != anonymous {
				// A logout ends the session it is sent with: spend a session of its own on it.
				s := *users[who]
				tn.login(&s)
				token = s.Access
			}
			r := tn.do(method, concrete(path), token, body)
			code := r.code()
			allowed := slices.Contains(want, who)
			switch {
			case allowed && (r.Status == http.StatusForbidden || code == "missing_token" || code == "invalid_token" || code == "forbidden"):
				t.Errorf("%s as %s: refused (%s), want let through", key, who, r)
			case allowed && code == "route_not_found":
				t.Errorf("%s as %s: route not found (%s)", key, who, r)
			case !allowed && who == anonymous:
				wantProblem(t, key+" as "+who, r, http.StatusUnauthorized, "missing_token")
			case !allowed:
				wantProblem(t, key+" as "+who, r, http.StatusForbidden, "forbidden")
			}
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// testOpenAPIMatchesRouter keeps the OpenAPI document true. The node does not expose its
// gateway (so App.GetRoutes() is out of reach from here); instead every documented path and
// method is probed and must reach a handler (never route_not_found), undocumented ones must get
// route_not_found, and the document must be self-consistent.
func testOpenAPIMatchesRouter(t *testing.T, tn *testNode) {
	ops, raw := tn.operations()
	var doc openAPIDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}

	for _, key := range sortedKeys(ops) {
		op := ops[key]
		method, path, _ := strings.Cut(key, " ")
		var body any
		if method == "POST" || method == "PATCH" {
			body = "{}"
		}
		token := tn.admin.Access
		if key == "POST /api/v1/auth/logout" { // it ends the session it is sent with
			s := *tn.admin
			tn.login(&s)
			token = s.Access
		}
		r := tn.do(method, concrete(path), token, body)
		if r.code() == "route_not_found" || r.Status == http.StatusMethodNotAllowed {
			t.Errorf("documented route %s is not served: %s", key, r)
		}
		// Self-consistency: a success response, path parameters declared, refs resolvable.
		hasSuccess := false
		for status := range op.Responses {
			if strings.HasPrefix(status, "2") || status == "101" { // 101: a WebSocket upgrade
				hasSuccess = true
			}
		}
		if !hasSuccess {
			t.Errorf("%s documents no success response", key)
		}
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, "{") {
				name := strings.Trim(seg, "{}")
				found := false
				for _, p := range op.Parameters {
					found = found || (p.Name == name && p.In == "path")
				}
				if !found {
					t.Errorf("%s: path parameter %s not declared", key, name)
				}
			}
		}
	}
	for _, ref := range refsIn(raw) {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("$ref %s does not resolve", ref)
		}
	}

	id := uuid.NewString()
	for _, probe := range []struct{ method, path string }{
		{"GET", "/api/v1/nope"},
		{"GET", "/api/v1"},
		{"GET", "/nope.txt"}, // a missing file; other GETs outside /api/ serve the web app (webapp_test.go)
		{"GET", "/api/v2/me"},
		{"PUT", "/api/v1/me"},
		{"POST", "/api/v1/me"},
		{"PUT", "/api/v1/wallets/" + id},
		{"DELETE", "/api/v1/wallets/" + id},
		{"GET", "/api/v1/wallets/" + id + "/deposits"},
		{"GET", "/api/v1/auth/login"},
		{"POST", "/healthz"},
		{"GET", "/api/v1/admin/users/" + id},
		{"POST", "/api/v1/wallets/" + id + "/withdrawals"},
	} {
		if _, documented := ops[probe.method+" "+probe.path]; documented {
			t.Fatalf("probe %s %s is documented", probe.method, probe.path)
		}
		var body any
		if probe.method == "POST" || probe.method == "PUT" {
			body = "{}"
		}
		// Authenticated as admin, so that only routing (not RBAC) can refuse.
		r := tn.do(probe.method, probe.path, tn.admin.Access, body)
		wantProblem(t, "undocumented "+probe.method+" "+probe.path, r, http.StatusNotFound, "route_not_found")
	}
}

// refsIn lists every "$ref" value in a JSON document.
func refsIn(raw []byte) []string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && k == "$ref" {
					out = append(out, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}
