// Package paytest is the notification test suite every payment provider passes: a table of
// deliveries (paid, duplicated, replayed, concurrent to every node, forged, unsigned, stale,
// mismatched) run over real HTTP against running nodes, each checked against the ledger. A
// provider takes part through a Harness: how to make its test server pay, and how to sign (or
// forge) its notifications. The sandbox's harness is here; stripe's and ecpay's go beside their
// test servers.
package paytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/payments/sandbox"
	"github.com/divinewhispers/dw/persistence"
)

// Delivery is one notification as the provider would post it.
type Delivery struct {
	Header http.Header
	Body   []byte
}

// Checkout is a started checkout, as the API answered it.
type Checkout struct {
	PaymentID   string
	WalletID    string
	Points      int64
	Price       payments.Money
	RedirectURL string
	Method      string
	Fields      map[string]string
}

// Harness is one provider's part in the suite.
type Harness interface {
	// Provider is the provider's route name.
	Provider() string
	// Pay makes the provider hold the money of c without telling us (a lost notification).
	Pay(t testing.TB, c Checkout)
	// Notification is a well-signed notification that c ended with outcome, for amount.
	Notification(t testing.TB, c Checkout, outcome payments.Outcome, amount payments.Money) Delivery
	// Forgeries are notifications of c's payment that must be refused (400 invalid_signature),
	// by name: at least unsigned, forged (another key) and stale.
	Forgeries(t testing.TB, c Checkout) map[string]Delivery
}

// Buyer is a signed-in user with a personal wallet.
type Buyer struct{ Token, WalletID string }

// Env is where the suite runs: nodes of one cluster and their database.
type Env struct {
	Bases    []string // base URLs of the nodes (http://host:port)
	Client   *http.Client
	Store    *persistence.Store // a pool on the nodes' database, for ledger checks
	NewBuyer func(t testing.TB) Buyer
	Package  string // the package bought; "" = "small"
}

// Response is a finished HTTP exchange.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends one request with a JSON (or raw []byte) body.
func (e Env) Do(t testing.TB, method, url, token string, body any, header http.Header) Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// StartCheckout buys the env's package through the harness's provider on the first node.
func (e Env) StartCheckout(t testing.TB, h Harness, b Buyer) Checkout {
	t.Helper()
	pkg := e.Package
	if pkg == "" {
		pkg = "small"
	}
	r := e.Do(t, "POST", e.Bases[0]+"/api/v1/payments/checkout", b.Token, map[string]string{"provider": h.Provider(), "package": pkg}, nil)
	if r.Status != 201 {
		t.Fatalf("checkout: %d %s", r.Status, r.Body)
	}
	var out struct {
		Payment struct {
			ID         string `json:"id"`
			WalletID   string `json:"wallet_id"`
			Points     int64  `json:"points"`
			Currency   string `json:"currency"`
			PriceMinor int64  `json:"price_minor"`
			Status     string `json:"status"`
		} `json:"payment"`
		RedirectURL string            `json:"redirect_url"`
		Method      string            `json:"method"`
		Fields      map[string]string `json:"fields"`
	}
	if err := json.Unmarshal(r.Body, &out); err != nil || out.Payment.ID == "" || out.Payment.Status != "pending" || out.RedirectURL == "" {
		t.Fatalf("checkout answered %s (%v)", r.Body, err)
	}
	return Checkout{PaymentID: out.Payment.ID, WalletID: out.Payment.WalletID, Points: out.Payment.Points,
		Price: payments.Money{Currency: out.Payment.Currency, Minor: out.Payment.PriceMinor}, RedirectURL: out.RedirectURL,
		Method: out.Method, Fields: out.Fields}
}

// Deliver posts d to node i's webhook route of the provider.
func (e Env) Deliver(t testing.TB, h Harness, i int, d Delivery) Response {
	t.Helper()
	return e.Do(t, "POST", e.Bases[i%len(e.Bases)]+"/api/v1/payments/webhooks/"+h.Provider(), "", d.Body, d.Header)
}

// Status reads a payment's status and ledger entry through the API.
func (e Env) Status(t testing.TB, b Buyer, paymentID string) (status, txID string) {
	t.Helper()
	r := e.Do(t, "GET", e.Bases[0]+"/api/v1/payments/"+paymentID, b.Token, nil, nil)
	var p struct {
		Status        string `json:"status"`
		TransactionID string `json:"transaction_id"`
	}
	if r.Status != 200 || json.Unmarshal(r.Body, &p) != nil {
		t.Fatalf("GET payment: %d %s", r.Status, r.Body)
	}
	return p.Status, p.TransactionID
}

