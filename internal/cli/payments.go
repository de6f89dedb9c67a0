package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/payments"
)

// reconcileOptions are the flags of `dw payments reconcile`.
type reconcileOptions struct {
	Provider string
	Since    string // RFC 3339, or a duration back from now (24h)
	Fix      bool
	now      time.Time
	since    time.Time
}

// Validate checks the options and reads --since. Errors name the flag.
func (o *reconcileOptions) Validate() error {
	var errs []error
	if o.Provider == "" {
		errs = append(errs, errors.New("--provider is required (e.g. sandbox, stripe, ecpay)"))
	}
	if t, err := time.Parse(time.RFC3339, o.Since); err == nil {
		o.since = t
	} else if d, err := time.ParseDuration(o.Since); err == nil && d > 0 {
		o.since = o.now.Add(-d)
	} else {
		errs = append(errs, fmt.Errorf("--since %q must be an RFC 3339 time (2026-01-02T15:04:05Z) or a duration back from now (24h)", o.Since))
	}
	return errors.Join(errs...)
}

func paymentsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "payments", Short: "Payments: compare ours with the providers'"}
	rec := &cobra.Command{
		Use:   "reconcile",
		Short: "Ask a provider about each of its payments since a time, print the differences, and with --fix repair them",
		Long: `Ask a payment provider where each of its payments created since --since stands and print
where we differ: a payment the provider holds money for that is not credited here (a lost
notification), one it failed or refunded, amounts that disagree. With --fix each difference is
applied through the same path as the provider's notifications (credits exactly once). The exit
code is non-zero only on an error, not for differences.`,
		Args: cobra.NoArgs,
	}
	cfg := cliDefaults()
	f := dbFlags(rec, &cfg)
	f.boolean(&cfg.PaymentSandbox, "payment-sandbox", "the sandbox payment provider is on")
	opts := reconcileOptions{Since: "24h"}
	rec.Flags().StringVar(&opts.Provider, "provider", "", "the provider: sandbox, stripe or ecpay")
	rec.Flags().StringVar(&opts.Since, "since", opts.Since, "payments created since this RFC 3339 time, or this long ago (24h)")
	rec.Flags().BoolVar(&opts.Fix, "fix", false, "apply the differences (credit, fail, refund, flag)")
	rec.RunE = func(cmd *cobra.Command, _ []string) error {
		opts.now = time.Now()
		if err := opts.Validate(); err != nil {
			return err
		}
		return withDB(cmd, cfg, f, func(ctx context.Context, db *node.Database, log *slog.Logger) error {
			wallets, stop := node.LocalWallets(db.Store, log)
			defer stop()
			svc, _, err := node.PaymentService(cfg, db.Store, node.PaymentLedger(wallets), log)
			if err != nil {
				return err
			}
			rep, err := svc.Reconcile(ctx, opts.Provider, opts.since, opts.Fix)
			if err != nil {
				return err
			}
			printReport(cmd, rep, opts.Fix)
			return nil
		})
	}
	cmd.AddCommand(rec)
	return cmd
}

func printReport(cmd *cobra.Command, rep payments.Report, fix bool) {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s: %d payment(s) since %s checked, %d difference(s)\n", rep.Provider, rep.Checked,
		rep.Since.UTC().Format(time.RFC3339), len(rep.Differences))
	if len(rep.Differences) == 0 {
		return
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PAYMENT\tUSER\tOURS\tPROVIDER\tAMOUNT\tPROVIDER AMOUNT\tACTION\tRESULT")
	for _, d := range rep.Differences {
		theirs, amount := string(d.Provider.Outcome), ""
		if d.LookupError != "" {
			theirs = "error: " + d.LookupError
		} else {
			amount = d.Provider.Amount.String()
		}
		result := "-"
		switch {
		case d.FixError != "":
			result = "failed: " + d.FixError
		case d.Fixed:
			result = "fixed"
		case fix:
			result = "left for an admin"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Payment.ID, d.Payment.UserID, d.Payment.Status, theirs,
			d.Payment.Price.String(), amount, d.Action, strings.ReplaceAll(result, "\t", " "))
	}
	_ = w.Flush()
}
