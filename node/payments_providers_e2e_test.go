package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/payments/ecpay"
	"github.com/divinewhispers/dw/payments/ecpay/ecpaytest"
	"github.com/divinewhispers/dw/payments/paytest"
	"github.com/divinewhispers/dw/payments/stripe/stripetest"
)

// The nodes' reconciler asks about payments pending longer than this: the lost notifications
// below are caught within seconds. The table's payments are pending at the provider too (its
// notifications do not change the test server), so the reconciler leaves them alone.
const reconcileAfter = "1s"

// TestPaymentsStripe: two `dw serve` nodes on one database take Stripe payments from a
// Stripe-protocol server of our own (stripetest.Server, --stripe-api-base): the notification
// table (paid, duplicated, retried, concurrent to both nodes, failed, mismatched, forged,
// unsigned, stale, tampered), the checkout's answer, a lost webhook caught by the reconciler,
// an admin's refunds at once on both nodes reaching Stripe once, and Stripe down (503) or gone
// during a checkout. Every case checks the balance against the ledger.
func TestPaymentsStripe(t *testing.T) {
	t.Parallel()
	srv := stripetest.NewServer(t, "whsec_e2e_0123456789abcdef")
	var public string
	env, dbURL := payNodes(t, 2, func(first string) []string {
		public = "http://" + first
		return []string{"--public-url", public, "--payment-reconcile-after", reconcileAfter, "--log-level", "info",
			"--stripe-secret-key", "sk_test_e2e", "--stripe-webhook-secret", srv.Secret, "--stripe-api-base", srv.URL}
	})
	h := stripetest.Harness{Server: srv}

	t.Run("notifications", func(t *testing.T) { paytest.RunNotifications(t, env, h) })

	t.Run("checkout answer", func(t *testing.T) {
		b := env.NewBuyer(t)
		co := checkoutAnswer(t, env, b, "stripe", 201)
		p := co.Payment
		if co.Method != http.MethodGet || co.Fields != nil || p.ProviderRef == "" || co.RedirectURL != srv.URL+"/pay/"+p.ProviderRef {
			t.Fatalf("checkout: method %s, redirect %s, fields %v, session %q; want GET to the session's URL", co.Method, co.RedirectURL, co.Fields, p.ProviderRef)
		}
		s, ok := srv.Session(p.ProviderRef)
		if !ok || s.Status != "open" || s.ClientReferenceID != p.ID || s.Metadata["payment_id"] != p.ID || s.IntentMetadata["payment_id"] != p.ID ||
			s.Currency != "twd" || s.AmountTotal != 15000 || s.SuccessURL != public+"/wallet?payment="+p.ID {
			t.Fatalf("session at Stripe: %+v", s)
		}
		if res, err := client.Get(co.RedirectURL); err != nil || res.StatusCode != 200 {
			t.Fatalf("GET the session's URL: %v %v", res, err)
		} else {
			res.Body.Close()
		}
		wantCredits(t, env, paytest.Checkout{PaymentID: p.ID, WalletID: b.WalletID}, 0, 0, 0)
	})

	t.Run("lost notification caught by the reconciler", func(t *testing.T) {
		b := env.NewBuyer(t)
		c := env.StartCheckout(t, h, b)
		h.Pay(t, c) // paid at Stripe; its webhook never arrives
		waitCredited(t, env, b, c)
		// The webhook turns up late, at the other node: nothing more.
		wantStatus(t, "late notification", env.Deliver(t, h, 1, h.Notification(t, c, payments.OutcomePaid, c.Price)), 200)
		wantCredits(t, env, c, c.Points, 1, 0)
	})

	t.Run("refund", func(t *testing.T) {
		admin := createAdmin(t, env.Bases[0], "--database-url", dbURL)
		b := env.NewBuyer(t)
		c := env.StartCheckout(t, h, b)
		h.Pay(t, c)
		wantStatus(t, "paid", env.Deliver(t, h, 0, h.Notification(t, c, payments.OutcomePaid, c.Price)), 200)
		wantCredits(t, env, c, c.Points, 1, 0)
		refundAtOnce(t, env, admin, c)
		s, _ := srv.Session(h.SessionID(t, c))
		if len(s.Refunds) != 1 || !s.Refunded || s.Refunds[0].Get("payment_intent") != s.PaymentIntent || s.Refunds[0].Get("metadata[payment_id]") != c.PaymentID {
			t.Fatalf("refunds at Stripe: %v (refunded %v), want one of %s", s.Refunds, s.Refunded, s.PaymentIntent)
		}
		wantCredits(t, env, c, 0, 1, 1)
	})

	t.Run("refunded in Stripe's dashboard", func(t *testing.T) {
		b := env.NewBuyer(t)
		c := env.StartCheckout(t, h, b)
		h.Pay(t, c)
		wantStatus(t, "paid", env.Deliver(t, h, 0, h.Notification(t, c, payments.OutcomePaid, c.Price)), 200)
		e, err := srv.DashboardRefund(h.SessionID(t, c))
		if err != nil {
			t.Fatal(err)
		}
		d := srv.Sign(e, time.Now()) // charge.refunded, to both nodes at once
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				wantStatus(t, "charge.refunded", env.Deliver(t, h, i, paytest.Delivery{Header: d.Header, Body: d.Body}), 200)
			}()
		}
		wg.Wait()
		wantCredits(t, env, c, 0, 1, 1)
		wantPayment(t, env, c, "refunded")
	})

	t.Run("delayed payment method", func(t *testing.T) {
		b := env.NewBuyer(t)
		c := env.StartCheckout(t, h, b)
		id := h.SessionID(t, c)
		for _, step := range []struct {
			name   string
			do     func(string) (stripetest.Event, error)
			status string
			points int64
		}{{"completed, not paid yet", srv.PayLater, "pending", 0}, {"async payment succeeded", srv.AsyncSucceeded, "succeeded", c.Points}} {
			e, err := step.do(id)
			if err != nil {
				t.Fatal(err)
			}
			d := srv.Sign(e, time.Now())
			wantStatus(t, step.name, env.Deliver(t, h, 1, paytest.Delivery{Header: d.Header, Body: d.Body}), 200)
			wantPayment(t, env, c, step.status)
			wantCredits(t, env, c, step.points, int(step.points/c.Points), 0)
		}
	})

	// Last: the server is down for good at the end.
	t.Run("down during checkout", func(t *testing.T) {
		srv.SetDown(true)
		checkoutUnavailable(t, env, "stripe")
		srv.SetDown(false)
		checkoutAnswer(t, env, env.NewBuyer(t), "stripe", 201)
		srv.Close() // gone: connections refused
		checkoutUnavailable(t, env, "stripe")
	})
}

