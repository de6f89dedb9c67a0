package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// move posts a money-moving request and decodes the transaction on 201.
func (tn *testNode) move(token, path string, body any, h ...hdr) (txView, response) {
	tn.t.Helper()
	r := tn.do("POST", path, token, body, h...)
	var tx txView
	if r.Status == http.StatusCreated {
		decodeInto(tn.t, r, http.StatusCreated, &tx)
	}
	return tx, r
}

func (tn *testNode) mustMove(token, path string, body any, h ...hdr) txView {
	tn.t.Helper()
	tx, r := tn.move(token, path, body, h...)
	if r.Status != http.StatusCreated {
		tn.t.Fatalf("POST %s %v: %s", path, body, r)
	}
	return tx
}

func testMoneyRoutes(t *testing.T, tn *testNode) {
	svc, u := tn.newUser("service"), tn.newUser("user")
	w := "/api/v1/wallets/" + u.WalletID
	ledger := func(step string, wantBalance, wantHeld int64) {
		t.Helper()
		got, _ := tn.checkLedger(svc.Access, u.WalletID)
		if got.Balance != wantBalance || got.Held != wantHeld {
			t.Fatalf("after %s: balance %d held %d, want %d and %d", step, got.Balance, got.Held, wantBalance, wantHeld)
		}
	}

	// Deposit and spend.
	dep := tn.mustMove(svc.Access, w+"/deposits", map[string]any{"amount": 1000, "reference_id": "pay-1"})
	if dep.Type != "deposit" || dep.Status != "success" || dep.Amount != 1000 || dep.BalanceAfter != 1000 ||
		dep.Seq != 1 || dep.WalletID != u.WalletID || dep.ReferenceID != "pay-1" {
		t.Errorf("deposit = %+v", dep)
	}
	_, r := tn.move(svc.Access, w+"/spends", map[string]any{"amount": 5000})
	wantProblem(t, "spend beyond the balance", r, http.StatusConflict, "insufficient_funds")
	spend := tn.mustMove(svc.Access, w+"/spends", map[string]any{"amount": 100, "reference_id": "job-1"})
	if spend.Type != "spend" || spend.BalanceDelta != -100 || spend.BalanceAfter != 900 {
		t.Errorf("spend = %+v", spend)
	}
	_, r = tn.move(u.Access, w+"/spends", map[string]any{"amount": 1})
	wantProblem(t, "user spending", r, http.StatusForbidden, "forbidden")
	ledger("deposit and spend", 900, 0)

	// Hold, then capture part of it: the rest is released by the same entry.
	hold := tn.mustMove(svc.Access, w+"/holds", map[string]any{"amount": 300, "expires_in_seconds": 600})
	if hold.Type != "hold" || hold.HoldID != hold.ID || hold.HeldDelta != 300 || hold.HeldAfter != 300 {
		t.Errorf("hold = %+v", hold)
	}
	if wv := tn.wallet(svc.Access, u.WalletID); wv.Available != 600 {
		t.Errorf("available with a hold of 300: %+v", wv)
	}
	_, r = tn.move(svc.Access, w+"/spends", map[string]any{"amount": 700})
	wantProblem(t, "spend of held points", r, http.StatusConflict, "insufficient_funds")
	_, r = tn.move(svc.Access, w+"/holds", map[string]any{"amount": 601, "expires_in_seconds": 60})
	wantProblem(t, "hold beyond available", r, http.StatusConflict, "insufficient_funds")
	_, r = tn.move(svc.Access, "/api/v1/holds/"+hold.ID+"/capture", map[string]any{"amount": 301})
	wantProblem(t, "capture beyond the hold", r, http.StatusBadRequest, "invalid")
	capture := tn.mustMove(svc.Access, "/api/v1/holds/"+hold.ID+"/capture", map[string]any{"amount": 200})
	if capture.Type != "capture" || capture.BalanceDelta != -200 || capture.HeldDelta != -300 || capture.HoldID != hold.ID {
		t.Errorf("capture = %+v", capture)
	}
	_, r = tn.move(svc.Access, "/api/v1/holds/"+hold.ID+"/capture", nil)
	wantProblem(t, "second capture", r, http.StatusNotFound, "hold_not_active")
	_, r = tn.move(svc.Access, "/api/v1/holds/"+hold.ID+"/release", nil)
	wantProblem(t, "release of a captured hold", r, http.StatusNotFound, "hold_not_active")
	ledger("hold and capture", 700, 0)

	// Hold, capture all (empty body); hold, release.
	h2 := tn.mustMove(svc.Access, w+"/holds", map[string]any{"amount": 50, "expires_in_seconds": 60})
	if c := tn.mustMove(svc.Access, "/api/v1/holds/"+h2.ID+"/capture", nil); c.Amount != 50 || c.BalanceAfter != 650 {
		t.Errorf("capture of all = %+v", c)
	}
	h3 := tn.mustMove(svc.Access, w+"/holds", map[string]any{"amount": 70, "expires_in_seconds": 60})
	if rel := tn.mustMove(svc.Access, "/api/v1/holds/"+h3.ID+"/release", nil); rel.Type != "release" || rel.HeldDelta != -70 || rel.BalanceDelta != 0 {
		t.Errorf("release = %+v", rel)
	}
	_, r = tn.move(svc.Access, "/api/v1/holds/"+h3.ID+"/release", nil)
	wantProblem(t, "second release", r, http.StatusNotFound, "hold_not_active")
	_, r = tn.move(svc.Access, "/api/v1/holds/"+uuid.NewString()+"/release", nil)
	wantProblem(t, "release of an unknown hold", r, http.StatusNotFound, "not_found")
	_, r = tn.move(svc.Access, "/api/v1/holds/"+spend.ID+"/capture", nil)
	wantProblem(t, "capture of a spend", r, http.StatusNotFound, "not_found")
	_, r = tn.move(svc.Access, w+"/holds", map[string]any{"amount": 10})
	wantProblem(t, "hold without expiry", r, http.StatusBadRequest, "invalid")
	ledger("holds", 650, 0)

	// Refunds: part, too much, the rest, nothing left.
	if rf := tn.mustMove(svc.Access, "/api/v1/transactions/"+spend.ID+"/refunds", map[string]any{"amount": 40}); rf.Type != "refund" ||
		rf.BalanceDelta != 40 || rf.RefundOf != spend.ID {
		t.Errorf("refund = %+v", rf)
	}
	_, r = tn.move(svc.Access, "/api/v1/transactions/"+spend.ID+"/refunds", map[string]any{"amount": 61})
	wantProblem(t, "refund beyond the spend", r, http.StatusBadRequest, "refund_exceeds_spend")
	if rf := tn.mustMove(svc.Access, "/api/v1/transactions/"+spend.ID+"/refunds", nil); rf.Amount != 60 {
		t.Errorf("refund of the rest = %+v", rf)
	}
	_, r = tn.move(svc.Access, "/api/v1/transactions/"+spend.ID+"/refunds", nil)
	wantProblem(t, "refund of a fully refunded spend", r, http.StatusBadRequest, "refund_exceeds_spend")
	if rf := tn.mustMove(svc.Access, "/api/v1/transactions/"+capture.ID+"/refunds", map[string]any{"amount": 200}); rf.BalanceAfter != 950 {
		t.Errorf("refund of a capture = %+v", rf)
	}
	_, r = tn.move(svc.Access, "/api/v1/transactions/"+dep.ID+"/refunds", nil)
	wantProblem(t, "refund of a deposit", r, http.StatusNotFound, "transaction_not_refundable")
	_, r = tn.move(svc.Access, "/api/v1/transactions/"+uuid.NewString()+"/refunds", nil)
	wantProblem(t, "refund of an unknown transaction", r, http.StatusNotFound, "not_found")
	ledger("refunds", 950, 0)

	// Adjustments: admin only, reason required, never below zero.
	adj := tn.mustMove(tn.admin.Access, w+"/adjustments", map[string]any{"amount": -50, "reason": "correction"})
	if adj.Type != "adjust" || adj.BalanceDelta != -50 || adj.Reason != "correction" {
		t.Errorf("adjustment = %+v", adj)
	}
	tn.mustMove(tn.admin.Access, w+"/adjustments", map[string]any{"amount": 100, "reason": "goodwill"})
	_, r = tn.move(tn.admin.Access, w+"/adjustments", map[string]any{"amount": 10})
	wantProblem(t, "adjustment without reason", r, http.StatusBadRequest, "invalid")
	_, r = tn.move(tn.admin.Access, w+"/adjustments", map[string]any{"amount": 0, "reason": "nothing"})
	wantProblem(t, "adjustment of zero", r, http.StatusBadRequest, "invalid")
	_, r = tn.move(tn.admin.Access, w+"/adjustments", map[string]any{"amount": -100000, "reason": "too much"})
	wantProblem(t, "adjustment below zero", r, http.StatusConflict, "insufficient_funds")
	_, r = tn.move(svc.Access, w+"/adjustments", map[string]any{"amount": 10, "reason": "service"})
	wantProblem(t, "service adjusting", r, http.StatusForbidden, "forbidden")
	ledger("adjustments", 1000, 0)

	// Idempotency: a replay answers the first result, a different body with the same key is a
	// conflict, and nothing moves twice.
	key := hdr{"Idempotency-Key": "idem-" + uuid.NewString()}
	first := tn.do("POST", w+"/deposits", svc.Access, `{"amount":25,"reference_id":"pay-2"}`, key)
	if first.Status != http.StatusCreated || first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first keyed deposit: %s (replayed header %q)", first, first.Header.Get("Idempotent-Replayed"))
	}
	for i := 0; i < 2; i++ {
		again := tn.do("POST", w+"/deposits", svc.Access, `{"amount":25,"reference_id":"pay-2"}`, key)
		if again.Status != http.StatusCreated || string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay %d: %s, Idempotent-Replayed %q; first was %s", i, again, again.Header.Get("Idempotent-Replayed"), first)
		}
	}
	wantProblem(t, "same key, other amount", tn.do("POST", w+"/deposits", svc.Access, `{"amount":26,"reference_id":"pay-2"}`, key),
		http.StatusUnprocessableEntity, "idempotency_conflict")
	wantProblem(t, "same key, other reference", tn.do("POST", w+"/deposits", svc.Access, `{"amount":25,"reference_id":"pay-3"}`, key),
		http.StatusUnprocessableEntity, "idempotency_conflict")
	wantProblem(t, "same key, other operation", tn.do("POST", w+"/spends", svc.Access, `{"amount":25,"reference_id":"pay-2"}`, key),
		http.StatusUnprocessableEntity, "idempotency_conflict")
	wantProblem(t, "key too long", tn.do("POST", w+"/deposits", svc.Access, `{"amount":1}`, hdr{"Idempotency-Key": strings.Repeat("k", 201)}),
		http.StatusBadRequest, "invalid_idempotency_key")
	// A keyed spend replayed after the balance changed still answers its first result.
	spendKey := hdr{"Idempotency-Key": "spend-" + uuid.NewString()}
	s1 := tn.do("POST", w+"/spends", svc.Access, `{"amount":1025}`, spendKey)
	s2 := tn.do("POST", w+"/spends", svc.Access, `{"amount":1025}`, spendKey)
	if s1.Status != 201 || s2.Status != 201 || string(s1.Body) != string(s2.Body) || s2.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("keyed spend of everything, then its replay at balance 0: %s / %s", s1, s2)
	}
	ledger("idempotent requests", 0, 0)

	// Deposits to wallets that do not exist.
	_, r = tn.move(svc.Access, "/api/v1/wallets/"+uuid.NewString()+"/deposits", map[string]any{"amount": 1})
	wantProblem(t, "deposit to an unknown wallet", r, http.StatusNotFound, "not_found")
}

