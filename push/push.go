// Package push tells a person that their interpretation is ready when the page is closed: Web
// Push (RFC 8030 delivery, RFC 8291 message encryption, RFC 8292 VAPID) to the browsers they
// subscribed, through a Sender per kind of subscription so FCM or APNs senders for native Apps
// can be added beside the Web Push one with their credentials.
//
// A notice is written by the database in the transaction that finishes a job (migration 016's
// trigger on jobs, only for users with a subscription), so a node's death between a job's end
// and its notice loses nothing; a worker on every node claims due notices with a lease and
// sends them. Push is a courtesy, not a record: a notice that cannot be sent within MaxAge is
// dropped, and a subscription the push service says is gone (404, 410) is removed.
package push

import (
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	dw "github.com/divinewhispers/dw"
)

// KindWebPush is the kind of a browser's subscription.
const KindWebPush = "webpush"

// Subscription is where one device of a user is reached.
type Subscription struct {
	ID        string
	UserID    string
	Kind      string // KindWebPush; other senders may add kinds
	Endpoint  string // the push service's URL for this device
	P256dh    string // the device's public key, base64url (RFC 8291 ua_public)
	Auth      string // the device's authentication secret, base64url
	Lang      string // "zh-TW" or "en": the language of the notices
	CreatedAt time.Time
}

// SubscribeInput is a browser's PushSubscription (its toJSON()) and the page's language.
type SubscribeInput struct {
	Endpoint string
	P256dh   string
	Auth     string
	Lang     string
}

// MaxEndpointLength bounds a subscription's endpoint URL.
const MaxEndpointLength = 2048

// Validate reports every problem of in, keyed by its JSON field. Errors: invalid (code invalid,
// with the fields).
func (in SubscribeInput) Validate() error {
	var bad []string
	u, err := url.Parse(in.Endpoint)
	switch {
	case in.Endpoint == "" || len(in.Endpoint) > MaxEndpointLength || !utf8.ValidString(in.Endpoint):
		bad = append(bad, "endpoint: an https URL of at most 2048 bytes")
	case err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "":
		bad = append(bad, "endpoint: must be the https URL of the push service (no credentials or fragment)")
	}
	if k, err := decodeKey(in.P256dh); err != nil || len(k) != 65 {
		bad = append(bad, "keys.p256dh: the subscription's P-256 public key, base64url (65 bytes)")
	} else if _, err := ecdh.P256().NewPublicKey(k); err != nil {
		bad = append(bad, "keys.p256dh: not a point on P-256")
	}
	if k, err := decodeKey(in.Auth); err != nil || len(k) != 16 {
		bad = append(bad, "keys.auth: the subscription's authentication secret, base64url (16 bytes)")
	}
	if in.Lang != "" && in.Lang != "zh-TW" && in.Lang != "en" {
		bad = append(bad, "language: zh-TW or en")
	}
	if len(bad) > 0 {
		return dw.Coded(dw.KindInvalid, "invalid", "%s", strings.Join(bad, "; "))
	}
	return nil
}

