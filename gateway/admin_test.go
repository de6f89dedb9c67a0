package gateway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/divinewhispers/dw/persistence"
)

type userPage struct {
	Items    []persistence.User `json:"items"`
	Total    int                `json:"total"`
	Page     int                `json:"page"`
	PageSize int                `json:"page_size"`
}

type auditRow struct {
	ID         any             `json:"id"` // a number or a string: the tests only compare ids
	ActorID    string          `json:"actor_id"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type"`
	TargetID   string          `json:"target_id"`
	Detail     json.RawMessage `json:"detail"`
	CreatedAt  time.Time       `json:"created_at"`
}

func (tn *testNode) users(query string) userPage {
	tn.t.Helper()
	var p userPage
	decodeInto(tn.t, tn.do("GET", "/api/v1/admin/users?"+query, tn.admin.Access, nil), 200, &p)
	if p.Items == nil {
		tn.t.Errorf("users?%s: items is null, want a list", query)
	}
	return p
}

// audit pages through the audit log with this filter, pageSize rows at a time.
func (tn *testNode) audit(filter url.Values, pageSize int) []auditRow {
	tn.t.Helper()
	var all []auditRow
	q := url.Values{}
	for k, v := range filter {
		q[k] = v
	}
	q.Set("page_size", fmt.Sprint(pageSize))
	for pages := 0; ; pages++ {
		if pages > 1000 {
			tn.t.Fatal("audit: the cursor never ends")
		}
		var page struct {
			Items      []auditRow `json:"items"`
			NextCursor string     `json:"next_cursor"`
		}
		decodeInto(tn.t, tn.do("GET", "/api/v1/admin/audit-logs?"+q.Encode(), tn.admin.Access, nil), 200, &page)
		if page.Items == nil || len(page.Items) > pageSize {
			tn.t.Fatalf("audit page of %d items (nil %v), page_size %d", len(page.Items), page.Items == nil, pageSize)
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		q.Set("cursor", page.NextCursor)
	}
}

func actions(rows []auditRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Action)
	}
	return out
}

