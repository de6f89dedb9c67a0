package webhooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	dw "github.com/divinewhispers/dw"
)

// Event types.
const (
	JobCompleted          = "job.completed"
	JobFailed             = "job.failed"
	PaymentSucceeded      = "payment.succeeded"
	WalletLowBalance      = "wallet.low_balance"
	QuotaThresholdCrossed = "quota.threshold_crossed"
)

// EventTypes lists every event an endpoint may subscribe to.
var EventTypes = []string{JobCompleted, JobFailed, PaymentSucceeded, WalletLowBalance, QuotaThresholdCrossed}

// KnownEvent reports whether t is one of EventTypes.
func KnownEvent(t string) bool { return slices.Contains(EventTypes, t) }

// Endpoint is an integrator's registered receiver. Secret is set only where it must be: in the
// answer to its creation and for signing; it is never shown again.
type Endpoint struct {
	ID        string
	OwnerID   string // the user who registered it
	URL       string
	Events    []string
	Secret    string
	CreatedAt time.Time
}

// Event is one thing that happened. ID identifies it for good: publishing the same ID twice
// (from two nodes, or after a retry) delivers it once to each endpoint. Data is a typed value
// (JobData, PaymentData, WalletData, QuotaData) marshalled as the message's data.
type Event struct {
	ID   string
	Type string
	At   time.Time // when it happened; zero = now
	Data any
}

// Message is the body of a delivery as the Standard Webhooks specification shapes it.
type Message struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// JobData is the data of job.completed and job.failed.
type JobData struct {
	JobID      string    `json:"job_id"`
	UserID     string    `json:"user_id"`
	WalletID   string    `json:"wallet_id"`
	Type       string    `json:"type"`
	Status     string    `json:"status"`
	Price      int64     `json:"price"`
	ErrorCode  string    `json:"error_code,omitempty"`
	FinishedAt time.Time `json:"finished_at"`
}

// PaymentData is the data of payment.succeeded (published by the payment service).
type PaymentData struct {
	PaymentID string `json:"payment_id"`
	UserID    string `json:"user_id"`
	WalletID  string `json:"wallet_id"`
	Provider  string `json:"provider"`
	Package   string `json:"package"`
	Points    int64  `json:"points"`
	Currency  string `json:"currency"`
	Amount    int64  `json:"amount"` // in the currency's minor units
}

// PaymentEvent is the payment.succeeded event of a payment: its id is derived from the
// payment's, so that publishing it again (a retried hook, a reconciler, another node) delivers
// it once.
func PaymentEvent(d PaymentData, at time.Time) Event {
	return Event{ID: PaymentSucceeded + "." + d.PaymentID, Type: PaymentSucceeded, At: at, Data: d}
}

// WalletData is the data of wallet.low_balance: the ledger entry after which the wallet's
// available points fell below the threshold.
type WalletData struct {
	WalletID      string `json:"wallet_id"`
	TransactionID string `json:"transaction_id"`
	Seq           int64  `json:"seq"`
	Balance       int64  `json:"balance"`
	Held          int64  `json:"held"`
	Available     int64  `json:"available"`
	Threshold     int64  `json:"threshold"`
}

// QuotaData is the data of quota.threshold_crossed.
type QuotaData struct {
	QuotaID     string  `json:"quota_id"`
	WalletID    string  `json:"wallet_id"`
	Period      string  `json:"period"`
	PeriodStart string  `json:"period_start"` // a date, YYYY-MM-DD
	Metric      string  `json:"metric"`       // node_hours or gpu_core_hours
	Threshold   int     `json:"threshold"`    // percent: 80 or 100
	Used        float64 `json:"used"`         // hours
	Quota       float64 `json:"quota"`        // hours
}

// Payload is the signed body of ev's deliveries: the same bytes for every attempt.
func Payload(ev Event) ([]byte, error) {
	return json.Marshal(Message{Type: ev.Type, Timestamp: ev.At.UTC(), Data: ev.Data})
}

