package payments

import (
	"context"
	"time"
)

// Store keeps payments (package persistence implements it). Every state change is a guarded
// transition in SQL, so that two nodes handling the same notification change a payment once.
type Store interface {
	// CreatePayment inserts p (status pending). With a non-empty key, a payment of the same user
	// made with the same key is returned instead, with created false. Errors: internal.
	CreatePayment(ctx context.Context, p Payment, key string) (_ Payment, created bool, _ error)
	// SetCheckout records the provider's answer to a pending payment's checkout. Errors:
	// not_found, conflict (the provider reference is another payment's), internal.
	SetCheckout(ctx context.Context, id string, c Checkout) (Payment, error)
	// Payment reads one payment. Errors: not_found, internal.
	Payment(ctx context.Context, id string) (Payment, error)
	// PaymentByRef reads the payment a provider knows by ref. Errors: not_found, internal.
	PaymentByRef(ctx context.Context, provider, ref string) (Payment, error)
	// ListPayments reads one page of payments, newest first, and the next page's cursor.
	// Errors: invalid (bad_cursor), internal.
	ListPayments(ctx context.Context, f ListFilter) ([]Payment, string, error)
	// Transition moves a payment from one of from to t.To, with t's details, in one guarded
	// statement; changed is false (and the payment as it stands is returned) when it was not in
	// from. Errors: not_found, internal.
	Transition(ctx context.Context, id string, from []PaymentStatus, t Transition) (_ Payment, changed bool, _ error)
	// SetTransaction records the ledger entry of a payment's credit (refund false) or of its
	// refund, once: set is false when one was already recorded. Errors: internal.
	SetTransaction(ctx context.Context, id, txID string, refund bool) (set bool, _ error)
	// ClaimRefund marks a succeeded payment's refund as started, unless another started less
	// than stale ago. Errors: internal.
	ClaimRefund(ctx context.Context, id string, stale time.Duration) (bool, error)
	// ReleaseRefund undoes ClaimRefund after a refund that did not happen. Errors: internal.
	ReleaseRefund(ctx context.Context, id string) error
	// RecordEvent notes one delivery of a provider's event; first is false for a duplicate.
	// Errors: internal.
	RecordEvent(ctx context.Context, provider, eventID, paymentID string, outcome Outcome) (first bool, _ error)
	// ClaimStale returns up to limit payments pending since before olderThan that nobody asked
	// the provider about in the last recheck, marking them asked (rows other nodes are claiming
	// are skipped). Errors: internal.
	ClaimStale(ctx context.Context, olderThan time.Time, recheck time.Duration, limit int) ([]Payment, error)
	// Uncredited returns succeeded payments without a ledger entry, last changed before
	// olderThan (a node stopped between the two steps). Errors: internal.
	Uncredited(ctx context.Context, olderThan time.Time, limit int) ([]Payment, error)
	// PaymentsSince returns a provider's payments created at or after since, oldest first.
	// Errors: internal.
	PaymentsSince(ctx context.Context, provider string, since time.Time, limit int) ([]Payment, error)
	// AuditPayment appends an audit row about a payment. Errors: internal.
	AuditPayment(ctx context.Context, a Audit) error
}

// Transition is a change of status with what goes with it.
type Transition struct {
	To          PaymentStatus
	Reason      string    // "" leaves it
	ProviderRef string    // "" leaves it
	At          time.Time // paid_at for succeeded, refunded_at for refunded
}

// ListFilter selects payments.
type ListFilter struct {
	UserID   string        // "" = everyone's
	Status   PaymentStatus // "" = any
	Provider string        // "" = any
	Limit    int
	Cursor   string // opaque, from the previous page
}

// Audit is one audit row about a payment.
type Audit struct {
	ActorID   string // "" for the provider or the system
	Action    string // payment.*
	PaymentID string // "" when none is known (a forged notification)
	Detail    map[string]any
	IP        string
}

// Ledger moves the points of payments (the wallet grains, through an adapter in package node).
// Both calls are idempotent by key: a replay answers the first entry.
type Ledger interface {
	// Deposit credits amount to a wallet and returns the ledger entry's id.
	Deposit(ctx context.Context, walletID string, amount int64, key, reference, actorID string) (string, error)
	// Withdraw takes amount back (a negative adjustment with reason) and returns the entry's id.
	// Errors: insufficient_funds when the points were spent.
	Withdraw(ctx context.Context, walletID string, amount int64, key, reason, actorID string) (string, error)
	// Available is what the wallet can give now.
	Available(ctx context.Context, walletID string) (int64, error)
}