// Ledger checks a wallet's balance against its ledger and returns the balance and the number of
// credits of the payment (ledger entries keyed payment:<id>).
func (e Env) Ledger(t testing.TB, walletID, paymentID string) (balance int64, credits int) {
	t.Helper()
	var sum, seq, count int64
	err := e.Store.Pool().QueryRow(context.Background(), `SELECT w.balance, w.seq,
		COALESCE((SELECT sum(balance_delta) FROM transactions WHERE wallet_id = w.id AND status = 'success'), 0),
		(SELECT count(*) FROM transactions WHERE wallet_id = w.id),
		(SELECT count(*) FROM transactions WHERE wallet_id = w.id AND idempotency_key = 'payment:' || $2)
		FROM wallets w WHERE w.id = $1`, walletID, paymentID).Scan(&balance, &seq, &sum, &count, &credits)
	if err != nil {
		t.Fatal(err)
	}
	if balance != sum || seq != count || balance < 0 {
		t.Fatalf("wallet %s: balance %d, ledger sum %d, seq %d, entries %d", walletID, balance, sum, seq, count)
	}
	return balance, credits
}

// Audits counts the audit rows of an action (about a payment, or about none with "").
func (e Env) Audits(t testing.TB, action, paymentID string) int {
	t.Helper()
	var n int
	err := e.Store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM audit_logs WHERE action = $1
		AND ($2 = '' OR target_id = $2)`, action, paymentID).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// WaitFor polls cond until it holds or d passes.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RunNotifications runs the notification table against env with h's provider: each case its
// own buyer, checkout and assertions on the ledger.
func RunNotifications(t *testing.T, env Env, h Harness) {
	type want struct {
		status  string
		credits int
	}
	cases := []struct {
		name string
		run  func(t *testing.T, c Checkout)
		want want
	}{
		{"paid once", func(t *testing.T, c Checkout) {
			wantAck(t, env.Deliver(t, h, 0, h.Notification(t, c, payments.OutcomePaid, c.Price)))
		}, want{"succeeded", 1}},
		{"duplicate delivery", func(t *testing.T, c Checkout) {
			d := h.Notification(t, c, payments.OutcomePaid, c.Price)
			for range 3 {
				wantAck(t, env.Deliver(t, h, 0, d))
			}
		}, want{"succeeded", 1}},
		{"retried as new events", func(t *testing.T, c Checkout) {
			for range 3 {
				wantAck(t, env.Deliver(t, h, 0, h.Notification(t, c, payments.OutcomePaid, c.Price)))
			}
		}, want{"succeeded", 1}},
		{"concurrent to every node", func(t *testing.T, c Checkout) {
			d := h.Notification(t, c, payments.OutcomePaid, c.Price)
			var wg sync.WaitGroup
			res := make([]Response, 4*len(env.Bases))
			for i := range res {
				wg.Add(1)
				go func() { defer wg.Done(); res[i] = env.Deliver(t, h, i, d) }()
			}
			wg.Wait()
			for _, r := range res {
				wantAck(t, r)
			}
		}, want{"succeeded", 1}},
		{"failed after paid changes nothing", func(t *testing.T, c Checkout) {
			wantAck(t, env.Deliver(t, h, 0, h.Notification(t, c, payments.OutcomePaid, c.Price)))
			wantAck(t, env.Deliver(t, h, 1, h.Notification(t, c, payments.OutcomeFailed, c.Price)))
		}, want{"succeeded", 1}},
		{"failed", func(t *testing.T, c Checkout) {
			wantAck(t, env.Deliver(t, h, 0, h.Notification(t, c, payments.OutcomeFailed, c.Price)))
		}, want{"failed", 0}},
		{"amount mismatch is flagged", func(t *testing.T, c Checkout) {
			more := c.Price
			more.Minor++
			wantAck(t, env.Deliver(t, h, 0, h.Notification(t, c, payments.OutcomePaid, more)))
			if n := env.Audits(t, "payment.flagged", c.PaymentID); n != 1 {
				t.Errorf("%d payment.flagged audit rows, want 1", n)
			}
		}, want{"flagged", 0}},
		{"currency mismatch is flagged", func(t *testing.T, c Checkout) {
			other := c.Price
			other.Currency = "USD"
			if c.Price.Currency == "USD" {
				other.Currency = "EUR"
			}
			wantAck(t, env.Deliver(t, h, 0, h.Notification(t, c, payments.OutcomePaid, other)))
		}, want{"flagged", 0}},
		{"forged, unsigned and stale are refused", func(t *testing.T, c Checkout) {
			for name, d := range h.Forgeries(t, c) {
				before := env.Audits(t, "payment.notification_rejected", "")
				r := env.Deliver(t, h, 0, d)
				var p struct {
					Code string `json:"code"`
				}
				_ = json.Unmarshal(r.Body, &p)
				if r.Status != 400 || p.Code != "invalid_signature" {
					t.Errorf("%s: %d %s, want 400 invalid_signature", name, r.Status, r.Body)
				}
				if after := env.Audits(t, "payment.notification_rejected", ""); after != before+1 {
					t.Errorf("%s: %d rejection audit rows, then %d: want one more", name, before, after)
				}
			}
		}, want{"pending", 0}},
	}
	for _, tc := range cases {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			b := env.NewBuyer(t)
			c := env.StartCheckout(t, h, b)
			tc.run(t, c)
			status, _ := env.Status(t, b, c.PaymentID)
			balance, credits := env.Ledger(t, c.WalletID, c.PaymentID)
			if status != tc.want.status || credits != tc.want.credits {
				t.Errorf("payment %s, %d credit(s); want %s, %d", status, credits, tc.want.status, tc.want.credits)
			}
			if wantBalance := int64(tc.want.credits) * c.Points; balance != wantBalance {
				t.Errorf("balance %d, want %d", balance, wantBalance)
			}
		})
	}
}

func wantAck(t testing.TB, r Response) {
	t.Helper()
	if r.Status != 200 {
		t.Errorf("notification answered %d %s, want 200", r.Status, r.Body)
	}
}

// Sandbox is the sandbox provider's harness: its records and key are in the database.
type Sandbox struct{ Store *persistence.Store }

// Provider implements Harness.
func (Sandbox) Provider() string { return sandbox.Name }

// Pay implements Harness: the sandbox's record says paid; nobody is told.
func (s Sandbox) Pay(t testing.TB, c Checkout) {
	t.Helper()
	if _, changed, err := s.Store.SetSandboxOutcome(context.Background(), c.PaymentID, []payments.Outcome{payments.OutcomePending}, payments.OutcomePaid); err != nil || !changed {
		t.Fatalf("sandbox pay %s: changed %v, %v", c.PaymentID, changed, err)
	}
}

var eventSeq sync.Mutex
var eventN int

func (s Sandbox) event(t testing.TB, c Checkout, outcome payments.Outcome, amount payments.Money) []byte {
	t.Helper()
	r, err := s.Store.SandboxRecord(context.Background(), c.PaymentID)
	if err != nil {
		t.Fatal(err)
	}
	eventSeq.Lock()
	eventN++
	n := eventN
	eventSeq.Unlock()
	body, _ := json.Marshal(sandbox.Event{ID: fmt.Sprintf("evt_test_%d_%d", time.Now().UnixNano(), n), Type: "payment." + string(outcome),
		PaymentID: c.PaymentID, Ref: r.Ref, Outcome: outcome, Currency: amount.Currency, AmountMinor: amount.Minor, Created: time.Now().Unix()})
	return body
}

func (s Sandbox) key(t testing.TB) []byte {
	t.Helper()
	k, err := s.Store.SandboxKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func signed(key, body []byte, at time.Time) Delivery {
	return Delivery{Header: http.Header{sandbox.SignatureHeader: {sandbox.Sign(key, body, at)}}, Body: body}
}

// Notification implements Harness.
func (s Sandbox) Notification(t testing.TB, c Checkout, outcome payments.Outcome, amount payments.Money) Delivery {
	t.Helper()
	return signed(s.key(t), s.event(t, c, outcome, amount), time.Now())
}

// Forgeries implements Harness.
func (s Sandbox) Forgeries(t testing.TB, c Checkout) map[string]Delivery {
	t.Helper()
	body := s.event(t, c, payments.OutcomePaid, c.Price)
	tampered := signed(s.key(t), body, time.Now())
	tampered.Body = bytes.Replace(body, []byte(fmt.Sprintf(`"amount_minor":%d`, c.Price.Minor)), []byte(fmt.Sprintf(`"amount_minor":%d`, c.Price.Minor+1)), 1)
	return map[string]Delivery{
		"unsigned":     {Header: http.Header{}, Body: body},
		"forged":       signed([]byte("not-the-cluster-key-0123456789abcdef"), body, time.Now()),
		"stale":        signed(s.key(t), body, time.Now().Add(-sandbox.Tolerance-time.Minute)),
		"future":       signed(s.key(t), body, time.Now().Add(sandbox.Tolerance+time.Minute)),
		"tampered":     tampered,
		"garbage sig":  {Header: http.Header{sandbox.SignatureHeader: {"t=1,v1=zz"}}, Body: body},
		"empty header": {Header: http.Header{sandbox.SignatureHeader: {""}}, Body: body},
	}
}