func testUsersAndAudit(t *testing.T, tn *testNode) {
	tag := "ua" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	register := func(email, password string) response {
		return tn.do("POST", "/api/v1/auth/register", "", map[string]string{"email": email, "password": password})
	}
	var made []persistence.User
	for _, c := range "ecadb" {
		var u persistence.User
		decodeInto(t, register(fmt.Sprintf("%s-%c@example.com", tag, c), "lantern-amber-123"), 201, &u)
		if u.Role != "user" || u.Status != "active" || u.WalletID == "" {
			t.Errorf("registered %+v", u)
		}
		made = append(made, u)
	}
	if strings.Contains(string(register(tag+"-z@example.com", "lantern-amber-123").Body), "password") {
		t.Error("a user document mentions the password")
	}
	wantProblem(t, "duplicate email", register(tag+"-e@example.com", "lantern-amber-456"), http.StatusConflict, "email_taken")
	wantProblem(t, "duplicate email, other case", register(strings.ToUpper(tag)+"-E@EXAMPLE.COM", "lantern-amber-456"), http.StatusConflict, "email_taken")
	wantProblem(t, "weak password", register(tag+"-w@example.com", "short"), http.StatusBadRequest, "invalid")
	for _, pw := range []string{"password", "12345678"} {
		r := register(tag+"-w@example.com", pw)
		wantProblem(t, "common password "+pw, r, http.StatusBadRequest, "weak_password")
		if d := r.problem().Detail; !strings.Contains(d, "too easy to guess") || !strings.Contains(d, "top-10 common password") {
			t.Errorf("weak password %q: detail %q does not say why", pw, d)
		}
	}
	wantProblem(t, "password made of the email", register(tag+"-w@example.com", tag+"-w2026"), http.StatusBadRequest, "weak_password")
	wantProblem(t, "bad email", register("not an email", "lantern-amber-123"), http.StatusBadRequest, "invalid")
	wantProblem(t, "display-name email", register("Bob <"+tag+"-bob@example.com>", "lantern-amber-123"), http.StatusBadRequest, "invalid")
	wantProblem(t, "register with a role", tn.do("POST", "/api/v1/auth/register", "",
		map[string]string{"email": tag + "-r@example.com", "password": "lantern-amber-123", "role": "admin"}), http.StatusBadRequest, "invalid_body")

	// Search, filter, sort, page (6 users carry the tag: e, c, a, d, b, z).
	target := made[0] // tag-e
	patch := func(id string, body any) response {
		return tn.do("PATCH", "/api/v1/admin/users/"+id, tn.admin.Access, body)
	}
	var patched persistence.User
	decodeInto(t, patch(made[1].ID, map[string]string{"role": "operator"}), 200, &patched)
	if patched.Role != "operator" || patched.ID != made[1].ID {
		t.Errorf("promoted %+v", patched)
	}
	if p := tn.users("q=" + tag); p.Total != 6 || len(p.Items) != 6 || p.Page != 1 || p.PageSize != 50 {
		t.Errorf("search %s: total %d, %d items, page %d, size %d", tag, p.Total, len(p.Items), p.Page, p.PageSize)
	}
	if p := tn.users("q=" + strings.ToUpper(tag)); p.Total != 6 {
		t.Errorf("search is case-sensitive: %d", p.Total)
	}
	if p := tn.users("q=" + tag + "&role=operator"); p.Total != 1 || len(p.Items) != 1 || p.Items[0].ID != made[1].ID {
		t.Errorf("role filter: %+v", p)
	}
	if p := tn.users("q=" + url.QueryEscape(tag+"%")); p.Total != 0 {
		t.Errorf("q is a pattern, not a substring: %% matched %d users", p.Total)
	}
	if p := tn.users("q=" + url.QueryEscape("_a")); p.Total != 0 {
		t.Errorf("q is a pattern, not a substring: _ matched %d users", p.Total)
	}
	emails := func(p userPage) []string {
		var out []string
		for _, u := range p.Items {
			out = append(out, u.Email)
		}
		return out
	}
	asc := emails(tn.users("q=" + tag + "&sort=email"))
	if !slices.IsSorted(asc) || len(asc) != 6 {
		t.Errorf("sort=email: %v", asc)
	}
	desc := emails(tn.users("q=" + tag + "&sort=-email"))
	if slices.Reverse(desc); !slices.Equal(desc, asc) {
		t.Errorf("sort=-email reversed %v, sort=email %v", desc, asc)
	}
	byCreated := emails(tn.users("q=" + tag + "&sort=created_at"))
	if want := []string{tag + "-e@example.com", tag + "-c@example.com", tag + "-a@example.com"}; !slices.Equal(byCreated[:3], want) {
		t.Errorf("sort=created_at: %v", byCreated)
	}
	var paged []string
	for page := 1; page <= 4; page++ {
		p := tn.users(fmt.Sprintf("q=%s&sort=email&page_size=4&page=%d", tag, page))
		if p.Total != 6 || p.Page != page || p.PageSize != 4 {
			t.Errorf("page %d: %+v", page, p)
		}
		paged = append(paged, emails(p)...)
	}
	if !slices.Equal(paged, asc) {
		t.Errorf("pages of 4 give %v, want %v", paged, asc)
	}

	// Suspension: no login, no refresh; reactivation restores login.
	var sess tokenPair
	decodeInto(t, tn.do("POST", "/api/v1/auth/login", "", map[string]string{"email": target.Email, "password": "lantern-amber-123"}), 200, &sess)
	decodeInto(t, patch(target.ID, map[string]string{"status": "suspended"}), 200, &patched)
	if patched.Status != "suspended" {
		t.Errorf("suspended %+v", patched)
	}
	if p := tn.users("q=" + tag + "&status=suspended"); p.Total != 1 || p.Items[0].ID != target.ID {
		t.Errorf("status filter: %+v", p)
	}
	wantProblem(t, "login while suspended", tn.do("POST", "/api/v1/auth/login", "", map[string]string{"email": target.Email, "password": "lantern-amber-123"}),
		http.StatusUnauthorized, "account_suspended")
	if r := tn.refresh(sess.RefreshToken); r.Status != http.StatusUnauthorized {
		t.Errorf("refresh while suspended: %s", r)
	}
	wantProblem(t, "bad role", patch(target.ID, map[string]string{"role": "root"}), http.StatusBadRequest, "invalid")
	wantProblem(t, "bad status", patch(target.ID, map[string]string{"status": "deleted"}), http.StatusBadRequest, "invalid")
	wantProblem(t, "empty patch", patch(target.ID, map[string]string{}), http.StatusBadRequest, "invalid")
	wantProblem(t, "unknown field", patch(target.ID, map[string]string{"email": "x@example.com"}), http.StatusBadRequest, "invalid_body")
	wantProblem(t, "unknown user", patch(uuid.NewString(), map[string]string{"status": "active"}), http.StatusNotFound, "not_found")
	decodeInto(t, patch(target.ID, map[string]string{"status": "active"}), 200, &patched)
	decodeInto(t, tn.do("POST", "/api/v1/auth/login", "", map[string]string{"email": target.Email, "password": "lantern-amber-123"}), 200, &sess)

	// A failed login and a deposit, for the audit log.
	wantProblem(t, "wrong password", tn.do("POST", "/api/v1/auth/login", "", map[string]string{"email": target.Email, "password": "wrong-password"}),
		http.StatusUnauthorized, "invalid_credentials")
	svc := tn.newUser("service")
	for i := range 7 {
		tn.mustMove(svc.Access, "/api/v1/wallets/"+target.WalletID+"/deposits", map[string]any{"amount": 10 + i})
	}

	rows := tn.audit(url.Values{"target_id": {target.ID}}, 100)
	for _, want := range []string{"user.register", "auth.login", "auth.login_failed", "user.update"} {
		if !slices.Contains(actions(rows), want) {
			t.Errorf("audit of user %s lacks %s: %v", target.ID, want, actions(rows))
		}
	}
	updates := 0
	for _, r := range rows {
		if r.Action == "user.update" {
			updates++
			if r.ActorID != tn.admin.ID {
				t.Errorf("user.update by %q, want the admin %s", r.ActorID, tn.admin.ID)
			}
		}
	}
	if updates != 2 {
		t.Errorf("%d user.update rows for two effective patches", updates)
	}
	// Newest first, the same rows whatever the page size.
	for i := 1; i < len(rows); i++ {
		if rows[i].CreatedAt.After(rows[i-1].CreatedAt) {
			t.Errorf("audit not newest first at %d: %+v then %+v", i, rows[i-1], rows[i])
		}
	}
	if byOne := tn.audit(url.Values{"target_id": {target.ID}}, 1); !slices.Equal(actions(byOne), actions(rows)) {
		t.Errorf("paging by 1 gives %v, one page gives %v", actions(byOne), actions(rows))
	}

	deposits := tn.audit(url.Values{"target_id": {target.WalletID}, "action": {"wallet.deposit"}}, 3)
	if len(deposits) != 7 {
		t.Errorf("%d wallet.deposit rows for 7 deposits: %+v", len(deposits), deposits)
	}
	seen := map[string]bool{}
	for _, d := range deposits {
		id := fmt.Sprint(d.ID)
		if seen[id] || d.ActorID != svc.ID || d.TargetType != "wallet" {
			t.Errorf("deposit audit row %+v (repeated %v)", d, seen[id])
		}
		seen[id] = true
	}
	if prefix := tn.audit(url.Values{"target_id": {target.WalletID}, "action": {"wallet."}}, 5); len(prefix) != 7 {
		t.Errorf("action prefix wallet. gives %d rows", len(prefix))
	}
	if failed := tn.audit(url.Values{"actor_id": {target.ID}, "action": {"auth.login_failed"}}, 50); len(failed) < 2 {
		t.Errorf("auth.login_failed rows of the user: %+v", failed)
	}
	if none := tn.audit(url.Values{"target_id": {target.ID}, "from": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}, 10); len(none) != 0 {
		t.Errorf("audit from the future: %+v", none)
	}
}

