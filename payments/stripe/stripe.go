package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/payments"
)

// Defaults of Config.
const (
	DefaultAPIBase     = stripego.APIURL // https://api.stripe.com
	DefaultTolerance   = webhook.DefaultTolerance
	DefaultCheckoutTTL = time.Hour
)

// Stripe's bounds on a Checkout Session's expires_at, from its creation.
const (
	minCheckoutTTL = 30 * time.Minute
	maxCheckoutTTL = 24 * time.Hour
)

// Config configures a Provider.
type Config struct {
	SecretKey     string // sk_…: the API key, sent as a bearer token; never logged
	WebhookSecret string // whsec_…: the webhook endpoint's signing secret; never logged
	// APIBase is Stripe's API (default https://api.stripe.com); tests point it at stripe-mock
	// or stripetest.Server.
	APIBase string
	// Tolerance is how far a notification's signed timestamp may be from now (default 300 s,
	// Stripe's); older (a replay) or newer is refused.
	Tolerance time.Duration
	// CheckoutTTL is how long a person has to pay from the payment's creation (default 1 h;
	// Stripe accepts 30 min to 24 h).
	CheckoutTTL time.Duration
	// HTTPClient makes the API calls (default the SDK's, 80 s timeout).
	HTTPClient *http.Client
	// MaxNetworkRetries is how often the SDK retries a request that failed for a network
	// error, a 409 or a 5xx, with the same idempotency key (default 2; negative: none).
	MaxNetworkRetries int
}

// Provider is the Stripe payments.Provider. It is safe for concurrent use.
type Provider struct {
	api           *stripego.Client
	webhookSecret string
	tolerance     time.Duration
	ttl           time.Duration
}

var _ payments.Provider = (*Provider)(nil)

// New returns a Stripe provider with a client of its own.
//
// Errors: invalid when the secret key or webhook secret is missing, the API base is not an
// http(s) URL, or a duration is out of range.
func New(cfg Config) (*Provider, error) {
	var errs []error
	if cfg.SecretKey == "" {
		errs = append(errs, errors.New("the secret key (--stripe-secret-key) is required"))
	}
	if cfg.WebhookSecret == "" {
		errs = append(errs, errors.New("the webhook signing secret (--stripe-webhook-secret) is required"))
	}
	if cfg.APIBase == "" {
		cfg.APIBase = DefaultAPIBase
	}
	if u, err := url.Parse(cfg.APIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("API base %q is not an http(s) URL", cfg.APIBase))
	}
	if cfg.Tolerance == 0 {
		cfg.Tolerance = DefaultTolerance
	}
	if cfg.Tolerance < 0 {
		errs = append(errs, fmt.Errorf("tolerance %s is negative", cfg.Tolerance))
	}
	if cfg.CheckoutTTL == 0 {
		cfg.CheckoutTTL = DefaultCheckoutTTL
	}
	if cfg.CheckoutTTL < minCheckoutTTL+time.Minute || cfg.CheckoutTTL > maxCheckoutTTL-time.Minute {
		errs = append(errs, fmt.Errorf("checkout TTL %s is outside Stripe's 31m to 23h59m", cfg.CheckoutTTL))
	}
	retries := int64(2)
	if cfg.MaxNetworkRetries != 0 {
		retries = max(int64(cfg.MaxNetworkRetries), 0)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, &dw.Error{Kind: dw.KindInvalid, Code: string(dw.KindInvalid), Message: "stripe: " + err.Error()}
	}
	backends := stripego.NewBackendsWithConfig(&stripego.BackendConfig{
		URL:               stripego.String(strings.TrimRight(cfg.APIBase, "/")),
		HTTPClient:        cfg.HTTPClient,
		MaxNetworkRetries: stripego.Int64(retries),
		// The SDK would log failed requests itself; our callers log the errors we return.
		LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull},
	})
	return &Provider{
		api:           stripego.NewClient(cfg.SecretKey, stripego.WithBackends(backends)),
		webhookSecret: cfg.WebhookSecret,
		tolerance:     cfg.Tolerance,
		ttl:           cfg.CheckoutTTL,
	}, nil
}

