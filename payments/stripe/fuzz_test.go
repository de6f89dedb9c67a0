package stripe_test

import (
	"net/http"
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/payments/stripe"
	"github.com/divinewhispers/dw/payments/stripe/stripetest"
)

// FuzzParseNotification feeds webhook deliveries to ParseNotification: with sign, body is
// signed validly (and header appended to the signature, to mix in odd keys), so the fuzzer
// reaches the event reading; without, header is the whole Stripe-Signature. The seed corpus
// is in testdata/fuzz/FuzzParseNotification.
func FuzzParseNotification(f *testing.F) {
	p, err := stripe.New(stripe.Config{SecretKey: testKey, WebhookSecret: testSecret, APIBase: "http://127.0.0.1:1"})
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_900_000_000, 0)
	f.Fuzz(func(t *testing.T, header string, body []byte, sign bool) {
		h := http.Header{}
		sig := header
		if sign {
			sig = stripetest.Signature(body, now, testSecret)
			if header != "" {
				sig += "," + header
			}
		}
		if sig != "" {
			h.Set("Stripe-Signature", sig)
		}
		n, err := p.ParseNotification(t.Context(), h, body, now)
		if err != nil {
			if dw.KindOf(err) != dw.KindInvalid || dw.CodeOf(err) != "invalid_signature" {
				t.Fatalf("error %v: want invalid invalid_signature", err)
			}
			if n != (payments.Notification{}) {
				t.Fatalf("a refused notification came with %+v", n)
			}
			return
		}
		if !sign {
			t.Fatalf("a delivery not signed with the secret was accepted: %q", header)
		}
		if n.EventID == "" {
			t.Fatalf("accepted without an event id: %+v", n)
		}
		if n.Ignored {
			if n.Outcome != "" {
				t.Fatalf("an ignored event with an outcome: %+v", n)
			}
			return
		}
		switch n.Outcome {
		case payments.OutcomePaid, payments.OutcomeRefunded:
			if len(n.Amount.Currency) != 3 {
				t.Fatalf("%s without a currency: %+v", n.Outcome, n)
			}
		case payments.OutcomePending, payments.OutcomeFailed:
		default:
			t.Fatalf("outcome %q: %+v", n.Outcome, n)
		}
	})
}