// TestPaymentsStripeMock: a node configured with stripe-mock (Stripe's mock server, which
// refuses any request Stripe's published API specification does not allow) answers a checkout:
// Stripe's real API accepts the request the node makes.
func TestPaymentsStripeMock(t *testing.T) {
	t.Parallel()
	base := stripetest.StartMock(t)
	env, _ := payNodes(t, 1, func(string) []string {
		return []string{"--payment-sandbox=false", "--log-level", "info", "--stripe-secret-key", "sk_test_123", "--stripe-webhook-secret", "whsec_e2e_mock", "--stripe-api-base", base}
	})
	b := env.NewBuyer(t)
	co := checkoutAnswer(t, env, b, "stripe", 201)
	if co.Method != http.MethodGet || !strings.HasPrefix(co.RedirectURL, "https://") || !strings.HasPrefix(co.Payment.ProviderRef, "cs_") || co.Payment.Status != "pending" {
		t.Fatalf("checkout through stripe-mock: %+v", co)
	}
	wantCredits(t, env, paytest.Checkout{PaymentID: co.Payment.ID, WalletID: b.WalletID}, 0, 0, 0)
}

// TestPaymentsECPay: two `dw serve` nodes on one database take ECPay payments from an
// ECPay-protocol server (ecpaytest.Server, --ecpay-base): the notification table (posted by
// the test, as ECPay's stage could not reach the nodes), the checkout's AIO form taken by the
// server, the server's own notifications to ReturnURL (paid, replayed, declined, simulated),
// a lost notification caught by the reconciler, an admin's refunds at once reaching DoAction
// once, and ECPay down: its checkout makes no call (the form is built by the node), and a
// reconciler asking while it is down leaves the payment pending until it is back.
func TestPaymentsECPay(t *testing.T) {
	t.Parallel()
	srv := ecpaytest.Start(t, ecpaytest.Options{})
	cfg := srv.Config()
	var public string
	env, dbURL := payNodes(t, 2, func(first string) []string {
		public = "http://" + first
		return []string{"--public-url", public, "--payment-reconcile-after", reconcileAfter, "--log-level", "info",
			"--ecpay-merchant-id", cfg.MerchantID, "--ecpay-hash-key", cfg.HashKey, "--ecpay-hash-iv", cfg.HashIV, "--ecpay-base", srv.URL}
	})
	h := ecpaytest.Harness{Server: srv}
	ctx := t.Context()

	t.Run("notifications", func(t *testing.T) { paytest.RunNotifications(t, env, h) })

	t.Run("checkout answer", func(t *testing.T) {
		b := env.NewBuyer(t)
		co := checkoutAnswer(t, env, b, "ecpay", 201)
		p := co.Payment
		mtn := ecpay.MerchantTradeNo(p.ID)
		if co.Method != http.MethodPost || co.RedirectURL != srv.URL+ecpay.PathCheckout || p.ProviderRef != mtn {
			t.Fatalf("checkout: method %s, redirect %s, ref %s; want POST to %s%s, %s", co.Method, co.RedirectURL, p.ProviderRef, srv.URL, ecpay.PathCheckout, mtn)
		}
		want := map[string]string{"MerchantID": cfg.MerchantID, "MerchantTradeNo": mtn, "TotalAmount": "150", "PaymentType": "aio",
			"EncryptType": "1", "CustomField1": p.ID, "ReturnURL": public + "/api/v1/payments/webhooks/ecpay",
			"ClientBackURL": public + "/wallet?payment=" + p.ID}
		for k, v := range want {
			if co.Fields[k] != v {
				t.Errorf("field %s = %q, want %q", k, co.Fields[k], v)
			}
		}
		form := url.Values{}
		for k, v := range co.Fields {
			form.Set(k, v)
		}
		if co.Fields["CheckMacValue"] == "" || co.Fields["CheckMacValue"] != ecpay.CheckMacValue(form, cfg.HashKey, cfg.HashIV) {
			t.Errorf("CheckMacValue %q does not sign the fields", co.Fields["CheckMacValue"])
		}
		c := paytest.Checkout{PaymentID: p.ID, RedirectURL: co.RedirectURL, Method: co.Method, Fields: co.Fields}
		h.Order(t, c) // the server takes the form
		if o, _ := srv.Order(mtn); o.TotalAmount != 150 || o.TradeStatus != ecpaytest.TradeUnpaid {
			t.Errorf("order at ECPay: %+v", o)
		}
		wantCredits(t, env, paytest.Checkout{PaymentID: p.ID, WalletID: b.WalletID}, 0, 0, 0)
		// The web app posts that form to ECPay: the Content-Security-Policy allows it.
		res, err := client.Get(env.Bases[1] + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+srv.URL) {
			t.Errorf("Content-Security-Policy %q does not let forms post to %s", csp, srv.URL)
		}
	})

	t.Run("notified by the server", func(t *testing.T) {
		b := env.NewBuyer(t)
		c := env.StartCheckout(t, h, b)
		mtn := h.Order(t, c)
		d, err := srv.Pay(ctx, mtn) // ECPay posts to ReturnURL, the first node
		if err != nil || !d.Acked || len(d.Attempts) != 1 {
			t.Fatalf("ECPay's notification: %+v, %v; want acknowledged 1|OK at once", d, err)
		}
		wantCredits(t, env, c, c.Points, 1, 0)
		if a, err := srv.Replay(ctx, mtn); err != nil || !a.Acked() {
			t.Fatalf("replay: %+v, %v", a, err)
		}
		wantCredits(t, env, c, c.Points, 1, 0)

		declined := env.StartCheckout(t, h, env.NewBuyer(t))
		if d, err := srv.Fail(ctx, h.Order(t, declined)); err != nil || !d.Acked {
			t.Fatalf("decline: %+v, %v", d, err)
		}
		wantCredits(t, env, declined, 0, 0, 0)
		wantPayment(t, env, declined, "failed")

		simulated := env.StartCheckout(t, h, env.NewBuyer(t))
		if d, err := srv.PaySimulated(ctx, h.Order(t, simulated)); err != nil || !d.Acked {
			t.Fatalf("simulated: %+v, %v", d, err)
		}
		wantCredits(t, env, simulated, 0, 0, 0)
		wantPayment(t, env, simulated, "pending")
		if n := env.Audits(t, "payment.simulated", simulated.PaymentID); n != 1 {
			t.Errorf("%d payment.simulated audit rows, want 1", n)
		}
	})

	t.Run("lost notification caught by the reconciler", func(t *testing.T) {
		b := env.NewBuyer(t)
		c := env.StartCheckout(t, h, b)
		h.Pay(t, c) // paid at ECPay; its notification never arrives
		waitCredited(t, env, b, c)
		wantStatus(t, "late notification", env.Deliver(t, h, 1, h.Notification(t, c, payments.OutcomePaid, c.Price)), 200)
		wantCredits(t, env, c, c.Points, 1, 0)
	})

	t.Run("refund", func(t *testing.T) {
		admin := createAdmin(t, env.Bases[0], "--database-url", dbURL)
		b := env.NewBuyer(t)
		c := env.StartCheckout(t, h, b)
		mtn := h.Order(t, c)
		if d, err := srv.Pay(ctx, mtn); err != nil || !d.Acked {
			t.Fatalf("pay: %+v, %v", d, err)
		}
		wantCredits(t, env, c, c.Points, 1, 0)
		before := srv.Actions()
		refundAtOnce(t, env, admin, c)
		if o, _ := srv.Order(mtn); o.Refunded != 150 || srv.Actions()-before != 1 {
			t.Fatalf("at ECPay: %d TWD refunded by %d DoAction call(s); want 150 by one", o.Refunded, srv.Actions()-before)
		}
		wantCredits(t, env, c, 0, 1, 1)
	})

	t.Run("down", func(t *testing.T) {
		b := env.NewBuyer(t)
		c := env.StartCheckout(t, h, b)
		mtn := h.Order(t, c) // ECPay took the order before it went down
		srv.SetDown(true)
		defer srv.SetDown(false)

		// ECPay's checkout is a form the node signs: no call, so no 503; the browser would meet
		// ECPay's outage on ECPay's page.
		other := env.StartCheckout(t, h, env.NewBuyer(t))
		if _, err := srv.Submit(ctx, payments.Checkout{RedirectURL: other.RedirectURL, Method: other.Method, Fields: other.Fields}); err == nil {
			t.Fatal("ECPay took a form while down")
		}

		// Paid, the notification lost, and ECPay down when the reconciler asks: still pending.
		if err := srv.PayLost(mtn); err != nil {
			t.Fatal(err)
		}
		refused := srv.Refused()
		since := dbNow(t, env)
		for i := range 2 { // two rounds of the reconciler claimed it (and so asked once at least)
			at := since
			waitFor(t, 30*time.Second, fmt.Sprint("reconciler round ", i+1), func() bool {
				at = checkedAt(t, env, c.PaymentID)
				return at.After(since)
			})
			since = at
		}
		if srv.Refused() == refused {
			t.Fatal("the reconciler never asked ECPay while it was down")
		}
		wantPayment(t, env, c, "pending")
		wantCredits(t, env, c, 0, 0, 0)

		srv.SetDown(false)
		waitCredited(t, env, b, c)
	})
}

