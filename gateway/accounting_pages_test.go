package gateway_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/persistence"
)

// pageView is one page of a list paged by cursor.
type pageView struct {
	Items      []map[string]any `json:"items"`
	NextCursor *string          `json:"next_cursor"`
}

// listCase is one compute-accounting list and what its pages must show.
type listCase struct {
	name  string
	path  string // with its filters, if any
	rule  accounting.Page
	n     int                            // rows stored for it
	limit bool                           // it took limit before it was paged
	order func(a, b map[string]any) bool // a may come before b
}

// TestAccountingPages pages through every compute-accounting list (more rows than one page
// holds) and checks that the pages hold each row exactly once, in the list's stated order, and
// equal the list read at once; that a cursor the server did not give out is 400 bad_cursor; and
// that page_size (and limit, where a list took it) keeps to the list's bounds.
func TestAccountingPages(t *testing.T) {
	t.Parallel()
	tn := startGateway(t, nil)
	ctx := context.Background()
	db := tn.store.Pool()
	const n = 7 // rows per list; pages of 2 and 3 leave a part page

	// Sources, their files and line errors.
	var srcs []sourceView
	for i := range n {
		srcs = append(srcs, tn.newSource(fmt.Sprintf("src-%c", 'g'-i), t.TempDir())) // stored out of name order
	}
	for i := range n {
		tn.saveFile(srcs[0].ID, fmt.Sprintf("/logs/f%d.log", (i*3)%n), nil,
			accounting.LineError{File: "x", Line: i + 1, Err: "bad line"})
	}
	// Mappings, rates, wallets with quotas, quota events, charges, cluster logins.
	for i := range n {
		decodeInto(t, tn.do("POST", "/api/v1/accounting/mappings", tn.admin.Access, map[string]any{
			"group": fmt.Sprintf("grp%d", i), "exclude": true}), 201, nil)
		decodeInto(t, tn.do("POST", "/api/v1/accounting/rates", tn.admin.Access, map[string]any{
			"cluster": []string{"a", "b"}[i%2], "node_hour_points": 1, "effective_from": fmt.Sprintf("2026-01-%02d", 10-i)}), 201, nil)
	}
	var quotaIDs []string
	for i := range 3 {
		w := tn.sharedWallet(fmt.Sprintf("paged-%d", i))
		for _, period := range []string{"month", "year", "total"}[:min(3, n-3*i)] {
			var q struct {
				ID string `json:"id"`
			}
			decodeInto(t, tn.do("PUT", "/api/v1/accounting/quotas", tn.admin.Access, map[string]any{
				"wallet": w, "period": period, "node_hours": 10}), 200, &q)
			quotaIDs = append(quotaIDs, q.ID)
			if _, err := db.Exec(ctx, `INSERT INTO usage_charges (wallet_id, points, records, origin) VALUES ($1, 5, 1, 'test')`, w); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Quota events, several at one instant: their order is the rest of their key.
	at := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	for i := range n {
		if _, err := db.Exec(ctx, `INSERT INTO quota_events (quota_id, period_start, metric, threshold, used, quota, created_at, published)
			VALUES ($1, '2026-02-01', $2, $3, 1, 1, $4, true)`, quotaIDs[i%len(quotaIDs)], []string{"node_hours", "gpu_core_hours"}[i/len(quotaIDs)%2],
			[]int{80, 100}[i%2], at.Add(time.Duration(i/3)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if _, err := db.Exec(ctx, `INSERT INTO cluster_users (cluster, login) VALUES ($1, $2)`, []string{"c1", "c2"}[i%2], fmt.Sprintf("u%d", n-i)); err != nil {
			t.Fatal(err)
		}
	}

	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	num := func(m map[string]any, k string) float64 { f, _ := m[k].(float64); return f }
	keyLE := func(a, b []string) bool { return strings.Join(a, "\x00") <= strings.Join(b, "\x00") }
	cases := []listCase{
		{name: "sources", path: "/api/v1/accounting/sources", rule: accounting.PageSources, n: n,
			order: func(a, b map[string]any) bool { return str(a, "name") < str(b, "name") }},
		{name: "files", path: "/api/v1/accounting/sources/" + srcs[0].ID + "/files", rule: accounting.PageSourceFiles, n: n,
			order: func(a, b map[string]any) bool { return str(a, "path") < str(b, "path") }},
		{name: "errors", path: "/api/v1/accounting/errors?source=" + srcs[0].Name, rule: accounting.PageIngestErrors, n: n, limit: true,
			order: func(a, b map[string]any) bool { return str(a, "created_at") >= str(b, "created_at") }},
		{name: "mappings", path: "/api/v1/accounting/mappings", rule: accounting.PageMappings, n: n,
			order: func(a, b map[string]any) bool {
				return keyLE([]string{str(a, "created_at"), str(a, "id")}, []string{str(b, "created_at"), str(b, "id")})
			}},
		{name: "rates", path: "/api/v1/accounting/rates", rule: accounting.PageRates, n: n,
			order: func(a, b map[string]any) bool {
				return keyLE([]string{str(a, "cluster"), str(a, "partition"), str(a, "effective_from")},
					[]string{str(b, "cluster"), str(b, "partition"), str(b, "effective_from")})
			}},
		{name: "quotas", path: "/api/v1/accounting/quotas", rule: accounting.PageQuotas, n: n,
			order: func(a, b map[string]any) bool {
				return keyLE([]string{str(a, "wallet_id"), str(a, "period")}, []string{str(b, "wallet_id"), str(b, "period")})
			}},
		{name: "quota events", path: "/api/v1/accounting/quota-events", rule: accounting.PageQuotaEvents, n: n, limit: true,
			order: func(a, b map[string]any) bool {
				if str(a, "created_at") != str(b, "created_at") {
					return str(a, "created_at") > str(b, "created_at")
				}
				return num(a, "threshold") >= num(b, "threshold")
			}},
		{name: "charges", path: "/api/v1/accounting/charges?status=pending", rule: accounting.PageCharges, n: n, limit: true,
			order: func(a, b map[string]any) bool { return num(a, "id") > num(b, "id") }},
		{name: "cluster users", path: "/api/v1/accounting/users", rule: accounting.PageClusterUsers, n: n, limit: true,
			order: func(a, b map[string]any) bool {
				return keyLE([]string{str(a, "cluster"), str(a, "login")}, []string{str(b, "cluster"), str(b, "login")})
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tn := tn.with(t)
			get := func(query string) response {
				sep := "?"
				if strings.Contains(c.path, "?") {
					sep = "&"
				}
				if query == "" {
					return tn.do("GET", c.path, tn.admin.Access, nil)
				}
				return tn.do("GET", c.path+sep+query, tn.admin.Access, nil)
			}
			var whole pageView
			decodeInto(t, get(""), 200, &whole) // the default page holds them all
			if len(whole.Items) != c.n || whole.NextCursor != nil {
				t.Fatalf("the default page: %d items, next %v; want %d and no next", len(whole.Items), whole.NextCursor, c.n)
			}
			for i := 1; i < len(whole.Items); i++ {
				if !c.order(whole.Items[i-1], whole.Items[i]) {
					t.Errorf("out of order at %d: %v before %v", i, whole.Items[i-1], whole.Items[i])
				}
			}
			params := []string{"page_size"}
			if c.limit {
				params = append(params, "limit")
			}
			for _, param := range params {
				for _, size := range []int{1, 2, 3, c.n} {
					var got []map[string]any
					pages, cursor := 0, ""
					for {
						q := url.Values{param: {fmt.Sprint(size)}}
						if cursor != "" {
							q.Set("cursor", cursor)
						}
						var p pageView
						decodeInto(t, get(q.Encode()), 200, &p)
						pages++
						got = append(got, p.Items...)
						if p.NextCursor == nil {
							break
						}
						if len(p.Items) != size || pages > c.n {
							t.Fatalf("%s=%d: page %d has %d items and a next cursor", param, size, pages, len(p.Items))
						}
						cursor = *p.NextCursor
					}
					if want := (c.n + size - 1) / size; pages != want && !(c.n%size == 0 && pages == want+1) {
						t.Errorf("%s=%d: %d pages, want %d", param, size, pages, want)
					}
					if a, b := mustJSON(t, got), mustJSON(t, whole.Items); a != b {
						t.Errorf("%s=%d: the pages hold\n%s\nwant each row once, in order:\n%s", param, size, a, b)
					}
				}
			}

			bad := func(what, cursor string) {
				t.Helper()
				wantProblem(t, what, get("cursor="+url.QueryEscape(cursor)), http.StatusBadRequest, "bad_cursor")
			}
			bad("garbage", "zzz!")
			bad("not base64 JSON", base64.RawURLEncoding.EncodeToString([]byte("[1,2]")))
			bad("a cursor of too many keys", persistence.KeyCursor{Keys: []string{"a", "b", "c", "d", "e", "f"}}.Encode())
			bad("a wallet's transactions cursor", persistence.Cursor{At: time.Now(), ID: "3"}.Encode())
			bad("too long", strings.Repeat("A", 2100))

			for _, size := range []string{"0", "-1", "x", fmt.Sprint(c.rule.Max + 1)} {
				wantProblem(t, "page_size="+size, get("page_size="+size), http.StatusBadRequest, "invalid_query")
			}
			decodeInto(t, get(fmt.Sprintf("page_size=%d", c.rule.Max)), 200, nil)
			if c.limit {
				wantProblem(t, "limit above the page", get(fmt.Sprintf("limit=%d", c.rule.Max+1)), http.StatusBadRequest, "invalid_query")
				wantProblem(t, "limit and page_size disagreeing", get("limit=2&page_size=3"), http.StatusBadRequest, "invalid_query")
				decodeInto(t, get("limit=2&page_size=2"), 200, nil)
			} else {
				wantProblem(t, "limit on a list that never took it", get("limit=2"), http.StatusBadRequest, "invalid_query")
			}
		})
	}
}

// TestAccountingPagesKeyTypes: a well-formed cursor whose keys cannot be the list's (a name
// where a time or an id belongs) is bad_cursor, never a database error.
func TestAccountingPagesKeyTypes(t *testing.T) {
	t.Parallel()
	tn := startGateway(t, nil)
	for path, keys := range map[string][]string{
		"/api/v1/accounting/charges":      {"nope"},
		"/api/v1/accounting/errors":       {"yesterday", "1"},
		"/api/v1/accounting/mappings":     {time.Now().Format(time.RFC3339Nano), "not-a-uuid"},
		"/api/v1/accounting/rates":        {"a", "b", "2026-01-01"},
		"/api/v1/accounting/quotas":       {"wallet", "month"},
		"/api/v1/accounting/quota-events": {time.Now().Format(time.RFC3339Nano), "80", "8c6a1e64-3f0e-4a4e-9b43-6cb0e4c3b1aa", "Feb", "node_hours"},
	} {
		wantProblem(t, path, tn.do("GET", path+"?cursor="+persistence.KeyCursor{Keys: keys}.Encode(), tn.admin.Access, nil),
			http.StatusBadRequest, "bad_cursor")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