func testWalletVisibility(t *testing.T, tn *testNode) {
	a, b := tn.newUser("user"), tn.newUser("user")
	svc, op := tn.newUser("service"), tn.newUser("operator")
	tn.mustMove(svc.Access, "/api/v1/wallets/"+a.WalletID+"/deposits", map[string]any{"amount": 42})

	if w := tn.wallet(a.Access, a.WalletID); w.ID != a.WalletID || w.Balance != 42 {
		t.Errorf("own wallet: %+v", w)
	}
	if txs := tn.transactions(a.Access, a.WalletID, 10); len(txs) != 1 {
		t.Errorf("own ledger: %+v", txs)
	}
	for who, token := range map[string]string{"another user": b.Access, "an operator": op.Access} {
		wantProblem(t, who+" reading a's wallet", tn.do("GET", "/api/v1/wallets/"+a.WalletID, token, nil), http.StatusNotFound, "not_found")
		wantProblem(t, who+" reading a's ledger", tn.do("GET", "/api/v1/wallets/"+a.WalletID+"/transactions", token, nil), http.StatusNotFound, "not_found")
	}
	// Not found is the same answer as for a wallet that does not exist.
	wantProblem(t, "unknown wallet", tn.do("GET", "/api/v1/wallets/"+uuid.NewString(), a.Access, nil), http.StatusNotFound, "not_found")
	for who, token := range map[string]string{"admin": tn.admin.Access, "service": svc.Access} {
		if w := tn.wallet(token, a.WalletID); w.Balance != 42 {
			t.Errorf("%s reading a's wallet: %+v", who, w)
		}
		if txs := tn.transactions(token, a.WalletID, 10); len(txs) != 1 || txs[0].Amount != 42 {
			t.Errorf("%s reading a's ledger: %+v", who, txs)
		}
	}
}

