package payments

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/wallet"
)

// Config is what the payment service is built from.
type Config struct {
	Store     Store
	Ledger    Ledger
	Providers []Provider
	Packages  []Package // nil: DefaultPackages
	// PublicURL is where browsers and providers reach us (return and notification URLs); it
	// may be set later with SetPublicURL, once the listener's port is known.
	PublicURL string
	// ReconcileAfter is how long a payment stays pending before the reconciler asks its
	// provider (0 = 10 minutes).
	ReconcileAfter time.Duration
	// ExpireAfter is how long a payment the provider still calls unpaid stays pending: then the
	// reconciler marks it failed and stops asking about it (0 = 72 hours, an ATM transfer's
	// usual deadline). A paid notification that comes later still credits it.
	ExpireAfter time.Duration
	// OnSucceeded, if set, is called once a payment's points are credited (by the node that
	// credited them; a crash between the credit and the call loses the call).
	OnSucceeded func(ctx context.Context, p Payment)
	Log         *slog.Logger
	Now         func() time.Time // nil: time.Now
}

// Service sells points through payment providers. It is safe for concurrent use.
type Service struct {
	cfg       Config
	providers map[string]Provider
	mu        sync.RWMutex // guards what follows
	packages  map[string]Package
	pkgList   []Package // in configuration order
	publicURL string
}

// Ledger keys (wallet.ReservedKeyPrefixes holds their prefixes).
func creditKey(id string) string { return "payment:" + id }
func refundKey(id string) string { return "payment-refund:" + id }

// New checks cfg and returns the service. Errors: invalid (no store, duplicate provider or
// package).
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Ledger == nil {
		return nil, dw.Errorf(dw.KindInvalid, "payments: a store and a ledger are needed")
	}
	if cfg.Packages == nil {
		cfg.Packages, _ = ParsePackages(DefaultPackages)
	}
	if cfg.ReconcileAfter <= 0 {
		cfg.ReconcileAfter = 10 * time.Minute
	}
	if cfg.ExpireAfter <= 0 {
		cfg.ExpireAfter = DefaultExpireAfter
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg, providers: map[string]Provider{}, publicURL: strings.TrimRight(cfg.PublicURL, "/")}
	for _, p := range cfg.Providers {
		if _, dup := s.providers[p.Name()]; dup {
			return nil, dw.Errorf(dw.KindInvalid, "payments: provider %q given twice", p.Name())
		}
		s.providers[p.Name()] = p
	}
	if err := s.SetPackages(cfg.Packages); err != nil {
		return nil, err
	}
	return s, nil
}

// SetPackages replaces what can be bought (the runtime setting payment_packages): checkouts
// from now on offer and price these; payments already made keep their package and price.
// Errors: invalid (a package given twice).
func (s *Service) SetPackages(pkgs []Package) error {
	byID := make(map[string]Package, len(pkgs))
	for _, p := range pkgs {
		if _, dup := byID[p.ID]; dup {
			return dw.Errorf(dw.KindInvalid, "payments: package %q given twice", p.ID)
		}
		byID[p.ID] = p
	}
	s.mu.Lock()
	s.pkgList, s.packages = slices.Clone(pkgs), byID
	s.mu.Unlock()
	return nil
}

// pkg returns a package by id, and the ids on sale.
func (s *Service) pkg(id string) (Package, bool, []string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.packages[id]
	ids := make([]string, 0, len(s.pkgList))
	for _, x := range s.pkgList {
		ids = append(ids, x.ID)
	}
	return p, ok, ids
}

// SetPublicURL sets where browsers and providers reach us.
func (s *Service) SetPublicURL(u string) {
	s.mu.Lock()
	s.publicURL = strings.TrimRight(u, "/")
	s.mu.Unlock()
}

// PublicURL is where browsers and providers reach us.
func (s *Service) PublicURL() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.publicURL
}

// Packages lists what can be bought, in configuration order.
func (s *Service) Packages() []Package {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.pkgList)
}

