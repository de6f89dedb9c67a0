package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	dw "github.com/divinewhispers/dw"
)

// Store is what the webhooks core needs from the database (persistence.Store implements it).
type Store interface {
	// CreateEndpoint stores a new endpoint (ID, OwnerID, URL, Events, Secret set), audited as
	// done by by.
	CreateEndpoint(ctx context.Context, e Endpoint, by Actor) (Endpoint, error)
	// Endpoints lists the endpoints of owner ("" = every owner's), oldest first, secrets left out.
	Endpoints(ctx context.Context, owner string) ([]Endpoint, error)
	// Endpoint reads one endpoint of owner ("" = anyone's); withSecret reads its secret too.
	Endpoint(ctx context.Context, id, owner string, withSecret bool) (Endpoint, error)
	// DeleteEndpoint removes an endpoint of owner ("" = anyone's) with its deliveries, audited
	// as done by by.
	DeleteEndpoint(ctx context.Context, id, owner string, by Actor) error
	// PruneWebhooks removes the events that happened before a time, with their deliveries.
	PruneWebhooks(ctx context.Context, before time.Time) (int, error)
	// PublishEvent records ev (with its payload) unless it is known, and enqueues one delivery
	// per endpoint subscribed to its type that existed when it happened, unless it has one for
	// this event already; it returns how many it enqueued.
	PublishEvent(ctx context.Context, ev Event, payload []byte, maxAge time.Duration) (int, error)
	// ClaimEvents leases up to limit events the database recorded (jobs, quotas, low balances)
	// that were not yet published, each with its typed Data.
	ClaimEvents(ctx context.Context, limit int, lease time.Duration) ([]Event, error)
	// SweepLowBalance records a wallet.low_balance event for every ledger entry since the last
	// sweep that took a wallet's available points from threshold or more to below it.
	SweepLowBalance(ctx context.Context, threshold int64, limit int) (int, error)
	// ClaimDeliveries leases up to limit due deliveries for lease and counts their attempt.
	ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]Claim, error)
	// RecordAttempt records an attempt and its outcome on its delivery (fenced by the attempt
	// number: a late outcome of a lease that ran out is recorded as an attempt only).
	RecordAttempt(ctx context.Context, a Attempt) error
	// Deliveries pages the deliveries of an endpoint, newest first, with their attempts.
	Deliveries(ctx context.Context, endpointID string, limit int, cursor string) ([]Delivery, string, error)
	// Redeliver makes a delivery of the endpoint due now, with a new deadline.
	Redeliver(ctx context.Context, endpointID, deliveryID string, deadline time.Time) (Delivery, error)
}

// Claim is a delivery leased to one worker for one attempt.
type Claim struct {
	DeliveryID string
	EndpointID string
	URL        string
	Secret     string
	EventID    string
	EventType  string
	Payload    []byte
	Attempt    int // this attempt's number, 1-based
	Deadline   time.Time
}

// Service is the webhooks core: endpoints, publishing and the deliveries' record.
type Service struct {
	Store   Store
	Guard   Guard
	Backoff Backoff
	Now     func() time.Time

	wakeOnce sync.Once
	wake     chan struct{}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) wakeCh() chan struct{} {
	s.wakeOnce.Do(func() { s.wake = make(chan struct{}, 1) })
	return s.wake
}

// wakeUp tells this node's worker that deliveries may be due.
func (s *Service) wakeUp() {
	select {
	case s.wakeCh() <- struct{}{}:
	default:
	}
}

// Actor is who asks for a change, for the audit log.
type Actor struct {
	UserID string
	IP     string
}

// CreateInput is a new endpoint, owned by the user who registers it.
type CreateInput struct {
	OwnerID string
	URL     string
	Events  []string
	IP      string // the client's address, for the audit log
}

