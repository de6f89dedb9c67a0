package stripetest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/payments/paytest"
)

// Harness is Stripe's part in paytest's notification table, played by Server: the nodes under
// test create their checkout sessions at Server (--stripe-api-base), and the harness signs
// Stripe's webhook events about them with Server's secret (--stripe-webhook-secret).
//
// Notifications say nothing to Server: a session stays open there unless Pay paid it, so a
// reconciler retrieving the table's sessions finds them pending and leaves them to the
// notifications.
type Harness struct{ Server *Server }

var _ paytest.Harness = Harness{}

// Provider implements paytest.Harness.
func (Harness) Provider() string { return "stripe" }

// SessionID is the checkout session of c: the one its redirect URL leads to, which carries
// c's payment id.
func (h Harness) SessionID(t testing.TB, c paytest.Checkout) string {
	t.Helper()
	id, ok := strings.CutPrefix(c.RedirectURL, h.Server.URL+"/pay/")
	if !ok {
		t.Fatalf("payment %s: redirect URL %q is no session of the stripe test server %s", c.PaymentID, c.RedirectURL, h.Server.URL)
	}
	s, ok := h.Server.Session(id)
	if !ok || s.ClientReferenceID != c.PaymentID || s.Metadata["payment_id"] != c.PaymentID {
		t.Fatalf("payment %s: session %s unknown or another payment's: %+v", c.PaymentID, id, s)
	}
	return id
}

// Pay implements paytest.Harness: the session is paid at the server (retrieving it says so),
// and its checkout.session.completed event is never sent.
func (h Harness) Pay(t testing.TB, c paytest.Checkout) {
	t.Helper()
	if _, err := h.Server.Pay(h.SessionID(t, c)); err != nil {
		t.Fatal(err)
	}
}

// event is a webhook event about c's session: checkout.session.completed and paid, or
// checkout.session.expired, for amount in Stripe's units.
func (h Harness) event(t testing.TB, c paytest.Checkout, outcome payments.Outcome, amount payments.Money) Event {
	t.Helper()
	typ, status, paid := "checkout.session.completed", "complete", "paid"
	switch outcome {
	case payments.OutcomePaid:
	case payments.OutcomeFailed:
		typ, status, paid = "checkout.session.expired", "expired", "unpaid"
	default:
		t.Fatalf("stripe harness: no notification for outcome %s", outcome)
	}
	e, err := h.Server.Event(h.SessionID(t, c), typ, func(o map[string]any) {
		o["status"], o["payment_status"], o["url"] = status, paid, nil
		o["currency"], o["amount_total"], o["amount_subtotal"] = strings.ToLower(amount.Currency), units(amount), units(amount)
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// units is amount in Stripe's units: TWD and ISK, whole units in payments.Money, are written
// with two decimals by Stripe (150 TWD is 15000).
func units(amount payments.Money) int64 {
	if amount.Currency == "TWD" || amount.Currency == "ISK" {
		return amount.Minor * 100
	}
	return amount.Minor
}

// Notification implements paytest.Harness: the event, signed now as Stripe sends it.
func (h Harness) Notification(t testing.TB, c paytest.Checkout, outcome payments.Outcome, amount payments.Money) paytest.Delivery {
	t.Helper()
	return harnessDelivery(h.Server.Sign(h.event(t, c, outcome, amount), time.Now()))
}

// Forgeries implements paytest.Harness: a paid event unsigned, signed with another secret,
// signed longer ago than the tolerance (a captured delivery replayed) or as far ahead,
// changed after signing, and with a signature header that cannot be read.
func (h Harness) Forgeries(t testing.TB, c paytest.Checkout) map[string]paytest.Delivery {
	t.Helper()
	e := h.event(t, c, payments.OutcomePaid, c.Price)
	const beyond = 5*time.Minute + time.Minute // the node's tolerance is Stripe's 300 s
	garbled := h.Server.Sign(e, time.Now())
	garbled.Header.Set("Stripe-Signature", "t=notanumber,v1=00")
	return map[string]paytest.Delivery{
		"unsigned": harnessDelivery(h.Server.Unsigned(e)),
		"forged":   harnessDelivery(h.Server.Forged(e)),
		"stale":    harnessDelivery(h.Server.Stale(e, beyond)),
		"future":   harnessDelivery(h.Server.Sign(e, time.Now().Add(beyond))),
		"tampered": harnessDelivery(h.Server.Tampered(e, func(o map[string]any) {
			o["amount_total"] = units(c.Price) / 2
		})),
		"garbled header": harnessDelivery(garbled),
	}
}

func harnessDelivery(d Delivery) paytest.Delivery {
	return paytest.Delivery{Header: http.Header(d.Header), Body: d.Body}
}
