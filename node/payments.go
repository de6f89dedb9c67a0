package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/divinewhispers/dw/actors"
	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/payments/sandbox"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/protos/walletpb"
)

// PaymentService builds the payment core of a node (or of `dw payments reconcile`): the
// packages of --payment-packages, and the providers turned on. publicURL says where browsers
// and providers reach the system (it may change once the node's port is known).
func PaymentService(cfg Config, store *persistence.Store, ledger payments.Ledger, log *slog.Logger) (*payments.Service, *sandbox.Provider, error) {
	pkgs, err := payments.ParsePackages(cfg.paymentPackages())
	if err != nil {
		return nil, nil, err
	}
	var svc *payments.Service
	publicURL := func() string { return svc.PublicURL() }
	providers, sbx := paymentProviders(cfg, store, publicURL)
	svc, err = payments.New(payments.Config{Store: store, Ledger: ledger, Providers: providers, Packages: pkgs,
		PublicURL: cfg.publicURL(), ReconcileAfter: cfg.PaymentReconcileAfter, Log: log})
	return svc, sbx, err
}

// paymentProviders is the set of providers the configuration turns on. The sandbox is on
// unless --payment-sandbox=false; cfg.PaymentProviders come after it.
func paymentProviders(cfg Config, store *persistence.Store, publicURL func() string) ([]payments.Provider, *sandbox.Provider) {
	var out []payments.Provider
	var sbx *sandbox.Provider
	if cfg.PaymentSandbox {
		sbx = sandbox.New(store, publicURL)
		out = append(out, sbx)
	}
	return append(out, cfg.PaymentProviders...), sbx
}

func (c *Config) paymentPackages() string {
	if c.PaymentPackages == "" {
		return payments.DefaultPackages
	}
	return c.PaymentPackages
}

// validatePayments checks the payment settings.
func (c *Config) validatePayments() []error {
	var errs []error
	if _, err := payments.ParsePackages(c.paymentPackages()); err != nil {
		errs = append(errs, fmt.Errorf("--payment-packages (DW_PAYMENT_PACKAGES): %v", err.Error()))
	}
	if c.PaymentReconcileAfter < time.Second || c.PaymentReconcileAfter > 24*time.Hour {
		errs = append(errs, errors.New("--payment-reconcile-after (DW_PAYMENT_RECONCILE_AFTER) must be between 1s and 24h"))
	}
	return errs
}

// reconcileEvery is how often a node's reconciler looks for payments pending too long.
func reconcileEvery(after time.Duration) time.Duration {
	return min(max(after/2, 500*time.Millisecond), time.Minute)
}

// PaymentLedger moves the points of payments through the wallet grains.
func PaymentLedger(w *actors.Wallets) payments.Ledger { return walletLedger{w} }

type walletLedger struct{ w *actors.Wallets }

func (l walletLedger) Deposit(ctx context.Context, walletID string, amount int64, key, reference, actorID string) (string, error) {
	resp, err := l.w.Do(ctx, &walletpb.Request{Op: walletpb.Op_OP_DEPOSIT, WalletId: walletID, Amount: amount,
		IdempotencyKey: key, ReferenceId: reference, ActorId: actorID})
	if err != nil {
		return "", err
	}
	return resp.Transaction.Id, nil
}

func (l walletLedger) Withdraw(ctx context.Context, walletID string, amount int64, key, reason, actorID string) (string, error) {
	resp, err := l.w.Do(ctx, &walletpb.Request{Op: walletpb.Op_OP_ADJUST, WalletId: walletID, Amount: -amount,
		IdempotencyKey: key, Reason: reason, ActorId: actorID})
	if err != nil {
		return "", err
	}
	return resp.Transaction.Id, nil
}

func (l walletLedger) Available(ctx context.Context, walletID string) (int64, error) {
	resp, err := l.w.Do(ctx, &walletpb.Request{Op: walletpb.Op_OP_GET, WalletId: walletID})
	if err != nil {
		return 0, err
	}
	return resp.Wallet.Available, nil
}