// decodeKey reads base64url with or without padding (browsers send it without).
func decodeKey(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// Message is what a notification shows; the service worker reads it as JSON.
type Message struct {
	Title string `json:"title"`
	Body  string `json:"body"`
	URL   string `json:"url"` // a path of the web app to open on a click
	Tag   string `json:"tag"` // a later notice with the same tag replaces the earlier one
}

// ErrGone is what a Sender returns when the push service says the subscription no longer
// exists: it is removed.
var ErrGone = errors.New("push subscription gone")

// Sender delivers one message to one subscription of its kind. Errors: ErrGone (wrapped or
// not) when the subscription no longer exists; anything else is retried.
type Sender interface {
	Kind() string
	Send(ctx context.Context, sub Subscription, msg Message) error
}

// Notice is a job's end waiting to be told.
type Notice struct {
	JobID     string
	UserID    string
	Status    string // the job's final status: completed or failed
	Attempts  int    // counting the current one
	CreatedAt time.Time
}

// Store keeps subscriptions and notices. persistence implements it.
type Store interface {
	// SavePushSubscription stores sub, or, for an endpoint already stored, gives it to
	// sub.UserID with the new keys and language; it returns the stored row.
	SavePushSubscription(ctx context.Context, sub Subscription) (Subscription, error)
	// DeletePushSubscription removes a subscription of userID ("" = of anyone). Errors: not_found.
	DeletePushSubscription(ctx context.Context, userID, id string) error
	PushSubscriptions(ctx context.Context, userID string) ([]Subscription, error)
	// ClaimPushNotices leases up to limit due notices for lease, counting the attempt.
	ClaimPushNotices(ctx context.Context, limit int, lease time.Duration) ([]Notice, error)
	// FinishPushNotice removes a notice (sent, or given up).
	FinishPushNotice(ctx context.Context, jobID string) error
	// RetryPushNotice makes a notice due again at at.
	RetryPushNotice(ctx context.Context, jobID string, at time.Time) error
}

// Service is subscriptions and the sending of notices.
type Service struct {
	Store   Store
	Senders []Sender      // by Kind; a subscription of a kind with no sender is skipped
	Key     string        // the VAPID public key browsers subscribe with (base64url)
	Poll    time.Duration // how often the worker looks for due notices; 0 = 2 s
	Lease   time.Duration // a claimed notice is another node's after this; 0 = 30 s
	Backoff time.Duration // the first retry's wait, doubled after each; 0 = 5 s
	MaxAge  time.Duration // a notice not sent by then is dropped; 0 = 1 h
	Log     *slog.Logger

	wakeOnce sync.Once
	wake     chan struct{}
}

// Subscribe stores a device of userID. Errors: invalid (the fields), unavailable.
func (s *Service) Subscribe(ctx context.Context, userID string, in SubscribeInput) (Subscription, error) {
	if err := in.Validate(); err != nil {
		return Subscription{}, err
	}
	lang := in.Lang
	if lang == "" {
		lang = "zh-TW"
	}
	return s.Store.SavePushSubscription(ctx, Subscription{UserID: userID, Kind: KindWebPush, Endpoint: in.Endpoint,
		P256dh: strings.TrimRight(in.P256dh, "="), Auth: strings.TrimRight(in.Auth, "="), Lang: lang})
}

// Unsubscribe removes one of userID's devices. Errors: not_found, unavailable.
func (s *Service) Unsubscribe(ctx context.Context, userID, id string) error {
	return s.Store.DeletePushSubscription(ctx, userID, id)
}

// Subscriptions lists userID's devices. Errors: unavailable.
func (s *Service) Subscriptions(ctx context.Context, userID string) ([]Subscription, error) {
	return s.Store.PushSubscriptions(ctx, userID)
}

// Wake makes the worker look for notices now (a job just finished on this node).
func (s *Service) Wake() {
	select {
	case s.wakeCh() <- struct{}{}:
	default:
	}
}

func (s *Service) wakeCh() chan struct{} {
	s.wakeOnce.Do(func() { s.wake = make(chan struct{}, 1) })
	return s.wake
}

func (s *Service) defaults() (poll, lease, backoff, maxAge time.Duration) {
	poll, lease, backoff, maxAge = s.Poll, s.Lease, s.Backoff, s.MaxAge
	if poll <= 0 {
		poll = 2 * time.Second
	}
	if lease <= 0 {
		lease = 30 * time.Second
	}
	if backoff <= 0 {
		backoff = 5 * time.Second
	}
	if maxAge <= 0 {
		maxAge = time.Hour
	}
	return
}

// Run sends due notices until ctx ends.
func (s *Service) Run(ctx context.Context) {
	poll, _, _, _ := s.defaults()
	wake := s.wakeCh()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		for s.RunOnce(ctx) > 0 && ctx.Err() == nil {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
	}
}

// RunOnce claims a batch of due notices and tries each once, returning how many it claimed.
func (s *Service) RunOnce(ctx context.Context) int {
	_, lease, backoff, maxAge := s.defaults()
	ns, err := s.Store.ClaimPushNotices(ctx, 20, lease)
	if err != nil {
		if ctx.Err() == nil {
			s.log().Warn("push: claim", "err", err)
		}
		return 0
	}
	for _, n := range ns {
		sctx, cancel := context.WithTimeout(ctx, lease/2)
		retry := s.tell(sctx, n)
		cancel()
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		next := time.Now().Add(backoffAfter(backoff, n.Attempts))
		if retry && next.Before(n.CreatedAt.Add(maxAge)) {
			err = s.Store.RetryPushNotice(wctx, n.JobID, next)
		} else {
			err = s.Store.FinishPushNotice(wctx, n.JobID)
		}
		wcancel()
		if err != nil {
			s.log().Warn("push: record notice", "job", n.JobID, "err", err)
		}
	}
	return len(ns)
}

// tell sends n to every device of its user and reports whether to try again: when no device
// took it and one failed for a reason that may pass.
func (s *Service) tell(ctx context.Context, n Notice) (retry bool) {
	subs, err := s.Store.PushSubscriptions(ctx, n.UserID)
	if err != nil {
		s.log().Warn("push: subscriptions", "user", n.UserID, "err", err)
		return true
	}
	delivered, failed := 0, 0
	for _, sub := range subs {
		sender := s.sender(sub.Kind)
		if sender == nil {
			continue
		}
		err := sender.Send(ctx, sub, NoticeMessage(n, sub.Lang))
		switch {
		case err == nil:
			delivered++
		case errors.Is(err, ErrGone):
			if err := s.Store.DeletePushSubscription(ctx, "", sub.ID); err != nil && dw.KindOf(err) != dw.KindNotFound {
				s.log().Warn("push: remove gone subscription", "subscription", sub.ID, "err", err)
			}
		default:
			failed++
			// The endpoint's host only: the path identifies the device.
			s.log().Warn("push: send failed", "job", n.JobID, "subscription", sub.ID, "attempt", n.Attempts, "err", err)
		}
	}
	return delivered == 0 && failed > 0
}

func (s *Service) sender(kind string) Sender {
	for _, x := range s.Senders {
		if x.Kind() == kind {
			return x
		}
	}
	return nil
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// backoffAfter is the wait after attempt n (1-based) failed: base doubled at each attempt.
func backoffAfter(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// NoticeMessage is the notification of a job's end, in lang (zh-TW unless "en").
func NoticeMessage(n Notice, lang string) Message {
	m := Message{URL: "/jobs/" + n.JobID, Tag: "job-" + n.JobID}
	switch {
	case n.Status == "completed" && lang == "en":
		m.Title, m.Body = "Your interpretation is ready", "Open it to read what your poem says."
	case n.Status == "completed":
		m.Title, m.Body = "您的解籤已完成", "點開閱讀籤詩的解說。"
	case lang == "en":
		m.Title, m.Body = "Your interpretation could not be made", "Your points were returned. Open it to try again."
	default:
		m.Title, m.Body = "解籤未能完成", "點數已退回，點開可再試一次。"
	}
	return m
}