// Name is "stripe", the provider's route name.
func (p *Provider) Name() string { return "stripe" }

// Checkout creates a Checkout Session in payment mode priced inline with the package's price,
// carrying req.PaymentID as client_reference_id and metadata[payment_id] (on the session and
// on its PaymentIntent, whose charge inherits it). The idempotency key is derived from the
// payment id and the expiry from req.CreatedAt, so a retry after a lost answer gets the same
// session back.
//
// Errors: invalid (invalid_amount) for a price Stripe cannot charge; unavailable
// (provider_unavailable); invalid (provider_refused).
func (p *Provider) Checkout(ctx context.Context, req payments.CheckoutRequest) (payments.Checkout, error) {
	currency, amount, err := toStripe(req.Package.Price)
	if err != nil {
		return payments.Checkout{}, err
	}
	if req.PaymentID == "" {
		return payments.Checkout{}, dw.Errorf(dw.KindInvalid, "stripe checkout without a payment id")
	}
	name := req.Description
	if name == "" {
		name = fmt.Sprintf("%d points", req.Package.Points)
	}
	params := &stripego.CheckoutSessionCreateParams{
		Mode: stripego.String(string(stripego.CheckoutSessionModePayment)),
		LineItems: []*stripego.CheckoutSessionCreateLineItemParams{{
			PriceData: &stripego.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripego.String(currency),
				UnitAmount:  stripego.Int64(amount),
				ProductData: &stripego.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripego.String(name)},
			},
			Quantity: stripego.Int64(1),
		}},
		ClientReferenceID: stripego.String(req.PaymentID),
		SuccessURL:        stripego.String(req.SuccessURL),
		CancelURL:         stripego.String(req.CancelURL),
		Locale:            stripego.String(locale(req.Language)),
		ExpiresAt:         stripego.Int64(p.expiry(req.CreatedAt, time.Now()).Unix()),
		PaymentIntentData: &stripego.CheckoutSessionCreatePaymentIntentDataParams{
			Metadata: map[string]string{"payment_id": req.PaymentID},
		},
	}
	if req.Email != "" {
		params.CustomerEmail = stripego.String(req.Email)
	}
	params.AddMetadata("payment_id", req.PaymentID)
	params.SetIdempotencyKey("checkout-" + req.PaymentID)
	s, err := p.api.V1CheckoutSessions.Create(ctx, params)
	if err != nil {
		return payments.Checkout{}, apiError("create the checkout session", err)
	}
	out := payments.Checkout{ProviderRef: s.ID, RedirectURL: s.URL, Method: http.MethodGet}
	if s.ExpiresAt > 0 {
		out.ExpiresAt = time.Unix(s.ExpiresAt, 0).UTC()
	}
	return out, nil
}

// expiry is when a session for a payment created at created expires: created+TTL, so that a
// retried create sends the same parameters (Stripe refuses a reused idempotency key with
// others); when that is too close to now for Stripe (under 30 minutes), now+TTL.
func (p *Provider) expiry(created, now time.Time) time.Time {
	if created.IsZero() || created.After(now) {
		created = now
	}
	at := created.Add(p.ttl)
	if at.Sub(now) < minCheckoutTTL+time.Minute {
		at = now.Add(p.ttl)
	}
	return at
}

// locale is Stripe Checkout's locale for our language.
func locale(lang string) string {
	switch strings.ToLower(lang) {
	case "zh-tw", "zh-hant", "zh-hant-tw":
		return "zh-TW"
	case "en":
		return "en"
	}
	return "auto"
}

