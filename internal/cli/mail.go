package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/divinewhispers/dw/mail"
	"github.com/divinewhispers/dw/node"
)

// mailOutboxOptions are the options of `dw mail outbox`.
type mailOutboxOptions struct {
	Status string
	Limit  int
}

// Validate joins every problem with the options.
func (o mailOutboxOptions) Validate() error {
	var errs []error
	switch o.Status {
	case "", "queued", "sent", "failed", "expired":
	default:
		errs = append(errs, errors.New("--status must be queued, sent, failed or expired (or empty for all)"))
	}
	if o.Limit < 1 || o.Limit > 1000 {
		errs = append(errs, errors.New("--limit must be between 1 and 1000"))
	}
	return errors.Join(errs...)
}

func mailCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "mail", Short: "Inspect outgoing mail"}
	outbox := &cobra.Command{Use: "outbox", Short: "List the mail outbox, newest first (bodies are never shown: they may hold reset links)", Args: cobra.NoArgs}
	cfg := cliDefaults()
	f := dbFlags(outbox, &cfg)
	opts := mailOutboxOptions{Status: "queued", Limit: 100}
	outbox.Flags().StringVar(&opts.Status, "status", opts.Status, "queued, sent, failed or expired; empty: all")
	outbox.Flags().IntVar(&opts.Limit, "limit", opts.Limit, "at most this many mails")
	outbox.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := opts.Validate(); err != nil {
			return err
		}
		return withDB(cmd, cfg, f, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			ms, err := (&mail.Outbox{Store: db.Store}).List(ctx, opts.Status, opts.Limit)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tKIND\tTO\tLANG\tSTATUS\tATTEMPTS\tNEXT ATTEMPT\tCREATED\tLAST ERROR")
			for _, m := range ms {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", m.ID, m.Kind, m.Recipient, m.Lang, m.Status, m.Attempts,
					m.NextAttemptAt.UTC().Format(time.RFC3339), m.CreatedAt.UTC().Format(time.RFC3339), m.LastError)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d mail(s)\n", len(ms))
			return nil
		})
	}
	cmd.AddCommand(outbox)
	return cmd
}
