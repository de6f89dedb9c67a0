//go:build !race

package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/payments/paytest"
)

// payEnv is the notification suite's view of a test node.
func payEnv(tn *testNode) paytest.Env {
	return paytest.Env{Bases: []string{tn.base, tn.base}, Client: tn.client, Store: tn.store,
		NewBuyer: func(t testing.TB) paytest.Buyer {
			u := tn.with(t.(*testing.T)).newUser(account.RoleUser)
			return paytest.Buyer{Token: u.Access, WalletID: u.WalletID}
		}}
}

// TestPayments runs the payment scenarios over real HTTP against one node with the sandbox, a
// provider that is down, a second currency and a reconciler that asks after a second. It
// starts a node of its own, so it is left out of -race builds (several Proto.Actor nodes in
// one process race inside protoactor-go and grpc; see TestGateway); payments.Service's own
// concurrency is tested under -race in package payments.
func TestPayments(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close() // nothing listens there now
	tn := startNode(t, func(c *node.Config) {
		c.PaymentPackages = "small:100:TWD:150,large:1200:TWD:1500,intl:500:USD:4.99"
		c.PaymentProviders = []payments.Provider{downProvider{down}}
		c.PaymentReconcileAfter = time.Second
	})
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *testNode)
	}{
		{"Notifications", testPaymentNotifications},
		{"SandboxPage", testSandboxPage},
		{"Packages", testPaymentPackages},
		{"CheckoutInput", testCheckoutInput},
		{"ProviderDown", testProviderDown},
		{"Refund", testPaymentRefund},
		{"ReconcilerCatchesLostNotification", testReconcilerCatchesLostNotification},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t, tn.with(t))
		})
	}
}

// testPaymentNotifications runs the provider notification table with the sandbox: a paid
// notification credits once, whatever is duplicated, retried or sent at once; forged, unsigned
// and stale ones are refused with an audit row; a mismatch is flagged.
func testPaymentNotifications(t *testing.T, tn *testNode) {
	paytest.RunNotifications(t, payEnv(tn), paytest.Sandbox{Store: tn.store})
}

// noRedirects is a client that hands 3xx answers back.
func noRedirects(c *http.Client) *http.Client {
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}