func testHealthAndMetrics(t *testing.T, tn *testNode) {
	var h struct{ Status string }
	decodeInto(t, tn.do("GET", "/healthz", "", nil), 200, &h)
	if h.Status != "ok" {
		t.Errorf("healthz %+v", h)
	}
	decodeInto(t, tn.do("GET", "/readyz", "", nil), 200, &h)
	if h.Status != "ready" {
		t.Errorf("readyz %+v", h)
	}
	svc, u := tn.newUser("service"), tn.newUser("user")
	tn.mustMove(svc.Access, "/api/v1/wallets/"+u.WalletID+"/deposits", map[string]any{"amount": 1})

	r := tn.do("GET", "/metrics", "", nil)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	body := string(r.Body)
	for _, want := range []string{
		"dw_http_requests_total{",
		`route="/api/v1/wallets/:id/deposits"`,
		`dw_ledger_commits_total{`,
		`outcome="ok"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// testMetricLabelsStable checks that a request's labels stay what they were. fiber's c.Method()
// is a view of fasthttp's request buffer, which the next request on the same connection
// overwrites: a label value kept from it would change after the fact.
func testMetricLabelsStable(t *testing.T, tn *testNode) {
	// One raw keep-alive connection, so that fasthttp serves every request below with the same
	// request context and buffers.
	conn, err := net.Dial("tcp", strings.TrimPrefix(tn.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	send := func(method, path string) int {
		t.Helper()
		if _, err := fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n", method, path); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(rd, &http.Request{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.Close {
			t.Fatalf("%s %s: the server closed the connection", method, path)
		}
		return res.StatusCode
	}
	// TRACE is used by no other test, so this request creates a new labelled series.
	if status := send("TRACE", "/healthz"); status != http.StatusNotFound {
		t.Fatalf("TRACE /healthz: %d", status)
	}
	// The same connection now carries other request lines.
	for range 3 {
		send("POST", "/api/v1/auth/refresh")
	}
	metrics := string(tn.do("GET", "/metrics", "", nil).Body)
	var lines []string
	for _, l := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(l, "dw_http_requests_total{") && strings.Contains(l, `route="unmatched"`) && strings.Contains(l, `status="404"`) {
			lines = append(lines, l)
		}
	}
	found := false
	for _, l := range lines {
		found = found || strings.Contains(l, `method="TRACE"`)
		if m := between(l, `method="`, `"`); !slices.Contains([]string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT"}, m) {
			t.Errorf("metric series with a corrupted method label %q: %s", m, l)
		}
	}
	if !found {
		t.Errorf("no dw_http_requests_total series for TRACE unmatched 404; series seen: %v", lines)
	}
}

func between(s, from, to string) string {
	_, after, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, to)
	return v
}
