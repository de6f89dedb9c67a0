package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/actors"
	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/payments/ecpay"
	"github.com/divinewhispers/dw/payments/sandbox"
	"github.com/divinewhispers/dw/payments/stripe"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/protos/walletpb"
	"github.com/divinewhispers/dw/settings"
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
	providers, sbx, err := paymentProviders(cfg, store, publicURL)
	if err != nil {
		return nil, nil, err
	}
	svc, err = payments.New(payments.Config{Store: store, Ledger: ledger, Providers: providers, Packages: pkgs,
		PublicURL: cfg.publicURL(), ReconcileAfter: cfg.PaymentReconcileAfter,
		ExpireAfter: cfg.PaymentExpireAfter, Log: log})
	return svc, sbx, err
}

// paymentProviders is the set of providers the configuration turns on: the sandbox unless
// --payment-sandbox=false, Stripe with --stripe-secret-key, ECPay with --ecpay-merchant-id,
// then cfg.PaymentProviders (tests).
func paymentProviders(cfg Config, store *persistence.Store, publicURL func() string) ([]payments.Provider, *sandbox.Provider, error) {
	var out []payments.Provider
	var sbx *sandbox.Provider
	if cfg.PaymentSandbox {
		sbx = sandbox.New(store, publicURL)
		out = append(out, sbx)
	}
	if cfg.StripeSecretKey != "" {
		p, err := stripe.New(stripe.Config{SecretKey: cfg.StripeSecretKey, WebhookSecret: cfg.StripeWebhookSecret, APIBase: cfg.StripeAPIBase})
		if err != nil {
			return nil, nil, err
		}
		out = append(out, p)
	}
	if cfg.ECPayMerchantID != "" {
		p, err := ecpay.New(ecpay.Config{MerchantID: cfg.ECPayMerchantID, HashKey: cfg.ECPayHashKey, HashIV: cfg.ECPayHashIV, Base: cfg.ECPayBase})
		if err != nil {
			return nil, nil, err
		}
		out = append(out, p)
	}
	return append(out, cfg.PaymentProviders...), sbx, nil
}

// packagesSetting is the runtime setting payment_packages: what is on sale, --payment-packages
// by default.
func packagesSetting(cfg Config, pay *payments.Service) settings.Definition {
	return settings.Text("payment_packages",
		"packages on sale, id:points:currency:price (price in major units) separated by commas, e.g. small:100:TWD:150,large:1200:TWD:1500 (checkouts from now on; payments made keep their price)",
		cfg.paymentPackages(), cfg.PaymentPackages != "",
		func(s string) (string, error) {
			pkgs, err := payments.ParsePackages(s)
			if err != nil {
				return "", errors.New(dw.MessageOf(err))
			}
			return payments.FormatPackages(pkgs), nil
		},
		func(s string) {
			if pkgs, err := payments.ParsePackages(s); err == nil {
				_ = pay.SetPackages(pkgs) // parsed above: no duplicates
			}
		})
}

// formActions are the origins the web app posts checkout forms to: ECPay's AIO form.
func (c *Config) formActions() []string {
	if c.ECPayMerchantID == "" {
		return nil
	}
	base := c.ECPayBase
	if base == "" {
		base = ecpay.ProductionBase
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil
	}
	return []string{u.Scheme + "://" + u.Host}
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
	if (c.StripeSecretKey == "") != (c.StripeWebhookSecret == "") {
		errs = append(errs, errors.New("--stripe-secret-key and --stripe-webhook-secret (DW_STRIPE_SECRET_KEY, DW_STRIPE_WEBHOOK_SECRET) go together"))
	} else if c.StripeSecretKey != "" {
		if _, err := stripe.New(stripe.Config{SecretKey: c.StripeSecretKey, WebhookSecret: c.StripeWebhookSecret, APIBase: c.StripeAPIBase}); err != nil {
			errs = append(errs, fmt.Errorf("--stripe-*: %s", dw.MessageOf(err)))
		}
	}
	if c.ECPayMerchantID != "" {
		if _, err := ecpay.New(ecpay.Config{MerchantID: c.ECPayMerchantID, HashKey: c.ECPayHashKey, HashIV: c.ECPayHashIV, Base: c.ECPayBase}); err != nil {
			errs = append(errs, fmt.Errorf("--ecpay-*: %s", dw.MessageOf(err)))
		}
	} else if c.ECPayHashKey != "" || c.ECPayHashIV != "" {
		errs = append(errs, errors.New("--ecpay-hash-key and --ecpay-hash-iv need --ecpay-merchant-id (DW_ECPAY_MERCHANT_ID)"))
	}
	if c.PaymentExpireAfter < c.PaymentReconcileAfter || c.PaymentExpireAfter > 90*24*time.Hour {
		errs = append(errs, errors.New("--payment-expire-after (DW_PAYMENT_EXPIRE_AFTER) must be at least --payment-reconcile-after and at most 2160h"))
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