// testConcurrentSpends fires 200 spends of 10 at a wallet holding 1,000 at once over HTTP:
// exactly 100 must succeed, 100 must be refused for funds, and the balance must end at 0.
func testConcurrentSpends(t *testing.T, tn *testNode) {
	svc, u := tn.newUser("service"), tn.newUser("user")
	w := "/api/v1/wallets/" + u.WalletID
	tn.mustMove(svc.Access, w+"/deposits", map[string]any{"amount": 1000})

	const n = 200
	results := make([]response, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = tn.tryDo("POST", w+"/spends", svc.Access, `{"amount":10}`,
				hdr{"Idempotency-Key": fmt.Sprintf("spend-%d", i)})
		}()
	}
	close(start)
	wg.Wait()
	ok, poor := 0, 0
	for i, r := range results {
		switch {
		case errs[i] != nil:
			t.Errorf("spend %d: %v", i, errs[i])
		case r.Status == http.StatusCreated:
			ok++
		case r.Status == http.StatusConflict && r.code() == "insufficient_funds":
			poor++
		default:
			t.Errorf("spend %d: %s", i, r)
		}
	}
	if ok != 100 || poor != 100 {
		t.Errorf("%d spends succeeded and %d were refused, want 100 and 100", ok, poor)
	}
	got, txs := tn.checkLedger(svc.Access, u.WalletID)
	if got.Balance != 0 || len(txs) != 101 {
		t.Errorf("after the spends: %+v with %d entries, want balance 0 and 101 entries", got, len(txs))
	}
}

// testHoldExpiryOverflow: expires_in_seconds is validated as a duration, so a number of seconds
// whose nanoseconds overflow int64 must be refused, not wrapped around into a short hold.
func testHoldExpiryOverflow(t *testing.T, tn *testNode) {
	svc, u := tn.newUser("service"), tn.newUser("user")
	w := "/api/v1/wallets/" + u.WalletID
	tn.mustMove(svc.Access, w+"/deposits", map[string]any{"amount": 100})
	// 18446744074 s = 2^64 ns + 0.29 s: as a time.Duration it wraps to 290 ms.
	for _, secs := range []string{"18446744074", "9223372036854775807", "2592001"} {
		_, r := tn.move(svc.Access, w+"/holds", `{"amount":10,"expires_in_seconds":`+secs+`}`)
		wantProblem(t, "hold for "+secs+" s", r, http.StatusBadRequest, "invalid")
	}
	if got, _ := tn.checkLedger(svc.Access, u.WalletID); got.Seq != 1 || got.Held != 0 {
		t.Errorf("refused holds were written: %+v", got)
	}
}
