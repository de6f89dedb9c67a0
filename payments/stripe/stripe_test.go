package stripe_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/payments/stripe"
	"github.com/divinewhispers/dw/payments/stripe/stripetest"
)

const (
	testKey    = "sk_test_51ProviderKeyNeverShown"
	testSecret = "whsec_test_signing_secret"
)

var small = payments.Package{ID: "small", Points: 100, Price: payments.Money{Currency: "TWD", Minor: 150}}

// testBundle is a provider speaking to a stripetest.Server.
type testBundle struct {
	server   *stripetest.Server
	provider *stripe.Provider
}

func setup(t *testing.T) testBundle {
	t.Helper()
	srv := stripetest.NewServer(t, testSecret)
	return testBundle{server: srv, provider: newProvider(t, stripe.Config{APIBase: srv.URL})}
}

// newProvider fills in the test key and secret where cfg has none.
func newProvider(t *testing.T, cfg stripe.Config) *stripe.Provider {
	t.Helper()
	if cfg.SecretKey == "" {
		cfg.SecretKey = testKey
	}
	if cfg.WebhookSecret == "" {
		cfg.WebhookSecret = testSecret
	}
	p, err := stripe.New(cfg)
	if err != nil {
		t.Fatalf("stripe.New: %v", err)
	}
	return p
}

func checkoutRequest(paymentID string) payments.CheckoutRequest {
	return payments.CheckoutRequest{
		PaymentID:   paymentID,
		Package:     small,
		Description: "Divine Whispers 100 points",
		Email:       "payer@example.com",
		Language:    "zh-TW",
		SuccessURL:  "https://dw.example.com/wallet?payment=" + paymentID,
		CancelURL:   "https://dw.example.com/wallet?payment=" + paymentID + "&cancelled=1",
		NotifyURL:   "https://dw.example.com/api/v1/payments/webhooks/stripe",
		CreatedAt:   time.Now().Truncate(time.Second),
	}
}

// checkout starts a checkout of small for paymentID and returns its session id.
func (b testBundle) checkout(t *testing.T, paymentID string) string {
	t.Helper()
	co, err := b.provider.Checkout(t.Context(), checkoutRequest(paymentID))
	if err != nil {
		t.Fatalf("Checkout: %v", err)
	}
	return co.ProviderRef
}

func wantCode(t *testing.T, err error, kind dw.Kind, code string) {
	t.Helper()
	if dw.KindOf(err) != kind || dw.CodeOf(err) != code {
		t.Fatalf("error %v: kind %q code %q; want %q %q", err, dw.KindOf(err), dw.CodeOf(err), kind, code)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]stripe.Config{
		"no secret key":                 {WebhookSecret: testSecret},
		"no webhook secret":             {SecretKey: testKey},
		"API base not http":             {SecretKey: testKey, WebhookSecret: testSecret, APIBase: "ftp://example.com"},
		"negative tolerance":            {SecretKey: testKey, WebhookSecret: testSecret, Tolerance: -time.Second},
		"TTL under Stripe's 30 minutes": {SecretKey: testKey, WebhookSecret: testSecret, CheckoutTTL: 10 * time.Minute},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := stripe.New(cfg)
			wantCode(t, err, dw.KindInvalid, "invalid")
			if cfg.SecretKey != "" && strings.Contains(err.Error(), cfg.SecretKey) {
				t.Fatalf("the error shows the secret key: %v", err)
			}
		})
	}
}

