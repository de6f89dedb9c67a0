package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/persistence/pgserver"
	"github.com/divinewhispers/dw/protos/walletpb"
)

// withDB opens the database for one command: --database-url, or the embedded server under
// --data-dir, adopted when it runs (a `dw serve`'s, another command's, or one left by a killed
// command) and started otherwise. On every way out of the command (return, error, panic, and
// the signals and broken stdout that cancel its context, see Main) the server is stopped unless
// another process still uses it.
func withDB(cmd *cobra.Command, cfg node.Config, f *flags, fn func(ctx context.Context, db *node.Database, log *slog.Logger) error) error {
	if err := f.check(); err != nil {
		return err
	}
	log := newLogger(cfg, cmd.ErrOrStderr())
	ctx := cmd.Context()
	db, err := node.OpenDatabase(ctx, cfg, false, log)
	if err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = db.Close(stopCtx)
	}()
	return fn(ctx, db, log)
}

func cliDefaults() node.Config {
	cfg := node.Defaults()
	cfg.LogLevel = "warn"
	cfg.LogFormat = "text"
	cfg.DBMaxConns = 4
	cfg.DBSharedBuffers = pgserver.CommandSharedBuffers
	return cfg
}

func migrateCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Apply or inspect database migrations"}
	up := &cobra.Command{Use: "up", Short: "Apply every pending migration", Args: cobra.NoArgs}
	cfgUp := cliDefaults()
	fUp := dbFlags(up, &cfgUp)
	up.RunE = func(cmd *cobra.Command, _ []string) error {
		// OpenDatabase migrates; report where it stands.
		return withDB(cmd, cfgUp, fUp, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			return printStatus(ctx, cmd.OutOrStdout(), db.URL)
		})
	}
	status := &cobra.Command{Use: "status", Short: "Show applied and pending migrations", Args: cobra.NoArgs}
	cfgSt := cliDefaults()
	fSt := dbFlags(status, &cfgSt)
	status.RunE = func(cmd *cobra.Command, _ []string) error {
		return withDB(cmd, cfgSt, fSt, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			return printStatus(ctx, cmd.OutOrStdout(), db.URL)
		})
	}
	cmd.AddCommand(up, status)
	return cmd
}

func printStatus(ctx context.Context, w io.Writer, url string) error {
	st, err := persistence.MigrationStatus(ctx, url)
	if err != nil {
		return err
	}
	for i, name := range st.Names {
		state := "pending"
		if int32(i+1) <= st.Current {
			state = "applied"
		}
		fmt.Fprintf(w, "%3d  %-8s %s\n", i+1, state, name)
	}
	fmt.Fprintf(w, "schema version %d of %d\n", st.Current, len(st.Names))
	return nil
}

func userCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage platform users"}

	create := &cobra.Command{Use: "create", Short: "Create a user with a personal wallet", Args: cobra.NoArgs}
	cfgC := cliDefaults()
	fC := dbFlags(create, &cfgC)
	var in account.RegisterInput
	create.Flags().StringVar(&in.Email, "email", "", "email address (required)")
	create.Flags().StringVar(&in.Password, "password", "", "password, 8 to 128 characters, not easily guessed (zxcvbn score ≥ 3; required)")
	create.Flags().StringVar(&in.Role, "role", "user", "admin, operator, service or user")
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := in.Validate(); err != nil {
			return err
		}
		return withDB(cmd, cfgC, fC, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			accounts, err := node.CLIAccounts(cfgC, db.Store)
			if err != nil {
				return err
			}
			u, err := accounts.Register(ctx, in)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s user %s (id %s, wallet %s)\n", u.Role, u.Email, u.ID, u.WalletID)
			return nil
		})
	}

	list := &cobra.Command{Use: "list", Short: "List users", Args: cobra.NoArgs}
	cfgL := cliDefaults()
	fL := dbFlags(list, &cfgL)
	var filter persistence.UserFilter
	list.Flags().StringVar(&filter.Search, "search", "", "part of the email")
	list.Flags().StringVar(&filter.Role, "role", "", "only this role")
	list.Flags().StringVar(&filter.Status, "status", "", "active or suspended")
	list.Flags().IntVar(&filter.Limit, "limit", 100, "at most this many")
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return withDB(cmd, cfgL, fL, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			users, total, err := db.Store.ListUsers(ctx, filter)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tSTATUS\tWALLET\tCREATED")
			for _, u := range users {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, u.Role, u.Status, u.WalletID, u.CreatedAt.Format(time.RFC3339))
			}
			fmt.Fprintf(tw, "(%d of %d)\n", len(users), total)
			return tw.Flush()
		})
	}
	cmd.AddCommand(create, list)
	return cmd
}

func walletCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "wallet", Short: "Inspect wallets and move points"}

	show := &cobra.Command{Use: "show WALLET", Short: "Show a wallet's balance (WALLET: an id, or a shared wallet's name)", Args: cobra.ExactArgs(1)}
	cfgS := cliDefaults()
	fS := dbFlags(show, &cfgS)
	show.RunE = func(cmd *cobra.Command, args []string) error {
		return withDB(cmd, cfgS, fS, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			w, err := resolveWallet(ctx, db.Store, "WALLET", args[0])
			if err != nil {
				return err
			}
			st, updated, err := db.Store.LoadWallet(ctx, w.ID)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wallet    %s\nbalance   %d\nheld      %d\navailable %d\nseq       %d\nupdated   %s\n",
				st.ID, st.Balance, st.Held, st.Available(), st.Seq, updated.Format(time.RFC3339))
			if w.Name != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "name      %s\n", w.Name)
			}
			return nil
		})
	}

	deposit := &cobra.Command{Use: "deposit WALLET AMOUNT", Short: "Deposit points into a wallet (WALLET: an id, or a shared wallet's name)", Args: cobra.ExactArgs(2)}
	cfgD := cliDefaults()
	fD := dbFlags(deposit, &cfgD)
	var reference, key string
	deposit.Flags().StringVar(&reference, "reference", "", "reference id, e.g. a payment id")
	deposit.Flags().StringVar(&key, "idempotency-key", "", "repeat a deposit safely: the same key never deposits twice (default: a new key)")
	deposit.RunE = func(cmd *cobra.Command, args []string) error {
		amount, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil || amount <= 0 {
			return fmt.Errorf("AMOUNT %q must be a positive whole number of points", args[1])
		}
		if key == "" {
			key = "cli:" + uuid.NewString()
		}
		return withDB(cmd, cfgD, fD, func(ctx context.Context, db *node.Database, log *slog.Logger) error {
			w, err := resolveWallet(ctx, db.Store, "WALLET", args[0])
			if err != nil {
				return err
			}
			wallets, stop := node.LocalWallets(db.Store, log)
			defer stop()
			resp, err := wallets.Do(ctx, &walletpb.Request{Op: walletpb.Op_OP_DEPOSIT, WalletId: w.ID,
				Amount: amount, ReferenceId: reference, IdempotencyKey: key})
			if err != nil {
				if dw.KindOf(err) == dw.KindNotFound {
					return errors.New("no wallet " + args[0] + " (see `dw user list`)")
				}
				return err
			}
			replay := ""
			if resp.Replayed {
				replay = " (already done with this idempotency key)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deposited %d into %s: transaction %s, balance %d%s\n",
				resp.Transaction.Amount, w.ID, resp.Transaction.Id, resp.Transaction.BalanceAfter, replay)
			return nil
		})
	}
	cmd.AddCommand(show, deposit, walletCreateCmd())
	return cmd
}

func dbCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "The embedded PostgreSQL"}
	url := &cobra.Command{Use: "url", Short: "Print the connection URL of the embedded server under --data-dir (it holds the password)", Args: cobra.NoArgs}
	cfg := cliDefaults()
	f := dbFlags(url, &cfg)
	url.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := f.check(); err != nil {
			return err
		}
		u, ok := pgserver.RunningURL(cfg.DataDir)
		if !ok {
			return fmt.Errorf("no embedded PostgreSQL is running under %s: start `dw serve --data-dir %s` first", cfg.DataDir, cfg.DataDir)
		}
		fmt.Fprintln(cmd.OutOrStdout(), u)
		return nil
	}
	cmd.AddCommand(url)
	return cmd
}