// checkoutStarted is the checkout route's answer.
type checkoutStarted struct {
	Payment struct {
		ID          string `json:"id"`
		Status      string `json:"status"`
		ProviderRef string `json:"provider_ref"`
		Reason      string `json:"reason"`
	} `json:"payment"`
	RedirectURL string            `json:"redirect_url"`
	Method      string            `json:"method"`
	Fields      map[string]string `json:"fields"`
	Code        string            `json:"code"` // a problem's
}

// checkoutAnswer buys the small package through provider on the first node and wants status.
func checkoutAnswer(t *testing.T, env paytest.Env, b paytest.Buyer, provider string, status int) checkoutStarted {
	t.Helper()
	r := env.Do(t, "POST", env.Bases[0]+"/api/v1/payments/checkout", b.Token, map[string]string{"provider": provider, "package": "small"},
		http.Header{"Idempotency-Key": {fmt.Sprintf("buy-%d", time.Now().UnixNano())}})
	var co checkoutStarted
	if r.Status != status || json.Unmarshal(r.Body, &co) != nil {
		t.Fatalf("checkout through %s: %d %s, want %d", provider, r.Status, r.Body, status)
	}
	return co
}

// checkoutUnavailable: a checkout the provider cannot take is 503 provider_unavailable, and a
// failed payment that credited nothing.
func checkoutUnavailable(t *testing.T, env paytest.Env, provider string) {
	t.Helper()
	b := env.NewBuyer(t)
	if co := checkoutAnswer(t, env, b, provider, 503); co.Code != "provider_unavailable" {
		t.Fatalf("checkout with %s down: code %q, want provider_unavailable", provider, co.Code)
	}
	r := env.Do(t, "GET", env.Bases[1%len(env.Bases)]+"/api/v1/payments", b.Token, nil, nil)
	var list struct {
		Items []struct {
			ID, Status, Reason string
		} `json:"items"`
	}
	if r.Status != 200 || json.Unmarshal(r.Body, &list) != nil || len(list.Items) != 1 || list.Items[0].Status != "failed" || list.Items[0].Reason == "" {
		t.Fatalf("payments after %s was down: %d %s; want one failed, with the reason", provider, r.Status, r.Body)
	}
	if balance, credits := env.Ledger(t, b.WalletID, list.Items[0].ID); balance != 0 || credits != 0 {
		t.Fatalf("balance %d, %d credits", balance, credits)
	}
}

