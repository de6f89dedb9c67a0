// Package stripe is the Stripe payment provider: a hosted Checkout Session priced inline
// (no products set up in Stripe's dashboard) that carries our payment id back as
// client_reference_id and metadata[payment_id], and webhooks verified with Stripe's own
// signature check. It speaks to Stripe only through Stripe's official Go SDK (stripe-go),
// with a client of its own (never the SDK's global key), so several providers with
// different keys or API bases can live in one process (tests point one at stripe-mock and
// another at stripetest.Server).
//
// Amounts: payments.Money counts TWD (and ISK) in whole units, as people and ECPay do;
// Stripe counts them in hundredths and accepts only whole units. toStripe and fromStripe
// convert, for Stripe's zero-decimal and three-decimal currencies too.
package stripe
