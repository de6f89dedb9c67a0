// Package sandbox is a payment provider of the node's own, for `make run`, demos and tests: its
// hosted checkout is a page the node serves (/pay/sandbox/<payment id>) with a Pay and a Cancel
// button, and pressing one makes it post a signed server notification to the node's webhook
// route, as a real provider would. No money moves anywhere. Its records and its signing key
// are kept in the database, so any node serves the page and verifies the notifications.
package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/payments"
)

// Name is the provider's route name.
const Name = "sandbox"

// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256(key, t + "." + body)>".
const SignatureHeader = "Sandbox-Signature"

// Tolerance is how far a signature's time may be from now.
const Tolerance = 5 * time.Minute

// Record is one sandbox checkout as the "provider" keeps it.
type Record struct {
	Ref         string // sbx_…
	PaymentID   string
	Amount      payments.Money
	Description string
	Language    string
	SuccessURL  string
	CancelURL   string
	NotifyURL   string
	Outcome     payments.Outcome
	CreatedAt   time.Time
}

// Store keeps the sandbox's records (package persistence implements it).
type Store interface {
	// SandboxKey returns the signing key shared by every node, made by the first caller.
	SandboxKey(ctx context.Context) ([]byte, error)
	// CreateSandbox stores r; for a payment stored before, the first record stands.
	CreateSandbox(ctx context.Context, r Record) (Record, error)
	// SandboxRecord reads the record of a payment. Errors: not_found.
	SandboxRecord(ctx context.Context, paymentID string) (Record, error)
	// SetSandboxOutcome moves a record from one of from to to (changed false when elsewhere).
	SetSandboxOutcome(ctx context.Context, paymentID string, from []payments.Outcome, to payments.Outcome) (Record, bool, error)
}

// Event is the body of a sandbox notification.
type Event struct {
	ID          string           `json:"id"` // evt_…
	Type        string           `json:"type"`
	PaymentID   string           `json:"payment_id"`
	Ref         string           `json:"ref"`
	Outcome     payments.Outcome `json:"outcome"`
	Currency    string           `json:"currency"`
	AmountMinor int64            `json:"amount_minor"`
	Simulated   bool             `json:"simulated,omitempty"`
	Created     int64            `json:"created"`
}

// Provider is the sandbox payment provider.
type Provider struct {
	store  Store
	base   func() string // the node's public URL
	client *http.Client

	mu  sync.Mutex
	key []byte
}

// New returns the sandbox provider; publicURL says where browsers reach the node.
func New(store Store, publicURL func() string) *Provider {
	return &Provider{store: store, base: publicURL, client: &http.Client{Timeout: 10 * time.Second}}
}

// Name implements payments.Provider.
func (p *Provider) Name() string { return Name }

func (p *Provider) signingKey(ctx context.Context) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.key == nil {
		k, err := p.store.SandboxKey(ctx)
		if err != nil {
			return nil, err
		}
		p.key = k
	}
	return p.key, nil
}

func randomID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Checkout implements payments.Provider: the page of the node's own.
func (p *Provider) Checkout(ctx context.Context, req payments.CheckoutRequest) (payments.Checkout, error) {
	r, err := p.store.CreateSandbox(ctx, Record{Ref: randomID("sbx_"), PaymentID: req.PaymentID, Amount: req.Package.Price,
		Description: req.Description, Language: req.Language, SuccessURL: req.SuccessURL, CancelURL: req.CancelURL,
		NotifyURL: req.NotifyURL})
	if err != nil {
		return payments.Checkout{}, &dw.Error{Kind: dw.KindUnavailable, Code: "provider_unavailable", Message: "the sandbox cannot store the checkout", Err: err}
	}
	return payments.Checkout{ProviderRef: r.Ref, RedirectURL: strings.TrimRight(p.base(), "/") + "/pay/sandbox/" + r.PaymentID, Method: "GET"}, nil
}

var errSignature = dw.Coded(dw.KindInvalid, "invalid_signature", "the notification's Sandbox-Signature is missing, wrong or stale")