// TestCheckoutAgainstStripeMock sends the provider's requests to stripe-mock, which refuses
// any request Stripe's OpenAPI specification does not allow.
func TestCheckoutAgainstStripeMock(t *testing.T) {
	t.Parallel()
	base := stripetest.StartMock(t)
	p := newProvider(t, stripe.Config{APIBase: base})

	co, err := p.Checkout(t.Context(), checkoutRequest("0193a6e4-7b7c-7def-8a00-000000000001"))
	if err != nil {
		t.Fatalf("Checkout against stripe-mock: %v", err)
	}
	if !strings.HasPrefix(co.ProviderRef, "cs_") || co.RedirectURL == "" || co.Method != http.MethodGet || co.Fields != nil {
		t.Fatalf("Checkout = %+v; want a cs_ session, a URL to GET, no fields", co)
	}

	t.Run("without email, in English", func(t *testing.T) {
		req := checkoutRequest("0193a6e4-7b7c-7def-8a00-000000000002")
		req.Email, req.Language, req.Package.Price = "", "en", payments.Money{Currency: "USD", Minor: 499}
		if _, err := p.Checkout(t.Context(), req); err != nil {
			t.Fatalf("Checkout: %v", err)
		}
	})
	t.Run("lookup with the refund expansion", func(t *testing.T) {
		if _, err := p.Lookup(t.Context(), "", co.ProviderRef); err != nil {
			t.Fatalf("Lookup against stripe-mock: %v", err)
		}
	})
	t.Run("stripe-mock does validate", func(t *testing.T) {
		// A parameter Stripe does not have must be refused; else the checks above prove nothing.
		form := url.Values{"mode": {"payment"}, "success_url": {"https://x"}, "no_such_param": {"1"}}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/v1/checkout/sessions", strings.NewReader(form.Encode()))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("stripe-mock answered an unknown parameter with %d, want 400", res.StatusCode)
		}
	})
}

func TestCheckoutCarriesThePayment(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const id = "0193a6e4-7b7c-7def-8a00-0000000000a1"
	req := checkoutRequest(id)
	co, err := b.provider.Checkout(t.Context(), req)
	if err != nil {
		t.Fatalf("Checkout: %v", err)
	}
	s, ok := b.server.Session(co.ProviderRef)
	if !ok {
		t.Fatalf("the server has no session %s", co.ProviderRef)
	}
	if co.RedirectURL != b.server.URL+"/pay/"+s.ID || co.Method != http.MethodGet {
		t.Errorf("Checkout = %+v; want a GET of the session's url", co)
	}
	if want := time.Unix(s.ExpiresAt, 0).UTC(); !co.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %s, want the session's %s", co.ExpiresAt, want)
	}
	if want := req.CreatedAt.Add(stripe.DefaultCheckoutTTL).Unix(); s.ExpiresAt != want {
		t.Errorf("expires_at = %d, want CreatedAt+TTL %d", s.ExpiresAt, want)
	}
	checks := []struct{ what, got, want string }{
		{"client_reference_id", s.ClientReferenceID, id},
		{"metadata[payment_id]", s.Metadata["payment_id"], id},
		{"payment_intent_data[metadata][payment_id]", s.IntentMetadata["payment_id"], id},
		{"currency", s.Currency, "twd"},
		{"unit_amount", s.Form.Get("line_items[0][price_data][unit_amount]"), "15000"},
		{"quantity", s.Form.Get("line_items[0][quantity]"), "1"},
		{"product name", s.Form.Get("line_items[0][price_data][product_data][name]"), req.Description},
		{"mode", s.Form.Get("mode"), "payment"},
		{"locale", s.Locale, "zh-TW"},
		{"customer_email", s.CustomerEmail, req.Email},
		{"success_url", s.SuccessURL, req.SuccessURL},
		{"cancel_url", s.CancelURL, req.CancelURL},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if s.AmountTotal != 15000 {
		t.Errorf("amount_total = %d, want 15000 (150 TWD)", s.AmountTotal)
	}
	res, err := http.Get(co.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d, want the hosted page", co.RedirectURL, res.StatusCode)
	}

	t.Run("a retry gets the same session", func(t *testing.T) {
		again, err := b.provider.Checkout(t.Context(), req)
		if err != nil || again.ProviderRef != co.ProviderRef {
			t.Fatalf("second Checkout = %+v, %v; want session %s again", again, err, co.ProviderRef)
		}
		if n := len(b.server.Sessions()); n != 1 {
			t.Fatalf("%d sessions at the server, want 1", n)
		}
	})
	t.Run("the same payment with another price is refused", func(t *testing.T) {
		other := req
		other.Package.Price.Minor = 1500
		_, err := b.provider.Checkout(t.Context(), other)
		wantCode(t, err, dw.KindInvalid, "provider_refused")
		if !strings.Contains(dw.MessageOf(err), "idempotent") {
			t.Fatalf("message %q; want Stripe's about the idempotency key", dw.MessageOf(err))
		}
	})
	t.Run("an amount Stripe cannot charge", func(t *testing.T) {
		bad := checkoutRequest("0193a6e4-7b7c-7def-8a00-0000000000a2")
		bad.Package.Price = payments.Money{Currency: "KWD", Minor: 5125}
		_, err := b.provider.Checkout(t.Context(), bad)
		wantCode(t, err, dw.KindInvalid, "invalid_amount")
	})
	t.Run("locales", func(t *testing.T) {
		for lang, want := range map[string]string{"en": "en", "zh-TW": "zh-TW", "": "auto", "fr": "auto"} {
			r := checkoutRequest("0193a6e4-7b7c-7def-8a00-0000000000b-" + lang)
			r.Language = lang
			ref, err := b.provider.Checkout(t.Context(), r)
			if err != nil {
				t.Fatalf("Checkout(%q): %v", lang, err)
			}
			if s, _ := b.server.Session(ref.ProviderRef); s.Locale != want {
				t.Errorf("language %q: locale %q, want %q", lang, s.Locale, want)
			}
		}
	})
}

