package gateway_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// testBadInputWritesNothing sends malformed requests of every kind to the money and listing
// routes: each must be a 4xx problem+json with a stable code, and the wallet must be exactly as
// before (same seq, balance and ledger).
func testBadInputWritesNothing(t *testing.T, tn *testNode) {
	svc, u := tn.newUser("service"), tn.newUser("user")
	w := "/api/v1/wallets/" + u.WalletID
	dep := tn.mustMove(svc.Access, w+"/deposits", map[string]any{"amount": 500})
	hold := tn.mustMove(svc.Access, w+"/holds", map[string]any{"amount": 100, "expires_in_seconds": 600})
	spend := tn.mustMove(svc.Access, w+"/spends", map[string]any{"amount": 50})
	before, beforeTxs := tn.checkLedger(svc.Access, u.WalletID)

	long := strings.Repeat("r", 501)
	type bad struct {
		name, method, path, token, body string
		h                               hdr
		status                          int
		code                            string
	}
	moneyPaths := []string{w + "/deposits", w + "/spends"}
	var cases []bad
	for _, p := range moneyPaths {
		for _, c := range []struct{ name, body, code string }{
			{"malformed JSON", `{"amount":`, "invalid_body"},
			{"unquoted key", `{amount: 5}`, "invalid_body"},
			{"unknown field", `{"amount":5,"currency":"usd"}`, "invalid_body"},
			{"amount as string", `{"amount":"5"}`, "invalid_body"},
			{"amount as bool", `{"amount":true}`, "invalid_body"},
			{"reference as number", `{"amount":5,"reference_id":7}`, "invalid_body"},
			{"amount above int64", `{"amount":9223372036854775808}`, "invalid_body"},
			{"amount 1e30", `{"amount":1e30}`, "invalid_body"},
			{"fractional amount", `{"amount":1.5}`, "invalid_body"},
			{"array body", `[{"amount":5}]`, "invalid_body"},
			{"string body", `"amount"`, "invalid_body"},
			{"two objects", `{"amount":5}{"amount":5}`, "invalid_body"},
			{"trailing garbage", `{"amount":5} x`, "invalid_body"},
			{"empty body", ``, "invalid_body"},
			{"blank body", "  \n ", "invalid_body"},
			{"negative amount", `{"amount":-5}`, "invalid"},
			{"zero amount", `{"amount":0}`, "invalid"},
			{"missing amount", `{}`, "invalid"},
			{"null body", `null`, "invalid"},
			{"amount above the maximum", `{"amount":1125899906842625}`, "invalid"},
			{"amount int64 max", `{"amount":9223372036854775807}`, "invalid"},
			{"reference too long", `{"amount":5,"reference_id":"` + long + `"}`, "invalid"},
		} {
			status := http.StatusBadRequest
			cases = append(cases, bad{name: c.name + " on " + p[strings.LastIndex(p, "/"):], method: "POST", path: p, token: svc.Access,
				body: c.body, status: status, code: c.code})
		}
		cases = append(cases,
			bad{name: "idempotency key too long", method: "POST", path: p, token: svc.Access, body: `{"amount":5}`,
				h: hdr{"Idempotency-Key": strings.Repeat("k", 201)}, status: http.StatusBadRequest, code: "invalid_idempotency_key"},
		)
	}
	cases = append(cases,
		bad{name: "hold without expiry", method: "POST", path: w + "/holds", token: svc.Access, body: `{"amount":5}`, status: 400, code: "invalid"},
		bad{name: "hold with negative expiry", method: "POST", path: w + "/holds", token: svc.Access, body: `{"amount":5,"expires_in_seconds":-1}`, status: 400, code: "invalid"},
		bad{name: "hold beyond 30 days", method: "POST", path: w + "/holds", token: svc.Access, body: `{"amount":5,"expires_in_seconds":2592001}`, status: 400, code: "invalid"},
		bad{name: "hold expiry overflowing", method: "POST", path: w + "/holds", token: svc.Access, body: `{"amount":5,"expires_in_seconds":9223372036854775807}`, status: 400, code: "invalid"},
		bad{name: "hold unknown field", method: "POST", path: w + "/holds", token: svc.Access, body: `{"amount":5,"expires_in_seconds":5,"x":1}`, status: 400, code: "invalid_body"},
		bad{name: "capture negative", method: "POST", path: "/api/v1/holds/" + hold.ID + "/capture", token: svc.Access, body: `{"amount":-1}`, status: 400, code: "invalid"},
		bad{name: "capture malformed", method: "POST", path: "/api/v1/holds/" + hold.ID + "/capture", token: svc.Access, body: `{"amount":`, status: 400, code: "invalid_body"},
		bad{name: "capture over the hold", method: "POST", path: "/api/v1/holds/" + hold.ID + "/capture", token: svc.Access, body: `{"amount":101}`, status: 400, code: "invalid"},
		bad{name: "release with a body", method: "POST", path: "/api/v1/holds/" + hold.ID + "/release", token: svc.Access, body: `{"amount":1}`, status: 400, code: "invalid_body"},
		bad{name: "refund negative", method: "POST", path: "/api/v1/transactions/" + spend.ID + "/refunds", token: svc.Access, body: `{"amount":-1}`, status: 400, code: "invalid"},
		bad{name: "refund too much", method: "POST", path: "/api/v1/transactions/" + spend.ID + "/refunds", token: svc.Access, body: `{"amount":51}`, status: 400, code: "refund_exceeds_spend"},
		bad{name: "refund of a deposit", method: "POST", path: "/api/v1/transactions/" + dep.ID + "/refunds", token: svc.Access, body: ``, status: 404, code: "transaction_not_refundable"},
		bad{name: "adjust without reason", method: "POST", path: w + "/adjustments", token: tn.admin.Access, body: `{"amount":5}`, status: 400, code: "invalid"},
		bad{name: "adjust reason too long", method: "POST", path: w + "/adjustments", token: tn.admin.Access, body: `{"amount":5,"reason":"` + long + `"}`, status: 400, code: "invalid"},
		bad{name: "adjust below -max", method: "POST", path: w + "/adjustments", token: tn.admin.Access, body: `{"amount":-1125899906842625,"reason":"x"}`, status: 400, code: "invalid"},
		bad{name: "adjust int64 min", method: "POST", path: w + "/adjustments", token: tn.admin.Access, body: `{"amount":-9223372036854775808,"reason":"x"}`, status: 400, code: "invalid"},
		bad{name: "adjust below int64", method: "POST", path: w + "/adjustments", token: tn.admin.Access, body: `{"amount":-9223372036854775809,"reason":"x"}`, status: 400, code: "invalid_body"},
		// Malformed ids in paths are simply not found.
		bad{name: "malformed wallet id", method: "POST", path: "/api/v1/wallets/not-a-uuid/deposits", token: svc.Access, body: `{"amount":5}`, status: 404, code: "not_found"},
		bad{name: "wallet id with suffix", method: "POST", path: w + "x/deposits", token: svc.Access, body: `{"amount":5}`, status: 404, code: "not_found"},
		bad{name: "malformed hold id", method: "POST", path: "/api/v1/holds/123/capture", token: svc.Access, body: ``, status: 404, code: "not_found"},
		bad{name: "malformed transaction id", method: "POST", path: "/api/v1/transactions/%27%3B--/refunds", token: svc.Access, body: ``, status: 404, code: "not_found"},
		bad{name: "malformed wallet id on GET", method: "GET", path: "/api/v1/wallets/zzz", token: svc.Access, status: 404, code: "not_found"},
		bad{name: "malformed user id", method: "PATCH", path: "/api/v1/admin/users/not-a-uuid", token: tn.admin.Access, body: `{"status":"active"}`, status: 404, code: "not_found"},
	)
	// Listing parameters.
	for _, q := range []struct{ name, query, code string }{
		{"garbage cursor", "cursor=%21%21%21", "bad_cursor"},
		{"cursor of another shape", "cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"x":1}`)), "bad_cursor"},
		{"cursor with a bad id", "cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"t":"2026-01-01T00:00:00Z","i":"nope"}`)), "bad_cursor"},
		{"cursor too long", "cursor=" + strings.Repeat("A", 300), "bad_cursor"},
		{"page_size 0", "page_size=0", "invalid_query"},
		{"page_size 501", "page_size=501", "invalid_query"},
		{"page_size negative", "page_size=-1", "invalid_query"},
		{"page_size word", "page_size=ten", "invalid_query"},
		{"page_size huge", "page_size=99999999999999999999", "invalid_query"},
		{"bad from", "from=yesterday", "invalid_query"},
		{"bad to", "to=2026-13-01", "invalid_query"},
		{"from without zone", "from=" + url.QueryEscape("2026-01-01T00:00:00"), "invalid_query"},
		{"bad type", "type=withdrawal", "invalid_query"},
		{"bad status", "status=done", "invalid_query"},
		{"bad sort", "sort=amount", "invalid_query"},
	} {
		cases = append(cases, bad{name: "transactions " + q.name, method: "GET", path: w + "/transactions?" + q.query, token: svc.Access, status: 400, code: q.code})
	}
	for _, q := range []struct{ name, query, code string }{
		{"garbage cursor", "cursor=%21%21", "bad_cursor"},
		{"cursor with a malformed id", "cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"t":"2026-01-01T00:00:00Z","i":"nope'--"}`)), "bad_cursor"},
		{"cursor without time", "cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"i":"1"}`)), "bad_cursor"},
		{"bad page_size", "page_size=0", "invalid_query"},
		{"bad from", "from=today", "invalid_query"},
	} {
		cases = append(cases, bad{name: "audit " + q.name, method: "GET", path: "/api/v1/admin/audit-logs?" + q.query, token: tn.admin.Access, status: 400, code: q.code})
	}
	for _, q := range []struct{ name, query string }{
		{"bad page", "page=0"}, {"page word", "page=x"}, {"bad role", "role=root"}, {"bad status", "status=gone"},
		{"bad sort", "sort=password"}, {"q too long", "q=" + strings.Repeat("q", 255)}, {"bad page_size", "page_size=1000"},
	} {
		cases = append(cases, bad{name: "users " + q.name, method: "GET", path: "/api/v1/admin/users?" + q.query, token: tn.admin.Access, status: 400, code: "invalid_query"})
	}

	for _, c := range cases {
		var body any
		if c.body != "" || c.method == "POST" || c.method == "PATCH" {
			body = c.body
		}
		r := tn.do(c.method, c.path, c.token, body, c.h)
		wantProblem(t, c.name, r, c.status, c.code)
	}

	// A body over 1 MiB. Sent whole, the server may answer and close before the client has
	// written it all (the client then sees a reset), so it is sent by hand: the headers first,
	// then as much of the body as the server reads.
	for _, p := range moneyPaths {
		r := tn.oversized(p, svc.Access, 1<<20+10)
		wantProblem(t, "body over 1 MiB on "+p, r, http.StatusRequestEntityTooLarge, "body_too_large")
	}
	// Exactly at the limit is not too large (it is merely a bad request).
	r := tn.do("POST", w+"/deposits", svc.Access, `{"amount":1,"reference_id":"`+strings.Repeat("x", 1<<20-50)+`"}`)
	wantProblem(t, "body of 1 MiB minus 2 bytes", r, http.StatusBadRequest, "invalid")

	after, afterTxs := tn.checkLedger(svc.Access, u.WalletID)
	if after.Seq != before.Seq || after.Balance != before.Balance || after.Held != before.Held || len(afterTxs) != len(beforeTxs) {
		t.Errorf("bad requests changed the wallet: before %+v (%d entries), after %+v (%d entries)",
			before, len(beforeTxs), after, len(afterTxs))
	}
}

// oversized posts a JSON body of n bytes on a raw connection and returns the answer, which may
// come before the body is fully sent.
func (tn *testNode) oversized(path, token string, n int) response {
	tn.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(tn.base, "http://"))
	if err != nil {
		tn.t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, token, n)
	if _, err := io.WriteString(conn, head); err != nil {
		tn.t.Fatal(err)
	}
	go func() { // the body, until the server stops reading
		chunk := []byte(strings.Repeat(" ", 64<<10))
		for sent := 0; sent < n; sent += len(chunk) {
			if _, err := conn.Write(chunk[:min(len(chunk), n-sent)]); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "POST"})
	if err != nil {
		tn.t.Fatalf("oversized POST %s: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}