// Providers names the providers enabled, sorted.
func (s *Service) Providers() []string {
	out := make([]string, 0, len(s.providers))
	for n := range s.providers {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Provider returns an enabled provider by name. Errors: not_found (code unknown_provider).
func (s *Service) Provider(name string) (Provider, error) {
	p, ok := s.providers[name]
	if !ok {
		return nil, dw.Coded(dw.KindNotFound, "unknown_provider", "no payment provider %q here (enabled: %s)", truncate(name), strings.Join(s.Providers(), ", "))
	}
	return p, nil
}

// CheckoutInput asks to buy a package through a provider.
type CheckoutInput struct {
	UserID, WalletID string
	Email            string // prefilled at the provider; may be ""
	Language         string // zh-TW or en; "" = zh-TW
	Provider         string
	Package          string
	IdempotencyKey   string // "" = not retry-safe
}

// Validate checks the input against the service's providers and packages. Errors: invalid
// (unknown_provider, unknown_package, invalid_idempotency_key, reserved_idempotency_key).
func (s *Service) validate(in CheckoutInput) error {
	var errs []error
	if _, ok := s.providers[in.Provider]; !ok {
		errs = append(errs, fmt.Errorf("provider: %q is not one of %s", truncate(in.Provider), strings.Join(s.Providers(), ", ")))
	}
	if _, ok, ids := s.pkg(in.Package); !ok {
		errs = append(errs, fmt.Errorf("package: %q is not one of %s", truncate(in.Package), strings.Join(ids, ", ")))
	}
	if in.UserID == "" || in.WalletID == "" {
		errs = append(errs, errors.New("the buyer has no personal wallet"))
	}
	if len(errs) > 0 {
		code := "invalid_checkout"
		if len(errs) == 1 && strings.HasPrefix(errs[0].Error(), "provider:") {
			code = "unknown_provider"
		} else if len(errs) == 1 && strings.HasPrefix(errs[0].Error(), "package:") {
			code = "unknown_package"
		}
		return &dw.Error{Kind: dw.KindInvalid, Code: code, Message: errors.Join(errs...).Error()}
	}
	if in.IdempotencyKey != "" {
		return wallet.CheckClientKey(in.IdempotencyKey)
	}
	return nil
}

// Checkout stores a pending payment, then asks the provider for a hosted checkout. A replay of
// the same user's Idempotency-Key answers the first payment again (replayed true). Errors:
// invalid (see validate), conflict (idempotency_conflict: the key was used for another
// purchase), unavailable (provider_unavailable: the payment is stored as failed), the
// provider's other errors, internal.
func (s *Service) Checkout(ctx context.Context, in CheckoutInput) (_ Payment, replayed bool, _ error) {
	if err := s.validate(in); err != nil {
		return Payment{}, false, err
	}
	prov := s.providers[in.Provider]
	pkg, ok, _ := s.pkg(in.Package)
	if !ok { // taken off sale since validate
		return Payment{}, false, dw.Coded(dw.KindInvalid, "unknown_package", "package %q is no longer on sale", truncate(in.Package))
	}
	now := s.cfg.Now().UTC()
	p := Payment{ID: uuid.NewString(), UserID: in.UserID, WalletID: in.WalletID, Provider: in.Provider,
		PackageID: pkg.ID, Points: pkg.Points, Price: pkg.Price, Status: StatusPending, CreatedAt: now, UpdatedAt: now}
	p, created, err := s.cfg.Store.CreatePayment(ctx, p, in.IdempotencyKey)
	if err != nil {
		return Payment{}, false, err
	}
	if !created {
		p, err := s.replay(ctx, p, in)
		return p, true, err
	}
	base := s.PublicURL()
	lang, desc := in.Language, fmt.Sprintf("Divine Whispers %d points", pkg.Points)
	if lang != "en" {
		lang, desc = "zh-TW", fmt.Sprintf("Divine Whispers 點數 %d 點", pkg.Points)
	}
	co, err := prov.Checkout(ctx, CheckoutRequest{
		PaymentID: p.ID, Package: pkg, Email: in.Email, Language: lang, CreatedAt: now,
		Description: desc,
		SuccessURL:  base + "/wallet?payment=" + p.ID,
		CancelURL:   base + "/wallet?payment=" + p.ID + "&cancelled=1",
		NotifyURL:   base + "/api/v1/payments/webhooks/" + prov.Name(),
	})
	if err != nil {
		err = providerError(err)
		reason := "checkout failed at the provider: " + dw.MessageOf(err)
		// A new context: the payment must not stay pending because the caller went away.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, _, terr := s.cfg.Store.Transition(fctx, p.ID, []PaymentStatus{StatusPending}, Transition{To: StatusFailed, Reason: reason}); terr != nil {
			s.cfg.Log.Error("payment: recording a failed checkout", "payment", p.ID, "err", terr)
		}
		return Payment{}, false, err
	}
	p, err = s.cfg.Store.SetCheckout(ctx, p.ID, co)
	return p, false, err
}

// providerError makes an error of a provider's checkout one of the contract's kinds: a failure
// without a kind is the provider being unreachable.
func providerError(err error) error {
	var e *dw.Error
	if errors.As(err, &e) && e.Kind != dw.KindInternal {
		return err
	}
	return &dw.Error{Kind: dw.KindUnavailable, Code: "provider_unavailable", Message: "the payment provider cannot be reached; try again later", Err: err}
}

// replay answers a checkout whose key was used before: the first payment, once its checkout is
// known (a concurrent first request may still be asking the provider).
func (s *Service) replay(ctx context.Context, p Payment, in CheckoutInput) (Payment, error) {
	if p.Provider != in.Provider || p.PackageID != in.Package {
		return Payment{}, dw.Coded(dw.KindConflict, "idempotency_conflict", "this Idempotency-Key was used for another purchase (%s, %s)", p.Provider, p.PackageID)
	}
	deadline := time.Now().Add(15 * time.Second)
	for p.Status == StatusPending && p.Checkout.RedirectURL == "" {
		if time.Now().After(deadline) {
			return Payment{}, dw.Coded(dw.KindConflict, "idempotency_in_progress", "the first request with this Idempotency-Key is still running; retry in a moment")
		}
		select {
		case <-ctx.Done():
			return Payment{}, &dw.Error{Kind: dw.KindUnavailable, Code: "unavailable", Message: "request cancelled", Err: ctx.Err()}
		case <-time.After(100 * time.Millisecond):
		}
		var err error
		if p, err = s.cfg.Store.Payment(ctx, p.ID); err != nil {
			return Payment{}, err
		}
	}
	if p.Checkout.RedirectURL == "" { // the first request failed at the provider: so does its replay
		return Payment{}, dw.Coded(dw.KindUnavailable, "provider_unavailable", "%s (send a new Idempotency-Key to try again)", p.Reason)
	}
	return p, nil
}

// Get reads one payment. Errors: not_found, internal.
func (s *Service) Get(ctx context.Context, id string) (Payment, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Payment{}, dw.Errorf(dw.KindNotFound, "payment not found")
	}
	return s.cfg.Store.Payment(ctx, id)
}

