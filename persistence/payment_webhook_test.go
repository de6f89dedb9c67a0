package persistence

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/webhooks"
)

// TestPaymentSucceededEvent: the credit of a payment records its payment.succeeded event in the
// same transaction (migration 017), once, with the id webhooks.PaymentEvent gives, and the
// event's data is read from the payment.
func TestPaymentSucceededEvent(t *testing.T) {
	s, u := newTestStore(t)
	ctx := t.Context()
	if _, err := s.CreateEndpoint(ctx, webhooks.Endpoint{ID: uuid.NewString(), OwnerID: u.ID, URL: "https://hooks.example.com/x",
		Events: []string{webhooks.PaymentSucceeded}, Secret: "whsec_dGVzdA=="}, webhooks.Actor{UserID: u.ID}); err != nil {
		t.Fatal(err)
	}
	p, _, err := s.CreatePayment(ctx, payments.Payment{ID: uuid.NewString(), UserID: u.ID, WalletID: u.WalletID, Provider: "sandbox",
		PackageID: "small", Points: 100, Price: payments.Money{Currency: "TWD", Minor: 150}, CreatedAt: time.Now()}, "k1")
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_events WHERE type = 'payment.succeeded'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count() != 0 {
		t.Fatal("an event before the credit")
	}
	tx := uuid.NewString()
	for range 2 { // a second SetTransaction (a retry) changes nothing
		if _, err := s.SetTransaction(ctx, p.ID, tx, false); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 1 {
		t.Fatalf("%d payment.succeeded events, want 1", n)
	}
	var id, subject string
	if err := s.pool.QueryRow(ctx, `SELECT id, subject FROM webhook_events WHERE type = 'payment.succeeded'`).Scan(&id, &subject); err != nil {
		t.Fatal(err)
	}
	if want := webhooks.PaymentEvent(webhooks.PaymentData{PaymentID: p.ID}, time.Now()).ID; id != want || subject != p.ID {
		t.Fatalf("event %s about %s, want %s about %s", id, subject, want, p.ID)
	}
	d, err := s.eventData(ctx, webhooks.PaymentSucceeded, subject, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := webhooks.PaymentData{PaymentID: p.ID, UserID: u.ID, WalletID: u.WalletID, Provider: "sandbox", Package: "small",
		Points: 100, Currency: "TWD", Amount: 150}
	if d != want {
		t.Fatalf("data %+v, want %+v", d, want)
	}
}
