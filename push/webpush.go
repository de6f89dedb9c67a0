package push

import (
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	dw "github.com/divinewhispers/dw"
)

// Keys is a VAPID key pair (RFC 8292): P-256, base64url without padding; Public is what
// browsers subscribe with (applicationServerKey).
type Keys struct {
	Public  string `json:"public_key"`
	Private string `json:"private_key"`
}

// GenerateKeys makes a new VAPID key pair. Errors: internal.
func GenerateKeys() (Keys, error) {
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		return Keys{}, dw.Internal(err)
	}
	return Keys{Public: pub, Private: priv}, nil
}

// Check reports whether k is a P-256 pair whose public half is the private half's. Errors:
// invalid.
func (k Keys) Check() error {
	priv, err1 := decodeKey(k.Private)
	pub, err2 := decodeKey(k.Public)
	if err1 != nil || err2 != nil || len(priv) != 32 || len(pub) != 65 {
		return dw.Coded(dw.KindInvalid, "invalid", "VAPID keys must be base64url: a 32-byte P-256 private key and its 65-byte public key")
	}
	p, err := ecdh.P256().NewPrivateKey(priv)
	if err != nil || string(p.PublicKey().Bytes()) != string(pub) {
		return dw.Coded(dw.KindInvalid, "invalid", "the VAPID public key is not the private key's")
	}
	return nil
}

// WebPush sends to browsers' push services: the message encrypted for the device (RFC 8291,
// aes128gcm) and signed for the push service (VAPID), through webpush-go.
type WebPush struct {
	Keys Keys
	// Subject is the contact the push service may use (RFC 8292 "sub"): an https URL or an email
	// address without "mailto:".
	Subject string
	// Client sends the requests; it should refuse private addresses (the endpoint is a URL a
	// browser gave us). nil: http.DefaultClient.
	Client *http.Client
	TTL    time.Duration // how long the push service keeps an undelivered message; 0 = 1 h
}

// Kind is KindWebPush.
func (w *WebPush) Kind() string { return KindWebPush }

// Send delivers msg to sub. Errors: ErrGone (404, 410), or a description of the failure.
func (w *WebPush) Send(ctx context.Context, sub Subscription, msg Message) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	ttl := w.TTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	var client webpush.HTTPClient = http.DefaultClient
	if w.Client != nil {
		client = w.Client
	}
	resp, err := webpush.SendNotificationWithContext(ctx, body, &webpush.Subscription{
		Endpoint: sub.Endpoint, Keys: webpush.Keys{Auth: sub.Auth, P256dh: sub.P256dh},
	}, &webpush.Options{HTTPClient: client, Subscriber: w.Subject, TTL: int(ttl / time.Second),
		Urgency: webpush.UrgencyNormal, Topic: topic(msg.Tag), RecordSize: 2048,
		VAPIDPublicKey: w.Keys.Public, VAPIDPrivateKey: w.Keys.Private})
	if err != nil {
		return fmt.Errorf("push service unreachable: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return ErrGone
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("push service answered %d", resp.StatusCode)
	}
	return nil
}

// topic makes a Topic header (RFC 8030: at most 32 base64url characters) from a tag, so a
// later notice of the same job replaces an undelivered earlier one.
func topic(tag string) string {
	if tag == "" {
		return ""
	}
	t := base64.RawURLEncoding.EncodeToString([]byte(tag))
	if len(t) > 32 {
		t = t[len(t)-32:]
	}
	return t
}