func TestAcknowledge(t *testing.T) {
	t.Parallel()
	ack := setup(t).provider.Acknowledge()
	if ack.Status != http.StatusOK || ack.ContentType != "application/json" || string(ack.Body) != `{"received":true}` {
		t.Fatalf("Acknowledge = %d %q %s", ack.Status, ack.ContentType, ack.Body)
	}
}

// TestNotificationSignature checks the signature and timestamp of deliveries against a fixed
// now: the provider must use the now it is given, not the clock.
func TestNotificationSignature(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const id = "0193a6e4-7b7c-7def-8a00-0000000000c1"
	ev, err := b.server.Pay(b.checkout(t, id))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_900_000_000, 0) // far from the clock
	header := func(sig string) http.Header {
		h := http.Header{}
		if sig != "" {
			h.Set("Stripe-Signature", sig)
		}
		return h
	}
	tampered, err := json.Marshal(json.RawMessage(strings.Replace(string(ev.Body), `"amount_total":15000`, `"amount_total":1500`, 1)))
	if err != nil || string(tampered) == string(ev.Body) {
		t.Fatalf("could not tamper with %s", ev.Body)
	}
	otherSecret := newProvider(t, stripe.Config{APIBase: b.server.URL, WebhookSecret: "whsec_another_endpoint"})
	tests := []struct {
		name     string
		provider *stripe.Provider
		header   http.Header
		body     []byte
		ok       bool
	}{
		{"valid", nil, header(stripetest.Signature(ev.Body, now, testSecret)), ev.Body, true},
		{"signed 299 s ago", nil, header(stripetest.Signature(ev.Body, now.Add(-299*time.Second), testSecret)), ev.Body, true},
		{"signed 10 s ahead (clock skew)", nil, header(stripetest.Signature(ev.Body, now.Add(10*time.Second), testSecret)), ev.Body, true},
		{"secret roll: old and new v1", nil, header(stripetest.Signature(ev.Body, now, "whsec_old", testSecret)), ev.Body, true},
		{"secret roll: new and old v1", nil, header(stripetest.Signature(ev.Body, now, testSecret, "whsec_old")), ev.Body, true},
		{"unknown keys and a v0 ignored", nil, header(stripetest.Signature(ev.Body, now, testSecret) + ",v0=deadbeef,scheme=x"), ev.Body, true},
		{"a v1 that is not hex beside a good one", nil, header(stripetest.Signature(ev.Body, now, testSecret) + ",v1=zz"), ev.Body, true},
		{"forged: another secret", nil, header(stripetest.Signature(ev.Body, now, "whsec_forger")), ev.Body, false},
		{"wrong secret at our end", otherSecret, header(stripetest.Signature(ev.Body, now, testSecret)), ev.Body, false},
		{"unsigned", nil, header(""), ev.Body, false},
		{"stale: 301 s old", nil, header(stripetest.Signature(ev.Body, now.Add(-301*time.Second), testSecret)), ev.Body, false},
		{"stale: a day old", nil, header(stripetest.Signature(ev.Body, now.Add(-24*time.Hour), testSecret)), ev.Body, false},
		{"future: 301 s ahead", nil, header(stripetest.Signature(ev.Body, now.Add(301*time.Second), testSecret)), ev.Body, false},
		{"body changed after signing", nil, header(stripetest.Signature(ev.Body, now, testSecret)), tampered, false},
		{"no timestamp", nil, header(strings.TrimPrefix(stripetest.Signature(ev.Body, now, testSecret), "t=1900000000,")), ev.Body, false},
		{"timestamp not a number", nil, header(strings.Replace(stripetest.Signature(ev.Body, now, testSecret), "t=1900000000", "t=19e8", 1)), ev.Body, false},
		{"no v1", nil, header("t=1900000000,v0=" + strings.Repeat("ab", 32)), ev.Body, false},
		{"garbage header", nil, header("garbage"), ev.Body, false},
		{"signed, not JSON", nil, header(stripetest.Signature([]byte("not json"), now, testSecret)), []byte("not json"), false},
		{"signed, empty body", nil, header(stripetest.Signature(nil, now, testSecret)), nil, false},
		{"signed, an event without id", nil, header(stripetest.Signature([]byte(`{"type":"checkout.session.completed"}`), now, testSecret)), []byte(`{"type":"checkout.session.completed"}`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := tt.provider
			if p == nil {
				p = b.provider
			}
			n, err := p.ParseNotification(t.Context(), tt.header, tt.body, now)
			if !tt.ok {
				wantCode(t, err, dw.KindInvalid, "invalid_signature")
				if n != (payments.Notification{}) {
					t.Fatalf("refused notification came with %+v", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseNotification: %v", err)
			}
			if n.EventID != ev.ID || n.PaymentID != id || n.Outcome != payments.OutcomePaid {
				t.Fatalf("notification %+v; want event %s, payment %s, paid", n, ev.ID, id)
			}
		})
	}
}

// TestNotificationEvents maps each event type, as the server sends it, to a notification.
func TestNotificationEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	paid150 := payments.Money{Currency: "TWD", Minor: 150}
	tests := []struct {
		name string
		// event makes the event about the session of payment id.
		event       func(t *testing.T, session string) (stripetest.Event, error)
		wantOutcome payments.Outcome
		wantAmount  payments.Money
		wantIgnored bool
		noPayment   bool // the event carries no payment id of ours
		noRef       bool // the event does not name the session
		wantErr     bool
	}{
		{name: "completed, paid", event: func(_ *testing.T, s string) (stripetest.Event, error) { return b.server.Pay(s) },
			wantOutcome: payments.OutcomePaid, wantAmount: paid150},
		{name: "completed, delayed payment under way", event: func(_ *testing.T, s string) (stripetest.Event, error) { return b.server.PayLater(s) },
			wantOutcome: payments.OutcomePending, wantAmount: paid150},
		{name: "async payment succeeded", event: func(t *testing.T, s string) (stripetest.Event, error) {
			if _, err := b.server.PayLater(s); err != nil {
				t.Fatal(err)
			}
			return b.server.AsyncSucceeded(s)
		}, wantOutcome: payments.OutcomePaid, wantAmount: paid150},
		{name: "async payment failed", event: func(t *testing.T, s string) (stripetest.Event, error) {
			if _, err := b.server.PayLater(s); err != nil {
				t.Fatal(err)
			}
			return b.server.AsyncFailed(s)
		}, wantOutcome: payments.OutcomeFailed, wantAmount: paid150},
		{name: "expired", event: func(_ *testing.T, s string) (stripetest.Event, error) { return b.server.Expire(s) },
			wantOutcome: payments.OutcomeFailed, wantAmount: paid150},
		{name: "charge refunded in the dashboard", event: func(t *testing.T, s string) (stripetest.Event, error) {
			if _, err := b.server.Pay(s); err != nil {
				t.Fatal(err)
			}
			return b.server.DashboardRefund(s)
		}, wantOutcome: payments.OutcomeRefunded, wantAmount: paid150, noRef: true},
		{name: "charge partly refunded", event: func(t *testing.T, s string) (stripetest.Event, error) {
			if _, err := b.server.Pay(s); err != nil {
				t.Fatal(err)
			}
			return b.server.Event(s, "charge.refunded", func(o map[string]any) { o["amount_refunded"] = 5000 })
		}, wantIgnored: true, noPayment: true, noRef: true},
		{name: "payment id from metadata only", event: func(t *testing.T, s string) (stripetest.Event, error) {
			if _, err := b.server.Pay(s); err != nil {
				t.Fatal(err)
			}
			return b.server.Event(s, "checkout.session.completed", func(o map[string]any) { o["client_reference_id"] = nil })
		}, wantOutcome: payments.OutcomePaid, wantAmount: paid150},
		{name: "a session not of ours", event: func(t *testing.T, s string) (stripetest.Event, error) {
			if _, err := b.server.Pay(s); err != nil {
				t.Fatal(err)
			}
			return b.server.Event(s, "checkout.session.completed", func(o map[string]any) {
				o["client_reference_id"], o["metadata"] = nil, map[string]any{}
			})
		}, wantOutcome: payments.OutcomePaid, wantAmount: paid150, noPayment: true},
		{name: "paid another amount", event: func(t *testing.T, s string) (stripetest.Event, error) {
			if _, err := b.server.Pay(s); err != nil {
				t.Fatal(err)
			}
			return b.server.Event(s, "checkout.session.completed", func(o map[string]any) { o["amount_total"] = 1500 })
		}, wantOutcome: payments.OutcomePaid, wantAmount: payments.Money{Currency: "TWD", Minor: 15}},
		{name: "paid in another currency", event: func(t *testing.T, s string) (stripetest.Event, error) {
			if _, err := b.server.Pay(s); err != nil {
				t.Fatal(err)
			}
			return b.server.Event(s, "checkout.session.completed", func(o map[string]any) { o["currency"] = "jpy" })
		}, wantOutcome: payments.OutcomePaid, wantAmount: payments.Money{Currency: "JPY", Minor: 15000}},
		{name: "paid a fraction of a TWD", event: func(t *testing.T, s string) (stripetest.Event, error) {
			if _, err := b.server.Pay(s); err != nil {
				t.Fatal(err)
			}
			return b.server.Event(s, "checkout.session.completed", func(o map[string]any) { o["amount_total"] = 15050 })
		}, wantErr: true},
		{name: "an event type we do not act on", event: func(t *testing.T, s string) (stripetest.Event, error) {
			if _, err := b.server.Pay(s); err != nil {
				t.Fatal(err)
			}
			return b.server.Event(s, "payment_intent.succeeded", nil)
		}, wantIgnored: true, noPayment: true, noRef: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := "0193a6e4-7b7c-7def-8a00-0000000001" + string(rune('a'+i))
			session := b.checkout(t, id)
			ev, err := tt.event(t, session)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			d := b.server.Sign(ev, now)
			n, err := b.provider.ParseNotification(t.Context(), d.Header, d.Body, now)
			if tt.wantErr {
				wantCode(t, err, dw.KindInvalid, "invalid_signature")
				return
			}
			if err != nil {
				t.Fatalf("ParseNotification: %v", err)
			}
			want := payments.Notification{EventID: ev.ID, PaymentID: id, ProviderRef: session,
				Outcome: tt.wantOutcome, Amount: tt.wantAmount, Ignored: tt.wantIgnored}
			if tt.noPayment {
				want.PaymentID = ""
			}
			if tt.noRef {
				want.ProviderRef = ""
			}
			if n != want {
				t.Fatalf("notification\n got %+v\nwant %+v", n, want)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	const id = "0193a6e4-7b7c-7def-8a00-0000000002a1"
	session := b.checkout(t, id)
	paid := payments.Money{Currency: "TWD", Minor: 150}
	want := func(outcome payments.Outcome) {
		t.Helper()
		st, err := b.provider.Lookup(ctx, id, session)
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		if w := (payments.Status{Outcome: outcome, Amount: paid, ProviderRef: session}); st != w {
			t.Fatalf("Lookup = %+v, want %+v", st, w)
		}
	}
	want(payments.OutcomePending)
	if _, err := b.server.Pay(session); err != nil { // its webhook lost: Lookup is how we learn
		t.Fatal(err)
	}
	want(payments.OutcomePaid)
	if err := b.provider.Refund(ctx, payments.RefundRequest{PaymentID: id, ProviderRef: session, Amount: paid}); err != nil {
		t.Fatalf("Refund: %v", err)
	}
	want(payments.OutcomeRefunded)

	t.Run("expired", func(t *testing.T) {
		id := "0193a6e4-7b7c-7def-8a00-0000000002a2"
		s := b.checkout(t, id)
		if _, err := b.server.Expire(s); err != nil {
			t.Fatal(err)
		}
		st, err := b.provider.Lookup(ctx, id, s)
		if err != nil || st.Outcome != payments.OutcomeFailed {
			t.Fatalf("Lookup = %+v, %v; want failed", st, err)
		}
	})
	t.Run("delayed payment under way", func(t *testing.T) {
		id := "0193a6e4-7b7c-7def-8a00-0000000002a3"
		s := b.checkout(t, id)
		if _, err := b.server.PayLater(s); err != nil {
			t.Fatal(err)
		}
		st, err := b.provider.Lookup(ctx, id, s)
		if err != nil || st.Outcome != payments.OutcomePending {
			t.Fatalf("Lookup = %+v, %v; want pending", st, err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		for name, ref := range map[string]string{"no session": "", "unknown session": "cs_test_unknown"} {
			_, err := b.provider.Lookup(ctx, id, ref)
			if dw.KindOf(err) != dw.KindNotFound {
				t.Errorf("%s: Lookup error %v, want not_found", name, err)
			}
		}
		_, err := b.provider.Lookup(ctx, "0193a6e4-7b7c-7def-8a00-00000000ffff", session)
		if dw.KindOf(err) != dw.KindNotFound {
			t.Errorf("another payment's session: Lookup error %v, want not_found", err)
		}
	})
}

func TestRefund(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	paid := payments.Money{Currency: "TWD", Minor: 150}
	payFor := func(t *testing.T, id string) string {
		t.Helper()
		s := b.checkout(t, id)
		if _, err := b.server.Pay(s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("once, however often asked", func(t *testing.T) {
		t.Parallel()
		const id = "0193a6e4-7b7c-7def-8a00-0000000003a1"
		s := payFor(t, id)
		req := payments.RefundRequest{PaymentID: id, ProviderRef: s, Amount: paid, Reason: "asked by the payer"}
		for range 3 {
			if err := b.provider.Refund(ctx, req); err != nil {
				t.Fatalf("Refund: %v", err)
			}
		}
		got, _ := b.server.Session(s)
		if len(got.Refunds) != 1 || !got.Refunded {
			t.Fatalf("%d refunds at Stripe (refunded %v), want 1", len(got.Refunds), got.Refunded)
		}
		if r := got.Refunds[0]; r.Get("metadata[payment_id]") != id || r.Get("metadata[reason]") != req.Reason || r.Get("payment_intent") != got.PaymentIntent {
			t.Fatalf("refund request %v; want the payment intent %s with our payment id and reason", r, got.PaymentIntent)
		}
	})
	t.Run("already refunded in the dashboard counts as done", func(t *testing.T) {
		t.Parallel()
		const id = "0193a6e4-7b7c-7def-8a00-0000000003a2"
		s := payFor(t, id)
		if _, err := b.server.DashboardRefund(s); err != nil {
			t.Fatal(err)
		}
		if err := b.provider.Refund(ctx, payments.RefundRequest{PaymentID: id, ProviderRef: s, Amount: paid}); err != nil {
			t.Fatalf("Refund: %v", err)
		}
		if got, _ := b.server.Session(s); len(got.Refunds) != 0 {
			t.Fatalf("%d API refunds, want none", len(got.Refunds))
		}
	})
	t.Run("never paid", func(t *testing.T) {
		t.Parallel()
		const id = "0193a6e4-7b7c-7def-8a00-0000000003a3"
		s := b.checkout(t, id)
		err := b.provider.Refund(ctx, payments.RefundRequest{PaymentID: id, ProviderRef: s, Amount: paid})
		wantCode(t, err, dw.KindInvalid, "provider_refused")
	})
	t.Run("another amount", func(t *testing.T) {
		t.Parallel()
		const id = "0193a6e4-7b7c-7def-8a00-0000000003a4"
		s := payFor(t, id)
		err := b.provider.Refund(ctx, payments.RefundRequest{PaymentID: id, ProviderRef: s, Amount: payments.Money{Currency: "TWD", Minor: 1500}})
		wantCode(t, err, dw.KindInvalid, "amount_mismatch")
		if got, _ := b.server.Session(s); got.Refunded {
			t.Fatal("refunded anyway")
		}
	})
	t.Run("unknown session", func(t *testing.T) {
		t.Parallel()
		err := b.provider.Refund(ctx, payments.RefundRequest{PaymentID: "x", ProviderRef: "cs_test_nope", Amount: paid})
		wantCode(t, err, dw.KindNotFound, "not_found")
	})
}

// closedURL is the base URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestProviderDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const id = "0193a6e4-7b7c-7def-8a00-0000000004a1"
	session := b.checkout(t, id)

	tests := []struct {
		name     string
		provider *stripe.Provider
		down     bool
	}{
		{"closed port", newProvider(t, stripe.Config{APIBase: closedURL(t), MaxNetworkRetries: -1}), false},
		{"closed port, with the SDK's retries", newProvider(t, stripe.Config{APIBase: closedURL(t)}), false},
		{"answering 503", newProvider(t, stripe.Config{APIBase: b.server.URL, MaxNetworkRetries: -1}), true},
		{"refusing our key", newProvider(t, stripe.Config{APIBase: b.server.URL, SecretKey: "rk_live_51RefusedKeyMaterial"}), false},
		{"timing out", newProvider(t, stripe.Config{APIBase: b.server.URL, MaxNetworkRetries: -1,
			HTTPClient: &http.Client{Timeout: time.Nanosecond}}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.down {
				b.server.SetDown(true)
				defer b.server.SetDown(false)
			}
			ctx := t.Context()
			_, err := tt.provider.Checkout(ctx, checkoutRequest("0193a6e4-7b7c-7def-8a00-0000000004a2"))
			wantCode(t, err, dw.KindUnavailable, "provider_unavailable")
			if strings.Contains(err.Error(), "51RefusedKeyMaterial") || strings.Contains(err.Error(), testKey) {
				t.Fatalf("the error shows the key: %v", err)
			}
			_, err = tt.provider.Lookup(ctx, id, session)
			wantCode(t, err, dw.KindUnavailable, "provider_unavailable")
			err = tt.provider.Refund(ctx, payments.RefundRequest{PaymentID: id, ProviderRef: session})
			wantCode(t, err, dw.KindUnavailable, "provider_unavailable")
		})
	}

	t.Run("a canceled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := b.provider.Checkout(ctx, checkoutRequest("0193a6e4-7b7c-7def-8a00-0000000004a3"))
		wantCode(t, err, dw.KindUnavailable, "provider_unavailable")
	})
}

// TestDeliveries posts the server's webhook deliveries, good and bad, to a receiver that
// answers as the gateway will: the provider's Ack, or 400 for a refused notification.
func TestDeliveries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var mu sync.Mutex
	var got []payments.Notification
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n, err := b.provider.ParseNotification(r.Context(), r.Header, body, time.Now())
		if err != nil {
			http.Error(w, dw.CodeOf(err), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, n)
		mu.Unlock()
		ack := b.provider.Acknowledge()
		w.Header().Set("Content-Type", ack.ContentType)
		w.WriteHeader(ack.Status)
		_, _ = w.Write(ack.Body)
	}))
	t.Cleanup(receiver.Close)
	ctx := t.Context()

	const id = "0193a6e4-7b7c-7def-8a00-0000000005a1"
	ev, err := b.server.Pay(b.checkout(t, id))
	if err != nil {
		t.Fatal(err)
	}
	first := b.server.Sign(ev, time.Now())
	changeAmount := func(o map[string]any) { o["amount_total"] = 100 }
	tests := []struct {
		name       string
		send       func() (int, error)
		wantStatus int
	}{
		{"delivered", func() (int, error) { return b.server.Deliver(ctx, receiver.URL, ev) }, http.StatusOK},
		{"duplicated (Stripe's retry, signed afresh)", func() (int, error) { return b.server.Deliver(ctx, receiver.URL, ev) }, http.StatusOK},
		{"replayed (the same bytes, within the tolerance)", func() (int, error) {
			if status, _, err := b.server.Post(ctx, receiver.URL, first); err != nil || status != http.StatusOK {
				return status, err
			}
			status, _, err := b.server.Post(ctx, receiver.URL, first)
			return status, err
		}, http.StatusOK},
		{"replayed after the tolerance", func() (int, error) {
			status, _, err := b.server.Post(ctx, receiver.URL, b.server.Stale(ev, 10*time.Minute))
			return status, err
		}, http.StatusBadRequest},
		{"forged", func() (int, error) {
			status, _, err := b.server.Post(ctx, receiver.URL, b.server.Forged(ev))
			return status, err
		}, http.StatusBadRequest},
		{"unsigned", func() (int, error) {
			status, _, err := b.server.Post(ctx, receiver.URL, b.server.Unsigned(ev))
			return status, err
		}, http.StatusBadRequest},
		{"tampered", func() (int, error) {
			status, _, err := b.server.Post(ctx, receiver.URL, b.server.Tampered(ev, changeAmount))
			return status, err
		}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		status, err := tt.send()
		if err != nil || status != tt.wantStatus {
			t.Errorf("%s: status %d, %v; want %d", tt.name, status, err, tt.wantStatus)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 4 {
		t.Fatalf("%d notifications accepted, want 4 (one delivery, one duplicate, two replays)", len(got))
	}
	for _, n := range got {
		if n.EventID != ev.ID || n.PaymentID != id || n.Outcome != payments.OutcomePaid || n.Amount != small.Price {
			t.Fatalf("notification %+v; want event %s paying %+v for %s (deduplicating is the service's work)", n, ev.ID, small.Price, id)
		}
	}
}