// Sign returns the Sandbox-Signature of body at t under key.
func Sign(key, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// ParseNotification implements payments.Provider: a Sandbox-Signature of the raw body, made at
// most Tolerance away from now, by the key of the cluster (see Verify).
func (p *Provider) ParseNotification(ctx context.Context, header http.Header, body []byte, now time.Time) (payments.Notification, error) {
	key, err := p.signingKey(ctx)
	if err != nil {
		return payments.Notification{}, &dw.Error{Kind: dw.KindUnavailable, Code: "unavailable", Message: "the sandbox key cannot be read", Err: err}
	}
	return Verify(key, header, body, now)
}

// Verify checks a notification's Sandbox-Signature against key and the raw body (any v1 may
// match; the time at most Tolerance from now) and reads it. Errors: invalid (invalid_signature).
func Verify(key []byte, header http.Header, body []byte, now time.Time) (payments.Notification, error) {
	var ts int64
	var sigs [][]byte
	for _, part := range strings.Split(header.Get(SignatureHeader), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts, _ = strconv.ParseInt(v, 10, 64)
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	if ts <= 0 || len(sigs) == 0 {
		return payments.Notification{}, errSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return payments.Notification{}, errSignature
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	want, ok := m.Sum(nil), false
	for _, s := range sigs {
		ok = ok || hmac.Equal(s, want)
	}
	if !ok {
		return payments.Notification{}, errSignature
	}
	var ev Event
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil || ev.ID == "" {
		return payments.Notification{}, dw.Coded(dw.KindInvalid, "invalid_signature", "the notification's body is not a sandbox event")
	}
	n := payments.Notification{EventID: ev.ID, PaymentID: ev.PaymentID, ProviderRef: ev.Ref, Outcome: ev.Outcome,
		Amount: payments.Money{Currency: ev.Currency, Minor: ev.AmountMinor}, Simulated: ev.Simulated}
	switch ev.Outcome {
	case payments.OutcomePaid, payments.OutcomeFailed, payments.OutcomeRefunded:
	default:
		n.Ignored = true
	}
	return n, nil
}

// Acknowledge implements payments.Provider.
func (p *Provider) Acknowledge() payments.Ack {
	return payments.Ack{Status: http.StatusOK, ContentType: "application/json", Body: []byte(`{"received":true}`)}
}

// Lookup implements payments.Provider from the sandbox's own record.
func (p *Provider) Lookup(ctx context.Context, paymentID, _ string) (payments.Status, error) {
	r, err := p.store.SandboxRecord(ctx, paymentID)
	if err != nil {
		return payments.Status{}, err
	}
	return payments.Status{Outcome: r.Outcome, Amount: r.Amount, ProviderRef: r.Ref}, nil
}

// Refund implements payments.Provider: a paid record becomes refunded (again: nothing).
func (p *Provider) Refund(ctx context.Context, req payments.RefundRequest) error {
	r, changed, err := p.store.SetSandboxOutcome(ctx, req.PaymentID, []payments.Outcome{payments.OutcomePaid}, payments.OutcomeRefunded)
	if err != nil {
		return err
	}
	if !changed && r.Outcome != payments.OutcomeRefunded {
		return dw.Coded(dw.KindInvalid, "provider_refused", "the sandbox cannot refund a payment that is %s", r.Outcome)
	}
	return nil
}

// Page reads the record the checkout page shows. Errors: not_found.
func (p *Provider) Page(ctx context.Context, paymentID string) (Record, error) {
	return p.store.SandboxRecord(ctx, paymentID)
}

// Act is a press of the page's Pay (pay true) or Cancel button: the record changes (a second
// press changes nothing), the notification of where it stands is posted to the node, and the
// browser is to go to the returned URL. Errors: not_found, unavailable (the node did not take
// the notification: the reconciler will catch the payment up).
func (p *Provider) Act(ctx context.Context, paymentID string, pay bool) (string, error) {
	to := payments.OutcomeFailed
	if pay {
		to = payments.OutcomePaid
	}
	r, _, err := p.store.SetSandboxOutcome(ctx, paymentID, []payments.Outcome{payments.OutcomePending}, to)
	if err != nil {
		return "", err
	}
	if err := p.Notify(ctx, r); err != nil {
		return "", err
	}
	if r.Outcome == payments.OutcomePaid {
		return r.SuccessURL, nil
	}
	return r.CancelURL, nil
}

// Notify posts a signed notification of where r stands to its NotifyURL. Errors: unavailable.
func (p *Provider) Notify(ctx context.Context, r Record) error {
	key, err := p.signingKey(ctx)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(Event{ID: randomID("evt_"), Type: "payment." + string(r.Outcome), PaymentID: r.PaymentID, Ref: r.Ref,
		Outcome: r.Outcome, Currency: r.Amount.Currency, AmountMinor: r.Amount.Minor, Created: time.Now().Unix()})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.NotifyURL, bytes.NewReader(body))
	if err != nil {
		return dw.Internal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(key, body, time.Now()))
	resp, err := p.client.Do(req)
	if err != nil {
		return &dw.Error{Kind: dw.KindUnavailable, Code: "notification_failed", Message: "the sandbox could not deliver its notification; the reconciler will catch the payment up", Err: err}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return &dw.Error{Kind: dw.KindUnavailable, Code: "notification_failed", Message: fmt.Sprintf("the node answered the sandbox's notification with %d", resp.StatusCode)}
	}
	return nil
}