// List reads a page of payments, newest first. Errors: invalid (bad_cursor), internal.
func (s *Service) List(ctx context.Context, f ListFilter) ([]Payment, string, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	return s.cfg.Store.ListPayments(ctx, f)
}

// HandleNotification verifies and applies one server notification of provider name, and
// returns the answer the provider expects. A paid notification credits the payment's wallet
// exactly once, however often and wherever it is delivered. Errors: not_found
// (unknown_provider), invalid (invalid_signature: forged, unsigned, stale or unreadable; an
// audit row is written), unavailable (the ledger did not answer: the provider should retry),
// internal.
func (s *Service) HandleNotification(ctx context.Context, name string, header http.Header, body []byte, ip string) (Ack, error) {
	prov, err := s.Provider(name)
	if err != nil {
		return Ack{}, err
	}
	n, err := prov.ParseNotification(ctx, header, body, s.cfg.Now())
	if err != nil {
		if dw.KindOf(err) == dw.KindInvalid {
			s.audit(ctx, Audit{Action: "payment.notification_rejected", IP: ip,
				Detail: map[string]any{"provider": name, "code": dw.CodeOf(err), "message": dw.MessageOf(err), "bytes": len(body)}})
		}
		return Ack{}, err
	}
	if n.Ignored {
		return prov.Acknowledge(), nil
	}
	p, err := s.paymentOf(ctx, name, n)
	if dw.KindOf(err) == dw.KindNotFound {
		// Signed by the provider but not about a payment of ours (another shop on the same
		// account): acknowledged, so that it is not sent again.
		s.audit(ctx, Audit{Action: "payment.notification_unknown", IP: ip,
			Detail: map[string]any{"provider": name, "event_id": n.EventID, "payment_id": n.PaymentID, "provider_ref": n.ProviderRef}})
		return prov.Acknowledge(), nil
	}
	if err != nil {
		return Ack{}, err
	}
	first := true
	if n.EventID != "" {
		if first, err = s.cfg.Store.RecordEvent(ctx, name, n.EventID, p.ID, n.Outcome); err != nil {
			return Ack{}, err
		}
	}
	if !first && settled(p) {
		return prov.Acknowledge(), nil // a duplicate of an event already applied
	}
	if err := s.apply(ctx, p, n, "notification"); err != nil {
		return Ack{}, err
	}
	return prov.Acknowledge(), nil
}

