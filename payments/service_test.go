package payments_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/payments/paytest"
	"github.com/divinewhispers/dw/payments/sandbox"
	"github.com/divinewhispers/dw/persistence"
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, pgtest.Options{Migrate: persistence.Migrate}))
}

// bundle is a payment service on its own database, crediting through wallet grains of a local
// actor system (no cluster: the concurrency here is the service's and PostgreSQL's).
type bundle struct {
	store   *persistence.Store
	svc     *payments.Service
	harness paytest.Sandbox
	now     *atomic.Int64 // the service's clock, unix nanoseconds
	hooked  *atomic.Int64 // calls of OnSucceeded
}

var userSeq atomic.Int64

func setup(t *testing.T) bundle {
	t.Helper()
	store, err := persistence.Open(t.Context(), pgtest.NewDB(t), 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	wallets, stop := node.LocalWallets(store, log)
	t.Cleanup(stop)
	now := &atomic.Int64{}
	now.Store(time.Now().UnixNano())
	hooked := &atomic.Int64{}
	svc, err := payments.New(payments.Config{Store: store, Ledger: node.PaymentLedger(wallets), PublicURL: "http://127.0.0.1:9",
		Providers: []payments.Provider{sandbox.New(store, func() string { return "http://127.0.0.1:9" })},
		Now:       func() time.Time { return time.Unix(0, now.Load()) }, Log: log,
		OnSucceeded: func(context.Context, payments.Payment) { hooked.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	return bundle{store: store, svc: svc, harness: paytest.Sandbox{Store: store}, now: now, hooked: hooked}
}

// checkout makes a user and starts a checkout of the small package for it.
func (b bundle) checkout(t *testing.T) paytest.Checkout {
	t.Helper()
	u, err := b.store.CreateUser(t.Context(), fmt.Sprintf("buyer-%d@example.com", userSeq.Add(1)), "x", "user", persistence.AuditEntry{Action: "user.create"})
	if err != nil {
		t.Fatal(err)
	}
	p, replayed, err := b.svc.Checkout(t.Context(), payments.CheckoutInput{UserID: u.ID, WalletID: u.WalletID, Provider: "sandbox", Package: "small"})
	if err != nil || replayed || p.Status != payments.StatusPending || p.ProviderRef == "" {
		t.Fatalf("checkout: %+v %v %v", p, replayed, err)
	}
	return paytest.Checkout{PaymentID: p.ID, WalletID: p.WalletID, Points: p.Points, Price: p.Price, RedirectURL: p.Checkout.RedirectURL}
}

// credits counts the ledger entries of a payment's credit and refund, and checks the wallet
// against its ledger.
func (b bundle) credits(t *testing.T, c paytest.Checkout) (balance int64, credits, refunds int) {
	t.Helper()
	err := b.store.Pool().QueryRow(t.Context(), `SELECT w.balance,
		(SELECT count(*) FROM transactions WHERE wallet_id = w.id AND idempotency_key = 'payment:' || $2),
		(SELECT count(*) FROM transactions WHERE wallet_id = w.id AND idempotency_key = 'payment-refund:' || $2)
		FROM wallets w WHERE w.id = $1
			AND w.balance = (SELECT COALESCE(sum(balance_delta), 0) FROM transactions WHERE wallet_id = w.id AND status = 'success')`,
		c.WalletID, c.PaymentID).Scan(&balance, &credits, &refunds)
	if err != nil {
		t.Fatalf("wallet %s: %v (balance differs from its ledger?)", c.WalletID, err)
	}
	return balance, credits, refunds
}

// TestConcurrentNotifications: the same paid notification, and new events saying the same,
// handled at once, credit once.
func TestConcurrentNotifications(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.checkout(t)
	b.harness.Pay(t, c)
	same := b.harness.Notification(t, c, payments.OutcomePaid, c.Price)
	var wg sync.WaitGroup
	errs := make([]error, 24)
	for i := range errs {
		d := same
		if i%2 == 1 {
			d = b.harness.Notification(t, c, payments.OutcomePaid, c.Price)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = b.svc.HandleNotification(context.Background(), "sandbox", d.Header, d.Body, "127.0.0.1")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("delivery %d: %v", i, err)
		}
	}
	p, err := b.svc.Get(t.Context(), c.PaymentID)
	balance, credits, _ := b.credits(t, c)
	if err != nil || p.Status != payments.StatusSucceeded || p.TransactionID == "" || p.PaidAt.IsZero() || credits != 1 || balance != c.Points {
		t.Errorf("payment %+v (%v); %d credits, balance %d", p, err, credits, balance)
	}
	if n := b.hooked.Load(); n != 1 {
		t.Errorf("OnSucceeded called %d times, want once", n)
	}
	var deliveries int
	if err := b.store.Pool().QueryRow(t.Context(), `SELECT deliveries FROM payment_events WHERE payment_id = $1 ORDER BY deliveries DESC LIMIT 1`,
		c.PaymentID).Scan(&deliveries); err != nil || deliveries != 12 {
		t.Errorf("the repeated event recorded %d deliveries (%v), want 12", deliveries, err)
	}
}

// TestCrashBetweenTransitionAndCredit: a payment turned succeeded whose deposit never ran (the
// node stopped between the two) is credited by the reconciler's round, once.
func TestCrashBetweenTransitionAndCredit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.checkout(t)
	if _, changed, err := b.store.Transition(t.Context(), c.PaymentID, []payments.PaymentStatus{payments.StatusPending},
		payments.Transition{To: payments.StatusSucceeded}); err != nil || !changed {
		t.Fatalf("transition: %v %v", changed, err)
	}
	b.now.Add(int64(time.Minute)) // past the grace the round leaves a credit in flight
	for range 2 {
		if err := b.svc.ReconcileStale(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := b.svc.Get(t.Context(), c.PaymentID)
	if balance, credits, _ := b.credits(t, c); credits != 1 || balance != c.Points || p.TransactionID == "" {
		t.Errorf("after the repair: %d credits, balance %d, transaction %q", credits, balance, p.TransactionID)
	}
}

// TestReconcilerIsFair: payments pending for good (checkouts abandoned: an ECPay order never
// paid stays unpaid there) do not starve the reconciler. Each round claims at most 50, and
// claimed the oldest first, so with more than a round's worth of abandoned ones it asked about
// the same oldest ones round after round, and a newer payment whose notification was lost was
// never looked up; the least recently asked now go first.
func TestReconcilerIsFair(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for range 60 {
		b.checkout(t) // abandoned: pending at the provider for good
		b.now.Add(int64(time.Millisecond))
	}
	lost := b.checkout(t)
	b.harness.Pay(t, lost)
	b.now.Add(int64(time.Hour)) // all of them pending past ReconcileAfter
	for range 3 {
		if err := b.svc.ReconcileStale(t.Context()); err != nil {
			t.Fatal(err)
		}
		// The round's claims run out, as they do ReconcileAfter later.
		if _, err := b.store.Pool().Exec(t.Context(), `UPDATE payments SET checked_at = checked_at - interval '1 day' WHERE checked_at IS NOT NULL`); err != nil {
			t.Fatal(err)
		}
	}
	if balance, credits, _ := b.credits(t, lost); credits != 1 || balance != lost.Points {
		t.Fatalf("the lost payment after three rounds: %d credits, balance %d; want it credited", credits, balance)
	}
}

// TestConcurrentRefunds: refunds asked at once refund once at the provider and in the ledger.
func TestConcurrentRefunds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.checkout(t)
	b.harness.Pay(t, c)
	d := b.harness.Notification(t, c, payments.OutcomePaid, c.Price)
	if _, err := b.svc.HandleNotification(t.Context(), "sandbox", d.Header, d.Body, ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([]payments.Payment, 8)
	errs := make([]error, len(got))
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i], errs[i] = b.svc.Refund(context.Background(), "", c.PaymentID) }()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i].Status != payments.StatusRefunded {
			t.Errorf("refund %d: %+v, %v", i, got[i], errs[i])
		}
	}
	if balance, credits, refunds := b.credits(t, c); credits != 1 || refunds != 1 || balance != 0 {
		t.Errorf("after the refunds: %d credits, %d refunds, balance %d", credits, refunds, balance)
	}
}

// TestReconcile: a payment the provider holds money for but we never heard of is reported,
// and credited with fix; a payment both sides agree on is not reported.
func TestReconcile(t *testing.T) {
	t.Parallel()
	b := setup(t)
	lost, agreed, abandoned := b.checkout(t), b.checkout(t), b.checkout(t)
	b.harness.Pay(t, lost)
	b.harness.Pay(t, agreed)
	d := b.harness.Notification(t, agreed, payments.OutcomePaid, agreed.Price)
	if _, err := b.svc.HandleNotification(t.Context(), "sandbox", d.Header, d.Body, ""); err != nil {
		t.Fatal(err)
	}
	_ = abandoned
	since := time.Now().Add(-time.Hour)
	for _, fix := range []bool{false, true} {
		rep, err := b.svc.Reconcile(t.Context(), "sandbox", since, fix)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Checked != 3 || len(rep.Differences) != 1 || rep.Differences[0].Payment.ID != lost.PaymentID ||
			rep.Differences[0].Action != payments.ActionCredit || rep.Differences[0].Fixed != fix {
			t.Fatalf("fix %v: report %+v", fix, rep)
		}
	}
	if rep, err := b.svc.Reconcile(t.Context(), "sandbox", since, true); err != nil || len(rep.Differences) != 0 {
		t.Errorf("after the fix: %+v, %v", rep, err)
	}
	if balance, credits, _ := b.credits(t, lost); credits != 1 || balance != lost.Points {
		t.Errorf("the lost payment: %d credits, balance %d", credits, balance)
	}
	if _, err := b.svc.Reconcile(t.Context(), "paypal", since, false); err == nil {
		t.Error("an unknown provider reconciled")
	}
}

// TestSimulatedNotification: a notification marked simulated is acknowledged and audited, and
// credits nothing.
func TestSimulatedNotification(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.checkout(t)
	key, err := b.store.SandboxKey(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rec, err := b.store.SandboxRecord(t.Context(), c.PaymentID)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(sandbox.Event{ID: "evt_simulated", PaymentID: c.PaymentID, Ref: rec.Ref, Outcome: payments.OutcomePaid,
		Currency: c.Price.Currency, AmountMinor: c.Price.Minor, Simulated: true, Created: time.Now().Unix()})
	ack, err := b.svc.HandleNotification(t.Context(), "sandbox", http.Header{sandbox.SignatureHeader: {sandbox.Sign(key, body, time.Now())}}, body, "")
	if err != nil || ack.Status != 200 {
		t.Fatalf("ack %+v, %v", ack, err)
	}
	p, _ := b.svc.Get(t.Context(), c.PaymentID)
	var audits int
	_ = b.store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM audit_logs WHERE action = 'payment.simulated' AND target_id = $1`, c.PaymentID).Scan(&audits)
	if balance, credits, _ := b.credits(t, c); p.Status != payments.StatusPending || credits != 0 || balance != 0 || audits != 1 {
		t.Errorf("simulated: %s, %d credits, balance %d, %d audit rows", p.Status, credits, balance, audits)
	}
}

// TestConcurrentCheckoutsOneKey: checkouts sent at once with one Idempotency-Key make one
// payment, and every answer is its checkout.
func TestConcurrentCheckoutsOneKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u, err := b.store.CreateUser(t.Context(), "same-key@example.com", "x", "user", persistence.AuditEntry{Action: "user.create"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([]payments.Payment, 8)
	errs := make([]error, len(got))
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _, errs[i] = b.svc.Checkout(context.Background(), payments.CheckoutInput{UserID: u.ID, WalletID: u.WalletID,
				Provider: "sandbox", Package: "small", IdempotencyKey: "one-key"})
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i].ID != got[0].ID || got[i].Checkout.RedirectURL == "" {
			t.Errorf("checkout %d: %+v, %v", i, got[i], errs[i])
		}
	}
	var n int
	if err := b.store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM payments WHERE user_id = $1`, u.ID).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d payments (%v), want 1", n, err)
	}
}

