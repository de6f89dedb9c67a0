package payments

import (
	"context"
	"errors"
	"fmt"
	"time"

	dw "github.com/divinewhispers/dw"
)

// Actions a reconciliation takes (or would take) on a difference.
const (
	ActionCredit      = "credit"      // the provider holds the money: credit the points
	ActionFail        = "fail"        // the provider says failed: mark the payment failed
	ActionRefund      = "refund"      // refunded at the provider: take the points back
	ActionFlag        = "flag"        // paid, but not what we asked: flag for an admin
	ActionInvestigate = "investigate" // nothing automatic is safe: an admin looks
)

// Difference is one payment where we and the provider disagree.
type Difference struct {
	Payment  Payment
	Provider Status // the provider's word (zero with LookupError)
	// LookupError says why the provider could not be asked ("" when it answered).
	LookupError string
	Action      string
	Fixed       bool
	FixError    string
}

// Report is the outcome of a reconciliation.
type Report struct {
	Provider    string
	Since       time.Time
	Checked     int
	Differences []Difference
}

// MaxReconcile bounds the payments one reconciliation reads.
const MaxReconcile = 10000

// Reconcile asks provider about each of its payments created since, reports where we differ,
// and with fix applies each fixable difference through the path notifications take. Errors:
// not_found (unknown_provider), internal; a provider that cannot be asked about one payment is a
// difference of the report, not an error.
func (s *Service) Reconcile(ctx context.Context, provider string, since time.Time, fix bool) (Report, error) {
	prov, err := s.Provider(provider)
	if err != nil {
		return Report{}, err
	}
	ps, err := s.cfg.Store.PaymentsSince(ctx, provider, since, MaxReconcile)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Provider: provider, Since: since}
	for _, p := range ps {
		if p.ProviderRef == "" && p.Status == StatusFailed {
			continue // the checkout never reached the provider
		}
		rep.Checked++
		st, err := prov.Lookup(ctx, p.ID, p.ProviderRef)
		if err != nil {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			if dw.KindOf(err) == dw.KindNotFound && p.Status != StatusSucceeded && p.Status != StatusRefunded {
				continue // never paid at the provider, and not paid here
			}
			rep.Differences = append(rep.Differences, Difference{Payment: p, LookupError: dw.MessageOf(err), Action: ActionInvestigate})
			continue
		}
		action := compare(p, st)
		if action == "" {
			continue
		}
		d := Difference{Payment: p, Provider: st, Action: action}
		if fix && action != ActionInvestigate {
			n := Notification{PaymentID: p.ID, ProviderRef: st.ProviderRef, Outcome: st.Outcome, Amount: st.Amount}
			if err := s.apply(ctx, p, n, "reconcile"); err != nil {
				d.FixError = dw.MessageOf(err)
			} else {
				d.Fixed = true
			}
		}
		rep.Differences = append(rep.Differences, d)
	}
	return rep, nil
}

// compare says what to do about a payment given the provider's status ("" = they agree).
func compare(p Payment, st Status) string {
	switch st.Outcome {
	case OutcomePaid:
		switch p.Status {
		case StatusPending, StatusFailed:
			if st.Amount != p.Price {
				return ActionFlag
			}
			return ActionCredit
		case StatusSucceeded:
			if p.TransactionID == "" {
				return ActionCredit
			}
		case StatusRefunded:
			return ActionInvestigate
		}
	case OutcomeFailed:
		switch p.Status {
		case StatusPending:
			return ActionFail
		case StatusSucceeded, StatusRefunded:
			return ActionInvestigate
		}
	case OutcomeRefunded:
		switch p.Status {
		case StatusSucceeded:
			return ActionRefund
		case StatusPending, StatusFailed:
			return ActionInvestigate
		}
	case OutcomePending:
		if p.Status == StatusSucceeded || p.Status == StatusRefunded {
			return ActionInvestigate
		}
	}
	return ""
}

// DefaultExpireAfter is Config.ExpireAfter's default.
const DefaultExpireAfter = 72 * time.Hour

// ReconcileStale is one round of the reconciler every node runs: it asks the providers about
// payments pending longer than ReconcileAfter (each claimed by one node), applies their answers,
// fails those still unpaid after ExpireAfter, and credits succeeded payments whose deposit a
// crash interrupted. Errors: the first failure
// (the round goes on past it).
func (s *Service) ReconcileStale(ctx context.Context) error {
	var errs []error
	now := s.cfg.Now()
	stale, err := s.cfg.Store.ClaimStale(ctx, now.Add(-s.cfg.ReconcileAfter), s.cfg.ReconcileAfter, 50)
	if err != nil {
		return err
	}
	for _, p := range stale {
		if p.ProviderRef == "" {
			// The checkout never got its answer (the node stopped while asking).
			_, _, err := s.cfg.Store.Transition(ctx, p.ID, []PaymentStatus{StatusPending},
				Transition{To: StatusFailed, Reason: "the checkout was never started at the provider"})
			errs = append(errs, err)
			continue
		}
		prov, err := s.Provider(p.Provider)
		if err != nil {
			continue // a provider turned off since: nothing to ask
		}
		st, err := prov.Lookup(ctx, p.ID, p.ProviderRef)
		if err != nil {
			if dw.KindOf(err) != dw.KindNotFound {
				errs = append(errs, err)
			}
			continue
		}
		if st.Outcome == OutcomePending && p.Status == StatusPending && now.Sub(p.CreatedAt) > s.cfg.ExpireAfter {
			// Abandoned: asking on would cost a provider call every round for good.
			_, _, err := s.cfg.Store.Transition(ctx, p.ID, []PaymentStatus{StatusPending},
				Transition{To: StatusFailed, Reason: fmt.Sprintf("not paid within %s (a payment the provider confirms later is still credited)", s.cfg.ExpireAfter)})
			errs = append(errs, err)
			continue
		}
		if compare(p, st) == "" || compare(p, st) == ActionInvestigate {
			continue
		}
		errs = append(errs, s.apply(ctx, p, Notification{PaymentID: p.ID, ProviderRef: st.ProviderRef, Outcome: st.Outcome, Amount: st.Amount}, "reconciler"))
	}
	uncredited, err := s.cfg.Store.Uncredited(ctx, now.Add(-5*time.Second), 50)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, p := range uncredited {
		errs = append(errs, s.credit(ctx, p))
	}
	return errors.Join(errs...)
}