// settled says whether nothing more can happen to p by a notification.
func settled(p Payment) bool {
	switch p.Status {
	case StatusSucceeded:
		return p.TransactionID != ""
	case StatusPending:
		return false
	}
	return true
}

func (s *Service) paymentOf(ctx context.Context, provider string, n Notification) (Payment, error) {
	var p Payment
	var err error = dw.Errorf(dw.KindNotFound, "payment not found")
	if _, perr := uuid.Parse(n.PaymentID); perr == nil {
		p, err = s.cfg.Store.Payment(ctx, n.PaymentID)
	} else if n.ProviderRef != "" {
		p, err = s.cfg.Store.PaymentByRef(ctx, provider, n.ProviderRef)
	}
	if err == nil && p.Provider != provider {
		return Payment{}, dw.Errorf(dw.KindNotFound, "payment not found") // another provider's: not this one's to settle
	}
	return p, err
}

// apply brings p in line with what the provider said (a notification, or a lookup by the
// reconciler): the one path by which points are credited.
func (s *Service) apply(ctx context.Context, p Payment, n Notification, source string) error {
	now := s.cfg.Now().UTC()
	if n.Simulated {
		s.audit(ctx, Audit{Action: "payment.simulated", PaymentID: p.ID, Detail: map[string]any{"provider": p.Provider, "source": source}})
		return nil
	}
	switch n.Outcome {
	case OutcomePaid:
		if n.Amount != p.Price {
			reason := fmt.Sprintf("the provider reports %s paid, the payment is for %s", n.Amount, p.Price)
			_, changed, err := s.cfg.Store.Transition(ctx, p.ID, []PaymentStatus{StatusPending, StatusFailed}, Transition{To: StatusFlagged, Reason: reason})
			if err != nil {
				return err
			}
			if changed {
				s.audit(ctx, Audit{Action: "payment.flagged", PaymentID: p.ID, Detail: map[string]any{"provider": p.Provider,
					"reason": reason, "source": source, "expected": p.Price.String(), "reported": n.Amount.String()}})
			}
			return nil
		}
		// The guard makes one delivery, on one node, the one that turns the payment succeeded; a
		// failed payment the provider says is paid after all is paid (the money was taken).
		p2, changed, err := s.cfg.Store.Transition(ctx, p.ID, []PaymentStatus{StatusPending, StatusFailed},
			Transition{To: StatusSucceeded, ProviderRef: n.ProviderRef, At: now, Reason: ""})
		if err != nil {
			return err
		}
		if changed {
			s.cfg.Log.Info("payment succeeded", "payment", p.ID, "provider", p.Provider, "source", source)
		}
		if p2.Status == StatusSucceeded && p2.TransactionID == "" {
			return s.credit(ctx, p2)
		}
		return nil
	case OutcomeFailed:
		_, _, err := s.cfg.Store.Transition(ctx, p.ID, []PaymentStatus{StatusPending},
			Transition{To: StatusFailed, Reason: "the provider reports the payment declined, cancelled or expired"})
		return err
	case OutcomeRefunded:
		if p.Status == StatusSucceeded {
			_, err := s.ledgerRefund(ctx, p, "", "refunded at the provider")
			return err
		}
	}
	return nil
}

// credit deposits a succeeded payment's points, keyed by the payment: run twice (two nodes,
// a retry, the recovery of a crash between the transition and the deposit), it credits once.
func (s *Service) credit(ctx context.Context, p Payment) error {
	txID, err := s.cfg.Ledger.Deposit(ctx, p.WalletID, p.Points, creditKey(p.ID), p.ID, p.UserID)
	if err != nil {
		return err
	}
	set, err := s.cfg.Store.SetTransaction(ctx, p.ID, txID, false)
	if err != nil {
		return err
	}
	if set && s.cfg.OnSucceeded != nil {
		p.TransactionID = txID
		s.cfg.OnSucceeded(ctx, p)
	}
	return nil
}