// NewSecret returns a fresh signing secret: whsec_ and the base64 of 32 random bytes.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// Create registers an endpoint and returns it with its secret, the only time the secret is
// shown. Errors: invalid (code invalid naming url or events; webhook_url_forbidden;
// webhook_url_unresolvable), internal, unavailable.
func (s *Service) Create(ctx context.Context, in CreateInput) (Endpoint, error) {
	in.URL = strings.TrimSpace(in.URL)
	u, err := s.Guard.CheckURL(ctx, in.URL)
	if err != nil {
		return Endpoint{}, err
	}
	events, err := ValidateEvents(in.Events)
	if err != nil {
		return Endpoint{}, err
	}
	return s.Store.CreateEndpoint(ctx, Endpoint{ID: uuid.Must(uuid.NewV7()).String(), OwnerID: in.OwnerID,
		URL: u.String(), Events: events, Secret: NewSecret()}, Actor{UserID: in.OwnerID, IP: in.IP})
}

// List lists the endpoints of owner ("" = all, for an admin), without secrets. Errors:
// internal, unavailable.
func (s *Service) List(ctx context.Context, owner string) ([]Endpoint, error) {
	return s.Store.Endpoints(ctx, owner)
}

// Get reads an endpoint of owner ("" = anyone's), without its secret. Errors: not_found,
// internal, unavailable.
func (s *Service) Get(ctx context.Context, id, owner string) (Endpoint, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Endpoint{}, errNoEndpoint
	}
	return s.Store.Endpoint(ctx, id, owner, false)
}

var errNoEndpoint = dw.Errorf(dw.KindNotFound, "webhook endpoint not found")

// Delete removes an endpoint of owner ("" = anyone's) and its deliveries (those pending are
// not sent), audited as done by by. Errors: not_found, internal, unavailable.
func (s *Service) Delete(ctx context.Context, id, owner string, by Actor) error {
	if _, err := uuid.Parse(id); err != nil {
		return errNoEndpoint
	}
	return s.Store.DeleteEndpoint(ctx, id, owner, by)
}

// Deliveries pages the deliveries of an endpoint of owner ("" = anyone's), newest first, each
// with its attempts. Errors: not_found, invalid (bad_cursor), internal, unavailable.
func (s *Service) Deliveries(ctx context.Context, endpointID, owner string, limit int, cursor string) ([]Delivery, string, error) {
	if _, err := s.Get(ctx, endpointID, owner); err != nil {
		return nil, "", err
	}
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	return s.Store.Deliveries(ctx, endpointID, limit, cursor)
}

// Redeliver sends a delivery of an endpoint of owner ("" = anyone's) again now, whatever its
// status, with a fresh retry window; the receiver sees the same webhook-id. Errors:
// not_found, internal, unavailable.
func (s *Service) Redeliver(ctx context.Context, endpointID, owner, deliveryID string) (Delivery, error) {
	if _, err := s.Get(ctx, endpointID, owner); err != nil {
		return Delivery{}, err
	}
	if _, err := uuid.Parse(deliveryID); err != nil {
		return Delivery{}, dw.Errorf(dw.KindNotFound, "delivery not found")
	}
	d, err := s.Store.Redeliver(ctx, endpointID, deliveryID, s.now().Add(s.Backoff.orDefaults().MaxAge))
	if err == nil {
		s.wakeUp()
	}
	return d, err
}

// MaxEventID bounds an event id (it travels as the webhook-id header).
const MaxEventID = 200

// Publish enqueues one delivery of ev per endpoint subscribed to its type, once however often
// the same ev.ID is published (from any node). It returns how many deliveries it enqueued.
// The payment service calls it when a payment succeeded. Errors: invalid (an unknown type, an
// empty or too long id, data that does not marshal), internal, unavailable.
func (s *Service) Publish(ctx context.Context, ev Event) (int, error) {
	if !KnownEvent(ev.Type) {
		return 0, dw.Errorf(dw.KindInvalid, "unknown event type %q", truncate(ev.Type, 64))
	}
	if ev.ID == "" || len(ev.ID) > MaxEventID {
		return 0, dw.Errorf(dw.KindInvalid, "an event id must have 1 to %d bytes", MaxEventID)
	}
	if ev.At.IsZero() {
		ev.At = s.now()
	}
	payload, err := Payload(ev)
	if err != nil {
		return 0, &dw.Error{Kind: dw.KindInvalid, Code: "invalid", Message: "the event's data does not marshal", Err: err}
	}
	n, err := s.Store.PublishEvent(ctx, ev, payload, s.Backoff.orDefaults().MaxAge)
	if err == nil && n > 0 {
		s.wakeUp()
	}
	return n, err
}
