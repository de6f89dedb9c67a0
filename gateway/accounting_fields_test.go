package gateway_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/divinewhispers/dw/internal/testutil"
)

// An input's problems come back keyed by field, the API's JSON fields, besides the detail that
// lists them all.
func TestAccountingProblemFields(t *testing.T) {
	t.Parallel()
	tn := startGateway(t, (&fakeScanner{}).scan)
	op := tn.newUser("operator")
	for _, c := range []struct {
		name, path, method string
		body               string
		want               []string
	}{
		{"source", "/api/v1/accounting/sources", "POST", `{"glob":"../x"}`, []string{"cluster", "dir", "format", "glob", "name"}},
		{"mapping", "/api/v1/accounting/mappings", "POST", `{"cluster":"alpha"}`, []string{"user", "wallet"}},
		{"rate", "/api/v1/accounting/rates", "POST", `{"node_hour_points":"1.2345","effective_from":"soon"}`, []string{"effective_from", "node_hour_points"}},
		{"quota", "/api/v1/accounting/quotas", "PUT", `{"period":"week"}`, []string{"period", "wallet"}},
	} {
		r := tn.do(c.method, c.path, op.Access, c.body)
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Body)
			continue
		}
		var p struct {
			Fields map[string]string `json:"errors"`
		}
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatal(err)
		}
		var got []string
		for f, msg := range p.Fields {
			if msg == "" {
				t.Errorf("%s: field %s without a message", c.name, f)
			}
			got = append(got, f)
		}
		slices.Sort(got)
		testutil.Diff(t, c.name+": fields", c.want, got)
	}
}