// TestAbandonedPaymentsExpire: a payment its provider still calls unpaid after ExpireAfter is
// failed by the reconciler, which then stops asking about it; a paid notification that comes
// later still credits it, once.
func TestAbandonedPaymentsExpire(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.checkout(t)
	status := func() payments.PaymentStatus {
		p, err := b.svc.Get(t.Context(), c.PaymentID)
		if err != nil {
			t.Fatal(err)
		}
		return p.Status
	}
	b.now.Add(int64(time.Hour)) // past ReconcileAfter, before ExpireAfter: asked, left pending
	if err := b.svc.ReconcileStale(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := status(); st != payments.StatusPending {
		t.Fatalf("after an hour: %s, want pending", st)
	}
	b.now.Add(int64(payments.DefaultExpireAfter))
	if _, err := b.store.Pool().Exec(t.Context(), `UPDATE payments SET checked_at = checked_at - interval '1 day'`); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.ReconcileStale(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := status(); st != payments.StatusFailed {
		t.Fatalf("after %s: %s, want failed", payments.DefaultExpireAfter, st)
	}
	b.now.Store(time.Now().UnixNano()) // the notification is signed now: the service's clock too
	b.harness.Pay(t, c)
	d := b.harness.Notification(t, c, payments.OutcomePaid, c.Price)
	if _, err := b.svc.HandleNotification(t.Context(), "sandbox", d.Header, d.Body, ""); err != nil {
		t.Fatal(err)
	}
	if balance, credits, _ := b.credits(t, c); status() != payments.StatusSucceeded || credits != 1 || balance != c.Points {
		t.Fatalf("paid after expiring: %s, %d credits, balance %d", status(), credits, balance)
	}
}