// ParseNotification verifies a webhook with the SDK's signature check (any v1 signature of
// the raw body under the webhook secret) and its timestamp against now within the tolerance
// (either way: the SDK checks only the age, against the clock), then reads it:
// checkout.session.completed (paid when payment_status is paid, else pending: an async
// method still under way), checkout.session.async_payment_succeeded (paid),
// checkout.session.async_payment_failed and checkout.session.expired (failed), and
// charge.refunded when the whole charge was given back (refunded). Other verified events are
// Ignored.
//
// Errors: invalid (invalid_signature) when the Stripe-Signature header is missing or
// malformed, no signature matches, the timestamp is outside the tolerance, or the signed body
// cannot be read (including an amount that is not a whole number of our units).
func (p *Provider) ParseNotification(_ context.Context, header http.Header, body []byte, now time.Time) (payments.Notification, error) {
	sig := header.Get("Stripe-Signature")
	if sig == "" {
		return payments.Notification{}, badSignature("no Stripe-Signature header", nil)
	}
	t, ok := signedAt(sig)
	if !ok {
		return payments.Notification{}, badSignature("the Stripe-Signature header has no timestamp", nil)
	}
	if d := now.Sub(t); d > p.tolerance || d < -p.tolerance {
		return payments.Notification{}, badSignature(fmt.Sprintf("the signature's timestamp is %s away from now, beyond the tolerance of %s", d.Round(time.Second), p.tolerance), nil)
	}
	// The timestamp was checked against now above; the SDK would check it against the clock.
	// The webhook endpoint's API version may differ from the SDK's: we read only fields that
	// every version has.
	evt, err := webhook.ConstructEventWithOptions(body, sig, p.webhookSecret, webhook.ConstructEventOptions{
		IgnoreTolerance: true, IgnoreAPIVersionMismatch: true,
	})
	if err != nil {
		switch {
		case errors.Is(err, webhook.ErrNotSigned), errors.Is(err, webhook.ErrInvalidHeader), errors.Is(err, webhook.ErrNoValidSignature):
			return payments.Notification{}, badSignature("no valid signature", err)
		}
		return payments.Notification{}, badSignature("the body is not a Stripe event", err)
	}
	return readEvent(evt)
}

// signedAt is the t= of a Stripe-Signature header (the last one, as the SDK reads it).
func signedAt(header string) (time.Time, bool) {
	var at time.Time
	ok := false
	for _, pair := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(pair, "=")
		if k != "t" {
			continue
		}
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		at, ok = time.Unix(sec, 0), true
	}
	return at, ok
}

// readEvent maps a verified event to a notification.
func readEvent(evt stripego.Event) (payments.Notification, error) {
	if evt.ID == "" {
		return payments.Notification{}, badSignature("the event has no id", nil)
	}
	n := payments.Notification{EventID: evt.ID}
	var raw json.RawMessage
	if evt.Data != nil {
		raw = evt.Data.Raw
	}
	switch evt.Type {
	case stripego.EventTypeCheckoutSessionCompleted, stripego.EventTypeCheckoutSessionAsyncPaymentSucceeded,
		stripego.EventTypeCheckoutSessionAsyncPaymentFailed, stripego.EventTypeCheckoutSessionExpired:
		var s stripego.CheckoutSession
		if err := json.Unmarshal(raw, &s); err != nil || s.ID == "" {
			return payments.Notification{}, badSignature("the event's checkout session cannot be read", err)
		}
		n.ProviderRef = s.ID
		n.PaymentID = s.ClientReferenceID
		if n.PaymentID == "" {
			n.PaymentID = s.Metadata["payment_id"]
		}
		switch evt.Type {
		case stripego.EventTypeCheckoutSessionCompleted:
			n.Outcome = payments.OutcomePending
			if s.PaymentStatus == stripego.CheckoutSessionPaymentStatusPaid {
				n.Outcome = payments.OutcomePaid
			}
		case stripego.EventTypeCheckoutSessionAsyncPaymentSucceeded:
			n.Outcome = payments.OutcomePaid
		default:
			n.Outcome = payments.OutcomeFailed
		}
		amount, err := fromStripe(string(s.Currency), s.AmountTotal)
		if err != nil {
			if n.Outcome != payments.OutcomePaid {
				// Nothing is credited on these: an odd amount is no reason to refuse them.
				return n, nil
			}
			return payments.Notification{}, badSignature("the session's amount cannot be read", err)
		}
		n.Amount = amount
	case stripego.EventTypeChargeRefunded:
		var c stripego.Charge
		if err := json.Unmarshal(raw, &c); err != nil || c.ID == "" {
			return payments.Notification{}, badSignature("the event's charge cannot be read", err)
		}
		if !c.Refunded {
			// A partial refund: we give back whole payments only, and never through Stripe's
			// dashboard alone.
			n.Ignored = true
			return n, nil
		}
		// The charge inherits the PaymentIntent's metadata (set at checkout); it does not
		// know the checkout session, so ProviderRef stays empty.
		n.PaymentID = c.Metadata["payment_id"]
		n.Outcome = payments.OutcomeRefunded
		amount, err := fromStripe(string(c.Currency), c.Amount)
		if err != nil {
			return payments.Notification{}, badSignature("the charge's amount cannot be read", err)
		}
		n.Amount = amount
	default:
		n.Ignored = true
	}
	return n, nil
}