// Delivery is one event on its way to one endpoint, with its attempts.
type Delivery struct {
	ID            string     `json:"id"`
	EndpointID    string     `json:"endpoint_id"`
	EventID       string     `json:"event_id"`
	EventType     string     `json:"event_type"`
	Status        string     `json:"status"` // pending, succeeded or failed
	Attempts      int        `json:"attempt_count"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"` // pending only
	Deadline      time.Time  `json:"deadline"`                  // no attempt starts after it
	LastHTTP      int        `json:"last_http_status,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	SucceededAt   *time.Time `json:"succeeded_at,omitempty"`
	Tries         []Attempt  `json:"attempts"`
}

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// Attempt is one try to deliver.
type Attempt struct {
	DeliveryID    string     `json:"-"`
	Attempt       int        `json:"attempt"` // 1-based
	Node          string     `json:"-"`
	HTTPStatus    int        `json:"http_status,omitempty"` // 0: no answer
	Error         string     `json:"error,omitempty"`       // "" with a 2xx status: delivered
	DurationMS    int64      `json:"duration_ms"`
	StartedAt     time.Time  `json:"started_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"` // when the next one is due; nil: none
	// GiveUp (with an error) ends the delivery as failed; otherwise it is due again at
	// NextAttemptAt.
	GiveUp bool `json:"-"`
}

// Succeeded reports whether the attempt delivered the message (a 2xx answer).
func (a Attempt) Succeeded() bool { return a.Error == "" && a.HTTPStatus >= 200 && a.HTTPStatus < 300 }

// Backoff is the retry schedule: the wait after failed attempt n (1-based) is Base doubled
// n-1 times, at most Max, spread by ±Jitter (a fraction) so that endpoints coming back are
// not hit by every retry at once; no attempt starts more than MaxAge after the delivery was
// created (or asked again). Zero fields take DefaultBackoff's.
type Backoff struct {
	Base, Max, MaxAge time.Duration
	Jitter            float64
}

// DefaultBackoff: 10 s, 20 s, 40 s, … up to 2 h between attempts, for 24 h.
var DefaultBackoff = Backoff{Base: 10 * time.Second, Max: 2 * time.Hour, MaxAge: 24 * time.Hour, Jitter: 0.2}

func (b Backoff) orDefaults() Backoff {
	d := DefaultBackoff
	if b.Base <= 0 {
		b.Base = d.Base
	}
	if b.Max <= 0 {
		b.Max = max(d.Max, b.Base)
	}
	if b.MaxAge <= 0 {
		b.MaxAge = d.MaxAge
	}
	if b.Jitter <= 0 || b.Jitter >= 1 {
		b.Jitter = d.Jitter
	}
	return b
}

// Wait is the wait after failed attempt n (1-based), jitter included.
func (b Backoff) Wait(n int) time.Duration {
	b = b.orDefaults()
	d := b.Base
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	spread := float64(d) * b.Jitter
	return time.Duration(float64(d) - spread + rand.Float64()*2*spread)
}

// Next is when to try again after failed attempt n at now, or false when the delivery has
// run past its deadline and fails for good.
func (b Backoff) Next(n int, now, deadline time.Time) (time.Time, bool) {
	at := now.Add(b.Wait(n))
	return at, !at.After(deadline)
}

// MaxURLLength bounds an endpoint URL.
const MaxURLLength = 2048

// ValidateURL checks the form of an endpoint URL: absolute http or https, a host, no user
// information or fragment, at most MaxURLLength bytes of printable ASCII. It returns the
// parsed URL; whether the host may be reached is checked separately (Guard). Errors: invalid
// (code invalid, naming the field url).
func ValidateURL(raw string) (*url.URL, error) {
	bad := func(why string) (*url.URL, error) {
		return nil, dw.Coded(dw.KindInvalid, "invalid", "url %s", why)
	}
	if raw == "" {
		return bad("is required")
	}
	if len(raw) > MaxURLLength {
		return bad(fmt.Sprintf("must be at most %d bytes", MaxURLLength))
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] <= ' ' || raw[i] >= 0x7f {
			return bad("must be printable ASCII without spaces (percent-encode the rest)")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("must start with https:// or http://")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return bad("must name a host, e.g. https://hooks.example.com/dw")
	case u.User != nil:
		return bad("must not hold a user name or password")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("must not hold a fragment (#…)")
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 || fmt.Sprint(n) != p {
			return bad("has an invalid port")
		}
	}
	if strings.HasPrefix(u.Host, "[") { // an IPv6 literal must be one (no zone: it names a local interface)
		if ip, err := netip.ParseAddr(u.Hostname()); err != nil || ip.Zone() != "" {
			return bad("has an invalid IPv6 address")
		}
	}
	return u, nil
}

// ValidateEvents checks a subscription: at least one event, each known, none twice. It
// returns them sorted. Errors: invalid (code invalid, naming the field events).
func ValidateEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, dw.Coded(dw.KindInvalid, "invalid", "events must name at least one of %s", strings.Join(EventTypes, ", "))
	}
	var errs []error
	seen := map[string]bool{}
	for i, e := range events {
		switch {
		case !KnownEvent(e):
			errs = append(errs, fmt.Errorf("events[%d]: unknown event %q (one of %s)", i, truncate(e, 64), strings.Join(EventTypes, ", ")))
		case seen[e]:
			errs = append(errs, fmt.Errorf("events[%d]: %s is named twice", i, e))
		}
		seen[e] = true
	}
	if len(errs) > 0 {
		return nil, dw.Coded(dw.KindInvalid, "invalid", "%s", errors.Join(errs...).Error())
	}
	out := slices.Clone(events)
	slices.Sort(out)
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