// refundAtOnce has the admin refund c's payment four times at once, twice on each node: each
// answer is the refunded payment.
func refundAtOnce(t *testing.T, env paytest.Env, admin string, c paytest.Checkout) {
	t.Helper()
	var wg sync.WaitGroup
	res := make([]paytest.Response, 4)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = env.Do(t, "POST", env.Bases[i%len(env.Bases)]+"/api/v1/payments/"+c.PaymentID+"/refund", admin, nil, nil)
		}()
	}
	wg.Wait()
	for i, r := range res {
		var p struct{ Status string }
		if r.Status != 200 || json.Unmarshal(r.Body, &p) != nil || p.Status != "refunded" {
			t.Errorf("refund %d: %d %s, want 200 and refunded", i, r.Status, r.Body)
		}
	}
}

// wantCredits checks c's wallet against its ledger: its balance, the credits of the payment and
// its refunds (ledger entries keyed payment-refund:<id>).
func wantCredits(t *testing.T, env paytest.Env, c paytest.Checkout, balance int64, credits, refunds int) {
	t.Helper()
	gotBalance, gotCredits := env.Ledger(t, c.WalletID, c.PaymentID)
	var gotRefunds int
	if err := env.Store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM transactions
		WHERE wallet_id = $1 AND idempotency_key = 'payment-refund:' || $2`, c.WalletID, c.PaymentID).Scan(&gotRefunds); err != nil {
		t.Fatal(err)
	}
	if gotBalance != balance || gotCredits != credits || gotRefunds != refunds {
		t.Fatalf("payment %s: balance %d, %d credit(s), %d refund(s); want %d, %d, %d", c.PaymentID, gotBalance, gotCredits, gotRefunds, balance, credits, refunds)
	}
}

func wantPayment(t *testing.T, env paytest.Env, c paytest.Checkout, status string) {
	t.Helper()
	var got string
	if err := env.Store.Pool().QueryRow(context.Background(), `SELECT status FROM payments WHERE id = $1`, c.PaymentID).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != status {
		t.Fatalf("payment %s is %s, want %s", c.PaymentID, got, status)
	}
}

func wantStatus(t *testing.T, what string, r paytest.Response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: %d %s, want %d", what, r.Status, r.Body, status)
	}
}

// waitCredited waits for c's payment to be succeeded with its ledger entry, credited once.
func waitCredited(t *testing.T, env paytest.Env, b paytest.Buyer, c paytest.Checkout) {
	t.Helper()
	paytest.WaitFor(t, 30*time.Second, "payment "+c.PaymentID+" credited", func() bool {
		status, txID := env.Status(t, b, c.PaymentID)
		return status == "succeeded" && txID != ""
	})
	wantCredits(t, env, c, c.Points, 1, 0)
}

func dbNow(t *testing.T, env paytest.Env) time.Time {
	t.Helper()
	var now time.Time
	if err := env.Store.Pool().QueryRow(context.Background(), `SELECT now()`).Scan(&now); err != nil {
		t.Fatal(err)
	}
	return now
}

// checkedAt is when a reconciler last claimed the payment (zero: never).
func checkedAt(t *testing.T, env paytest.Env, paymentID string) time.Time {
	t.Helper()
	var at *time.Time
	if err := env.Store.Pool().QueryRow(context.Background(), `SELECT checked_at FROM payments WHERE id = $1`, paymentID).Scan(&at); err != nil {
		t.Fatal(err)
	}
	if at == nil {
		return time.Time{}
	}
	return *at
}