func badSignature(msg string, err error) error {
	return &dw.Error{Kind: dw.KindInvalid, Code: "invalid_signature", Message: "stripe notification: " + msg, Err: err}
}

// Acknowledge is 200 application/json {"received":true}, as Stripe's examples answer.
func (p *Provider) Acknowledge() payments.Ack {
	return payments.Ack{Status: http.StatusOK, ContentType: "application/json", Body: []byte(`{"received":true}`)}
}

// Lookup retrieves the checkout session providerRef (with its PaymentIntent's latest charge,
// to see a refund): open is pending; complete and paid is paid (refunded once its charge was
// given back whole); complete but unpaid is pending (an async method under way); expired is
// failed. Stripe cannot find sessions by our payment id, so without providerRef the payment
// is not found.
//
// Errors: not_found when providerRef is empty, unknown to Stripe, or a session of another
// payment; unavailable (provider_unavailable); invalid (provider_refused), or
// (invalid_amount) when the session's amount is not a whole number of our units.
func (p *Provider) Lookup(ctx context.Context, paymentID, providerRef string) (payments.Status, error) {
	if providerRef == "" {
		return payments.Status{}, dw.Errorf(dw.KindNotFound, "stripe knows payment %s by its checkout session only, and it has none", paymentID)
	}
	params := &stripego.CheckoutSessionRetrieveParams{}
	params.AddExpand("payment_intent.latest_charge")
	s, err := p.api.V1CheckoutSessions.Retrieve(ctx, providerRef, params)
	if err != nil {
		return payments.Status{}, apiError("retrieve checkout session "+providerRef, err)
	}
	if err := sameSession(s, paymentID); err != nil {
		return payments.Status{}, err
	}
	st := payments.Status{ProviderRef: s.ID, Outcome: payments.OutcomePending}
	switch {
	case s.Status == stripego.CheckoutSessionStatusExpired:
		st.Outcome = payments.OutcomeFailed
	case s.Status == stripego.CheckoutSessionStatusComplete && s.PaymentStatus != stripego.CheckoutSessionPaymentStatusUnpaid:
		st.Outcome = payments.OutcomePaid
		if pi := s.PaymentIntent; pi != nil && pi.LatestCharge != nil && pi.LatestCharge.Refunded {
			st.Outcome = payments.OutcomeRefunded
		}
	}
	if s.Currency != "" {
		amount, err := fromStripe(string(s.Currency), s.AmountTotal)
		if err != nil {
			return payments.Status{}, err
		}
		st.Amount = amount
	}
	return st, nil
}

// sameSession refuses a session that carries another payment's id (a ProviderRef mixed up).
func sameSession(s *stripego.CheckoutSession, paymentID string) error {
	if paymentID != "" && s.ClientReferenceID != "" && s.ClientReferenceID != paymentID {
		return dw.Errorf(dw.KindNotFound, "stripe checkout session %s belongs to payment %s, not %s", s.ID, s.ClientReferenceID, paymentID)
	}
	return nil
}