// Refund gives a succeeded payment back: at the provider, then in the ledger (a negative
// adjustment keyed by the payment), once, however often it is asked and by how many at once.
// A refunded payment is answered as it is. Errors: not_found, conflict
// (payment_not_refundable: not succeeded; refund_in_progress), insufficient_funds (the points
// were spent: nothing is refunded), the provider's errors (nothing is refunded), internal.
func (s *Service) Refund(ctx context.Context, actorID, id string) (Payment, error) {
	p, err := s.Get(ctx, id)
	if err != nil {
		return Payment{}, err
	}
	switch {
	case p.Status == StatusRefunded:
		return p, nil
	case p.Status != StatusSucceeded:
		return Payment{}, dw.Coded(dw.KindConflict, "payment_not_refundable", "only a succeeded payment can be refunded; this one is %s", p.Status)
	}
	if p.TransactionID == "" {
		if err := s.credit(ctx, p); err != nil {
			return Payment{}, err
		}
	}
	claimed, err := s.cfg.Store.ClaimRefund(ctx, p.ID, 2*time.Minute)
	if err != nil {
		return Payment{}, err
	}
	if !claimed {
		return s.awaitRefund(ctx, p.ID)
	}
	prov, err := s.Provider(p.Provider)
	if err != nil {
		return Payment{}, err
	}
	if avail, err := s.cfg.Ledger.Available(ctx, p.WalletID); err != nil {
		return Payment{}, err
	} else if avail < p.Points {
		_ = s.cfg.Store.ReleaseRefund(ctx, p.ID)
		return Payment{}, dw.Coded(dw.KindInsufficientFunds, "insufficient_funds", "the wallet holds %d available points, fewer than the %d of this payment: they were spent", avail, p.Points)
	}
	if err := prov.Refund(ctx, RefundRequest{PaymentID: p.ID, ProviderRef: p.ProviderRef, Amount: p.Price, Reason: "requested by an administrator"}); err != nil {
		_ = s.cfg.Store.ReleaseRefund(context.WithoutCancel(ctx), p.ID)
		return Payment{}, providerError(err)
	}
	return s.ledgerRefund(context.WithoutCancel(ctx), p, actorID, "refund of payment "+p.ID)
}

// awaitRefund waits for another caller's refund of id to finish.
func (s *Service) awaitRefund(ctx context.Context, id string) (Payment, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		p, err := s.cfg.Store.Payment(ctx, id)
		if err != nil {
			return Payment{}, err
		}
		if p.Status == StatusRefunded {
			return p, nil
		}
		if time.Now().After(deadline) || p.Status != StatusSucceeded {
			return Payment{}, dw.Coded(dw.KindConflict, "refund_in_progress", "a refund of this payment is under way; look again in a moment")
		}
		select {
		case <-ctx.Done():
			return Payment{}, &dw.Error{Kind: dw.KindUnavailable, Code: "unavailable", Message: "request cancelled", Err: ctx.Err()}
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ledgerRefund takes a refunded payment's points back, keyed by the payment, and marks it
// refunded.
func (s *Service) ledgerRefund(ctx context.Context, p Payment, actorID, reason string) (Payment, error) {
	txID, err := s.cfg.Ledger.Withdraw(ctx, p.WalletID, p.Points, refundKey(p.ID), reason, actorID)
	if err != nil {
		return Payment{}, err
	}
	if _, err := s.cfg.Store.SetTransaction(ctx, p.ID, txID, true); err != nil {
		return Payment{}, err
	}
	p2, changed, err := s.cfg.Store.Transition(ctx, p.ID, []PaymentStatus{StatusSucceeded}, Transition{To: StatusRefunded, At: s.cfg.Now().UTC()})
	if err != nil {
		return Payment{}, err
	}
	if changed {
		s.audit(ctx, Audit{ActorID: actorID, Action: "payment.refunded", PaymentID: p.ID,
			Detail: map[string]any{"provider": p.Provider, "points": p.Points, "amount": p.Price.String(), "transaction_id": txID}})
	}
	return p2, nil
}

func (s *Service) audit(ctx context.Context, a Audit) {
	if err := s.cfg.Store.AuditPayment(context.WithoutCancel(ctx), a); err != nil {
		s.cfg.Log.Error("payment audit row", "action", a.Action, "err", err)
	}
}
