// Package payments sells points: a person picks a package, pays at a provider's hosted checkout
// (no card data ever reaches us), and the provider's confirmation credits the wallet exactly
// once. This file is the contract between the payment service (service.go) and each provider
// (packages stripe, ecpay and sandbox below this one); providers know nothing of wallets,
// ledgers or the database.
package payments

import (
	"context"
	"net/http"
	"time"
)

// Money is an amount in a currency's minor units as the provider counts them (TWD and JPY have
// none: 150 TWD is Minor 150; USD 4.99 is Minor 499). Currency is ISO 4217, upper case.
type Money struct {
	Currency string
	Minor    int64
}

// Package is what a person can buy: Points for Price.
type Package struct {
	ID     string // [a-z0-9_-]{1,32}
	Points int64  // > 0
	Price  Money  // > 0
}

// Outcome is where a provider says a payment stands.
type Outcome string

const (
	OutcomePending  Outcome = "pending"  // not paid yet (or not known to the provider yet)
	OutcomePaid     Outcome = "paid"     // the provider holds the money: credit the points
	OutcomeFailed   Outcome = "failed"   // declined, cancelled or expired: nothing to credit
	OutcomeRefunded Outcome = "refunded" // paid, then given back at the provider
)

// CheckoutRequest asks a provider to start a hosted checkout for one pending payment.
type CheckoutRequest struct {
	PaymentID   string // ours (a UUID); the provider carries it back in every notification
	Package     Package
	Description string    // shown on the provider's page, e.g. "Divine Whispers 100 points"
	Email       string    // the payer's, to prefill the provider's page; may be ""
	Language    string    // "zh-TW" or "en"
	SuccessURL  string    // where the browser returns after paying (<public-url>/wallet?payment=<id>)
	CancelURL   string    // where it returns after cancelling
	NotifyURL   string    // where the provider posts its server notification (<public-url>/api/v1/payments/webhooks/<provider>)
	CreatedAt   time.Time // ECPay's MerchantTradeDate
}

// Checkout is what the client needs to send the person to the provider.
type Checkout struct {
	// ProviderRef is the provider's own id of this checkout (Stripe's cs_… session id, ECPay's
	// MerchantTradeNo); stored, and used by Lookup and Refund.
	ProviderRef string
	// RedirectURL is where the browser goes: with Method GET, a plain redirect; with POST, the
	// action of an auto-submitted form of Fields (ECPay's AIO checkout).
	RedirectURL string
	Method      string            // "GET" or "POST"
	Fields      map[string]string // POST form fields under the provider's own names; nil for GET
	ExpiresAt   time.Time         // zero: the provider's default
}

// Notification is one verified server notification (webhook) from a provider.
type Notification struct {
	// EventID identifies this delivery at the provider (Stripe's evt_…, ECPay's TradeNo plus
	// RtnCode); duplicates carry the same one.
	EventID     string
	PaymentID   string // ours, as carried back; "" when the event is not about a payment of ours
	ProviderRef string
	Outcome     Outcome
	Amount      Money // what the provider says was paid (checked against the pending payment)
	// Simulated marks a test notification that must never credit (ECPay's SimulatePaid=1).
	Simulated bool
	// Ignored: a verified event of a type we do not act on (acknowledged, nothing else).
	Ignored bool
}

// Ack is how a provider wants a notification answered (ECPay: text/plain "1|OK").
type Ack struct {
	Status      int
	ContentType string
	Body        []byte
}

// Status is what a provider answers when asked about one payment (reconciliation).
type Status struct {
	Outcome     Outcome
	Amount      Money
	ProviderRef string
}

// RefundRequest asks the provider to give a paid payment's money back.
type RefundRequest struct {
	PaymentID   string
	ProviderRef string
	Amount      Money  // the whole payment
	Reason      string // for the provider's records
}

// Provider is one payment provider. Implementations are safe for concurrent use.
//
// Errors: a *dw.Error of kind invalid (code invalid_signature) when a notification's signature
// is missing, forged or stale, or its body cannot be read; unavailable (code
// provider_unavailable) when the provider cannot be reached or answers 5xx; not_found when it
// does not know the payment; invalid (code provider_refused, the provider's message in the
// detail) when it refuses a request.
type Provider interface {
	// Name is the provider's route name: "stripe", "ecpay", "sandbox".
	Name() string
	// Checkout starts a hosted checkout.
	Checkout(ctx context.Context, req CheckoutRequest) (Checkout, error)
	// ParseNotification verifies a server notification's signature against the raw body and
	// reads it. now is the time signatures are checked against (tolerance).
	ParseNotification(ctx context.Context, header http.Header, body []byte, now time.Time) (Notification, error)
	// Acknowledge is the answer the provider expects once a notification was handled.
	Acknowledge() Ack
	// Lookup asks the provider where a payment stands.
	Lookup(ctx context.Context, paymentID, providerRef string) (Status, error)
	// Refund gives a paid payment's money back at the provider.
	Refund(ctx context.Context, req RefundRequest) error
}