// Refund gives the whole payment of the checkout session req.ProviderRef back: a Refund of
// its PaymentIntent, with the idempotency key refund-<payment id> so that a retry never
// refunds twice. A charge Stripe reports already refunded counts as done.
//
// Errors: not_found when the session is unknown (or another payment's); invalid
// (amount_mismatch) when req.Amount is not what the session charged; invalid
// (provider_refused) when the session was never paid or Stripe refuses; unavailable
// (provider_unavailable).
func (p *Provider) Refund(ctx context.Context, req payments.RefundRequest) error {
	if req.ProviderRef == "" {
		return dw.Errorf(dw.KindNotFound, "stripe knows payment %s by its checkout session only, and it has none", req.PaymentID)
	}
	s, err := p.api.V1CheckoutSessions.Retrieve(ctx, req.ProviderRef, nil)
	if err != nil {
		return apiError("retrieve checkout session "+req.ProviderRef, err)
	}
	if err := sameSession(s, req.PaymentID); err != nil {
		return err
	}
	if s.PaymentIntent == nil || s.PaymentIntent.ID == "" {
		return dw.Coded(dw.KindInvalid, "provider_refused", "stripe checkout session %s has no payment to refund", s.ID)
	}
	if req.Amount != (payments.Money{}) {
		paid, err := fromStripe(string(s.Currency), s.AmountTotal)
		if err != nil || paid != req.Amount {
			return dw.Coded(dw.KindInvalid, "amount_mismatch", "stripe checkout session %s charged %d %s, not %d %s", s.ID, paid.Minor, paid.Currency, req.Amount.Minor, req.Amount.Currency)
		}
	}
	params := &stripego.RefundCreateParams{PaymentIntent: stripego.String(s.PaymentIntent.ID)}
	params.AddMetadata("payment_id", req.PaymentID)
	if req.Reason != "" {
		params.AddMetadata("reason", truncate(req.Reason, 500)) // Stripe's limit on a metadata value
	}
	params.SetIdempotencyKey("refund-" + req.PaymentID)
	if _, err := p.api.V1Refunds.Create(ctx, params); err != nil {
		var se *stripego.Error
		if errors.As(err, &se) && se.Code == stripego.ErrorCodeChargeAlreadyRefunded {
			return nil
		}
		return apiError("refund checkout session "+req.ProviderRef, err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// apiError maps an SDK error to our kinds: Stripe's 5xx, 429, its refusal of our key (an
// operator's mistake, not the payer's) and every failure to reach it are unavailable; a
// missing resource is not_found; any other 4xx is Stripe's refusal, with its message.
func apiError(doing string, err error) error {
	var se *stripego.Error
	if !errors.As(err, &se) {
		return &dw.Error{Kind: dw.KindUnavailable, Code: "provider_unavailable", Message: "Stripe cannot be reached", Err: fmt.Errorf("stripe: %s: %w", doing, err)}
	}
	switch status := se.HTTPStatusCode; {
	case status >= 500 || status == http.StatusTooManyRequests || status == http.StatusConflict:
		return &dw.Error{Kind: dw.KindUnavailable, Code: "provider_unavailable", Message: "Stripe is unavailable", Err: fmt.Errorf("stripe: %s: HTTP %d %s (request %s)", doing, status, se.Msg, se.RequestID)}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		// Stripe's message quotes part of the key: keep it out of the error.
		return &dw.Error{Kind: dw.KindUnavailable, Code: "provider_unavailable", Message: "Stripe refused our API key", Err: fmt.Errorf("stripe: %s: HTTP %d %s (request %s)", doing, status, se.Type, se.RequestID)}
	case se.Code == stripego.ErrorCodeResourceMissing || status == http.StatusNotFound:
		return &dw.Error{Kind: dw.KindNotFound, Code: string(dw.KindNotFound), Message: "Stripe does not know it: " + se.Msg, Err: fmt.Errorf("stripe: %s: %w", doing, err)}
	}
	msg := se.Msg
	if msg == "" {
		msg = fmt.Sprintf("Stripe refused the request (HTTP %d)", se.HTTPStatusCode)
	}
	return &dw.Error{Kind: dw.KindInvalid, Code: "provider_refused", Message: msg, Err: fmt.Errorf("stripe: %s: HTTP %d %s %s (request %s)", doing, se.HTTPStatusCode, se.Type, se.Code, se.RequestID)}
}