// testSandboxPage pays and cancels through the sandbox's page over HTTP, as a browser would.
func testSandboxPage(t *testing.T, tn *testNode) {
	env := payEnv(tn)
	h := paytest.Sandbox{Store: tn.store}
	client := noRedirects(tn.client)
	press := func(t *testing.T, c paytest.Checkout, action string) *http.Response {
		t.Helper()
		res, err := client.PostForm(c.RedirectURL, url.Values{"action": {action}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for _, tc := range []struct {
		action, status, location string
		credits                  int
	}{{"pay", "succeeded", "/wallet?payment=", 1}, {"cancel", "failed", "&cancelled=1", 0}} {
		t.Run(tc.action, func(t *testing.T) {
			b := env.NewBuyer(t)
			c := env.StartCheckout(t, h, b)
			if c.Method != "GET" || !strings.HasPrefix(c.RedirectURL, tn.base+"/pay/sandbox/"+c.PaymentID) {
				t.Fatalf("redirect %s %s", c.Method, c.RedirectURL)
			}
			res, err := tn.client.Get(c.RedirectURL)
			if err != nil {
				t.Fatal(err)
			}
			var page bytes.Buffer
			_, _ = page.ReadFrom(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
				!strings.Contains(page.String(), `value="pay"`) || !strings.Contains(page.String(), "150 TWD") ||
				!strings.Contains(page.String(), "沙盒付款") {
				t.Fatalf("page: %d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), page.String())
			}
			for range 2 { // a second press changes nothing
				res := press(t, c, tc.action)
				if res.StatusCode != http.StatusSeeOther || !strings.Contains(res.Header.Get("Location"), tc.location) {
					t.Fatalf("press %s: %d Location %q", tc.action, res.StatusCode, res.Header.Get("Location"))
				}
			}
			status, txID := env.Status(t, b, c.PaymentID)
			balance, credits := env.Ledger(t, c.WalletID, c.PaymentID)
			if status != tc.status || credits != tc.credits || balance != int64(tc.credits)*c.Points || (tc.credits == 1) != (txID != "") {
				t.Errorf("after %s: %s, %d credits, balance %d, transaction %q", tc.action, status, credits, balance, txID)
			}
			tn.with(t).checkLedger(b.Token, c.WalletID)
		})
	}
	t.Run("unknown", func(t *testing.T) {
		wantProblem(t, "unknown payment page", tn.do("GET", "/pay/sandbox/0196a6c4-5b2e-7c3e-8d6f-1a2b3c4d5e6f", "", nil), 404, "not_found")
		wantProblem(t, "malformed id", tn.do("GET", "/pay/sandbox/nope", "", nil), 404, "not_found")
	})
}

// testPaymentPackages: the packages on sale, prices in major units, and the providers.
func testPaymentPackages(t *testing.T, tn *testNode) {
	r := tn.do("GET", "/api/v1/payments/packages", "", nil)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"price":4.99`) || !strings.Contains(string(r.Body), `"price":150,`) {
		t.Fatalf("packages: %s", r)
	}
	var got struct {
		Items []struct {
			ID         string `json:"id"`
			Points     int64  `json:"points"`
			Currency   string `json:"currency"`
			PriceMinor int64  `json:"price_minor"`
		} `json:"items"`
		Providers []string `json:"providers"`
	}
	decodeInto(t, r, 200, &got)
	if len(got.Items) != 3 || got.Items[2].ID != "intl" || got.Items[2].PriceMinor != 499 || got.Items[2].Currency != "USD" ||
		got.Items[0].PriceMinor != 150 || strings.Join(got.Providers, ",") != "down,sandbox" {
		t.Errorf("packages: %+v", got)
	}
}

// testCheckoutInput: the Idempotency-Key answers the first checkout again; bad input is refused
// by field.
func testCheckoutInput(t *testing.T, tn *testNode) {
	u := tn.newUser(account.RoleUser)
	buy := func(provider, pkg, key string) response {
		return tn.do("POST", "/api/v1/payments/checkout", u.Access, map[string]string{"provider": provider, "package": pkg}, hdr{"Idempotency-Key": key})
	}
	var first, again struct {
		Payment struct {
			ID string `json:"id"`
		} `json:"payment"`
		RedirectURL string `json:"redirect_url"`
	}
	decodeInto(t, buy("sandbox", "small", "k-1"), 201, &first)
	r := buy("sandbox", "small", "k-1")
	decodeInto(t, r, 201, &again)
	if again.Payment.ID != first.Payment.ID || again.RedirectURL != first.RedirectURL || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: %+v, then %+v (%v)", first, again, r.Header)
	}
	wantProblem(t, "same key, other package", buy("sandbox", "large", "k-1"), 422, "idempotency_conflict")
	wantProblem(t, "reserved key", buy("sandbox", "small", "payment:"+first.Payment.ID), 400, "reserved_idempotency_key")
	wantProblem(t, "unknown provider", buy("paypal", "small", "k-2"), 400, "unknown_provider")
	wantProblem(t, "unknown package", buy("sandbox", "huge", "k-3"), 400, "unknown_package")
	wantProblem(t, "signed out", tn.do("POST", "/api/v1/payments/checkout", "", map[string]string{"provider": "sandbox", "package": "small"}), 401, "missing_token")
	wantProblem(t, "unknown webhook provider", tn.do("POST", "/api/v1/payments/webhooks/paypal", "", []byte(`{}`)), 404, "unknown_provider")

	// Someone else's payment is not found; lists hold one's own, an admin's everyone's.
	other := tn.newUser(account.RoleUser)
	wantProblem(t, "another's payment", tn.do("GET", "/api/v1/payments/"+first.Payment.ID, other.Access, nil), 404, "not_found")
	var list struct {
		Items []struct {
			ID, UserID string
		} `json:"items"`
	}
	decodeInto(t, tn.do("GET", "/api/v1/payments", other.Access, nil), 200, &list)
	if len(list.Items) != 0 {
		t.Errorf("another's list: %+v", list)
	}
	decodeInto(t, tn.do("GET", "/api/v1/payments?status=pending&provider=sandbox&user_id="+u.ID, tn.admin.Access, nil), 200, &list)
	if len(list.Items) != 1 || list.Items[0].ID != first.Payment.ID {
		t.Errorf("admin's list: %+v", list)
	}
	decodeInto(t, tn.do("GET", "/api/v1/payments?page_size=1", u.Access, nil), 200, &list)
	if len(list.Items) != 1 {
		t.Errorf("own list: %+v", list)
	}
}

// downProvider is a provider whose API does not answer: its checkout calls an address nothing
// listens on.
type downProvider struct{ addr string }

func (downProvider) Name() string { return "down" }
func (d downProvider) Checkout(ctx context.Context, _ payments.CheckoutRequest) (payments.Checkout, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+d.addr+"/v1/checkout", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return payments.Checkout{}, &dw.Error{Kind: dw.KindUnavailable, Code: "provider_unavailable", Message: "the provider cannot be reached", Err: err}
	}
	res.Body.Close()
	return payments.Checkout{}, dw.Coded(dw.KindInvalid, "provider_refused", "unexpected answer %d", res.StatusCode)
}
func (downProvider) ParseNotification(context.Context, http.Header, []byte, time.Time) (payments.Notification, error) {
	return payments.Notification{}, dw.Coded(dw.KindInvalid, "invalid_signature", "no")
}
func (downProvider) Acknowledge() payments.Ack { return payments.Ack{Status: 200} }
func (downProvider) Lookup(context.Context, string, string) (payments.Status, error) {
	return payments.Status{}, dw.Errorf(dw.KindUnavailable, "down")
}
func (downProvider) Refund(context.Context, payments.RefundRequest) error {
	return dw.Errorf(dw.KindUnavailable, "down")
}

// testProviderDown: a checkout the provider cannot take is 503 provider_unavailable and a
// failed payment (a replay of its key too); nothing is credited.
func testProviderDown(t *testing.T, tn *testNode) {
	u := tn.newUser(account.RoleUser)
	for range 2 {
		wantProblem(t, "checkout", tn.do("POST", "/api/v1/payments/checkout", u.Access, map[string]string{"provider": "down", "package": "small"},
			hdr{"Idempotency-Key": "down-1"}), 503, "provider_unavailable")
	}
	var list struct {
		Items []struct {
			Status, Reason, Provider string
			ID                       string `json:"id"`
		} `json:"items"`
	}
	decodeInto(t, tn.do("GET", "/api/v1/payments", u.Access, nil), 200, &list)
	if len(list.Items) != 1 || list.Items[0].Status != "failed" || !strings.Contains(list.Items[0].Reason, "cannot be reached") {
		t.Fatalf("payments after the provider was down: %+v", list)
	}
	if w := tn.wallet(u.Access, u.WalletID); w.Balance != 0 {
		t.Errorf("balance %d", w.Balance)
	}
}

// testPaymentRefund: two admins refunding at once refund once, at the provider and in the
// ledger; a pending payment cannot be refunded; a user cannot refund.
func testPaymentRefund(t *testing.T, tn *testNode) {
	env := payEnv(tn)
	h := paytest.Sandbox{Store: tn.store}
	b := env.NewBuyer(t)
	c := env.StartCheckout(t, h, b)
	url := "/api/v1/payments/" + c.PaymentID + "/refund"
	wantProblem(t, "refund of a pending payment", tn.do("POST", url, tn.admin.Access, nil), 409, "payment_not_refundable")
	h.Pay(t, c)
	if r := env.Deliver(t, h, 0, h.Notification(t, c, payments.OutcomePaid, c.Price)); r.Status != 200 {
		t.Fatalf("notification: %d %s", r.Status, r.Body)
	}
	wantProblem(t, "a user's refund", tn.do("POST", url, b.Token, nil), 403, "forbidden")

	var wg sync.WaitGroup
	res := make([]response, 3)
	for i := range res {
		wg.Add(1)
		go func() { defer wg.Done(); res[i] = tn.do("POST", url, tn.admin.Access, nil) }()
	}
	wg.Wait()
	for _, r := range res {
		var p struct {
			Status     string     `json:"status"`
			RefundedAt *time.Time `json:"refunded_at"`
		}
		decodeInto(t, r, 200, &p)
		if p.Status != "refunded" || p.RefundedAt == nil {
			t.Errorf("refund answered %s", r)
		}
	}
	var refunds int
	if err := tn.store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM transactions WHERE wallet_id = $1
		AND idempotency_key = 'payment-refund:' || $2`, c.WalletID, c.PaymentID).Scan(&refunds); err != nil {
		t.Fatal(err)
	}
	balance, credits := env.Ledger(t, c.WalletID, c.PaymentID)
	rec, err := tn.store.SandboxRecord(t.Context(), c.PaymentID)
	if err != nil {
		t.Fatal(err)
	}
	if refunds != 1 || credits != 1 || balance != 0 || rec.Outcome != payments.OutcomeRefunded {
		t.Errorf("after the refunds: %d refund entries, %d credits, balance %d, sandbox %s", refunds, credits, balance, rec.Outcome)
	}
	if n := env.Audits(t, "payment.refunded", c.PaymentID); n != 1 {
		t.Errorf("%d payment.refunded audit rows", n)
	}
	// A paid notification after the refund changes nothing.
	if r := env.Deliver(t, h, 0, h.Notification(t, c, payments.OutcomePaid, c.Price)); r.Status != 200 {
		t.Fatalf("late notification: %d %s", r.Status, r.Body)
	}
	if status, _ := env.Status(t, b, c.PaymentID); status != "refunded" {
		t.Errorf("status %s after a late paid notification", status)
	}
	tn.checkLedger(b.Token, c.WalletID)
}

// testReconcilerCatchesLostNotification: the provider holds the money but its notification
// never came; the node's reconciler asks it and credits once.
func testReconcilerCatchesLostNotification(t *testing.T, tn *testNode) {
	env := payEnv(tn)
	h := paytest.Sandbox{Store: tn.store}
	b := env.NewBuyer(t)
	c := env.StartCheckout(t, h, b)
	h.Pay(t, c)
	paytest.WaitFor(t, 20*time.Second, "the reconciler to credit the payment", func() bool {
		status, txID := env.Status(t, b, c.PaymentID)
		return status == "succeeded" && txID != ""
	})
	if balance, credits := env.Ledger(t, c.WalletID, c.PaymentID); balance != c.Points || credits != 1 {
		t.Errorf("balance %d, %d credits", balance, credits)
	}
	// A payment abandoned at the provider stays pending (the provider says pending).
	c2 := env.StartCheckout(t, h, b)
	var checked bool
	paytest.WaitFor(t, 20*time.Second, "the reconciler to ask about the abandoned payment", func() bool {
		_ = tn.store.Pool().QueryRow(t.Context(), `SELECT checked_at IS NOT NULL FROM payments WHERE id = $1`, c2.PaymentID).Scan(&checked)
		return checked
	})
	if status, _ := env.Status(t, b, c2.PaymentID); status != "pending" {
		t.Errorf("abandoned payment %s", status)
	}
	var body json.RawMessage
	decodeInto(t, tn.do("GET", "/api/v1/payments/"+c.PaymentID, tn.admin.Access, nil), 200, &body)
}
