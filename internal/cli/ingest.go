package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/ingest"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence"
)

// ingestRootFlag binds --ingest-root, repeatable, to roots. Its environment variable is
// DW_INGEST_ROOTS (comma-separated), not the DW_INGEST_ROOT the flags helper would derive.
func ingestRootFlag(cmd *cobra.Command, roots *[]string) {
	def := *roots
	if v, ok := os.LookupEnv(ingestRootsEnv); ok && v != "" {
		def = strings.Split(v, ",")
	}
	cmd.Flags().StringSliceVar(roots, "ingest-root", def,
		"a directory ingest sources may read (with everything under it, symlinks resolved); repeat the flag or separate with commas ["+ingestRootsEnv+"]")
}

const ingestRootsEnv = "DW_INGEST_ROOTS"

// checkIngestRoots checks the roots of a command, as `dw serve` checks its own.
func checkIngestRoots(cfg node.Config) error {
	return ingest.CheckRoots(cfg.IngestRoots, cfg.DataDir)
}

func sourcesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "sources", Short: "Manage the directories of scheduler accounting logs that `dw ingest run` reads"}

	add := &cobra.Command{Use: "add", Short: "Add an ingest source", Args: cobra.NoArgs,
		Long: `Add an ingest source: the files of --dir matching --glob, in one log format, for one cluster.
Formats: slurm-sacct (sacct --parsable2 / -p dumps, with their header line), slurm-jobcomp (the
jobcomp/filetxt log) and pbs (PBS/Torque server_priv/accounting files). Times without an offset
are read in --timezone. Files may be gzip-compressed.`}
	cfgA := cliDefaults()
	fA := dbFlags(add, &cfgA)
	ingestRootFlag(add, &cfgA.IngestRoots)
	var in accounting.SourceInput
	var disabled bool
	add.Flags().StringVar(&in.Name, "name", "", "source name (required)")
	add.Flags().StringVar(&in.Dir, "dir", "", "directory of the log files (required)")
	add.Flags().StringVar(&in.Format, "format", "", ingest.FormatNames+" (required)")
	add.Flags().StringVar(&in.Cluster, "cluster", "", "cluster name stored with every job, whatever cluster its file names (required)")
	add.Flags().StringVar(&in.Glob, "glob", "*", "which files of --dir to read")
	add.Flags().DurationVar(&in.Interval, "interval", 30*time.Second, "how often a long-running ingest scans the source")
	add.Flags().StringVar(&in.Timezone, "timezone", "UTC", "time zone the scheduler printed its times in")
	add.Flags().BoolVar(&disabled, "disabled", false, "add the source without reading it yet")
	add.Flags().StringSliceVar(&in.Columns, "columns", nil, "slurm-sacct only: the columns of header-less files (sacct -n -P), comma-separated, e.g. JobID,User,Account,State,Submit,Start,End,ElapsedRaw,AllocNodes,AllocTRES")
	add.RunE = func(cmd *cobra.Command, _ []string) error {
		in.Enabled = !disabled
		if in.Dir != "" {
			// A relative --dir is relative to where the command runs.
			if abs, err := filepath.Abs(in.Dir); err == nil {
				in.Dir = abs
			}
		}
		if err := checkIngestRoots(cfgA); err != nil {
			return err
		}
		// Checked before the database is opened; a refusal by the roots is audited, so it
		// goes on to the service, which checks again and audits it.
		if _, err := checker(cfgA.IngestRoots).CheckSource(in); err != nil && !ingest.IsRefused(err) {
			return flagged(err, nil)
		}
		return withDB(cmd, cfgA, fA, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			out, err := accountingService(db, cfgA.IngestRoots).AddSource(ctx, cliActor, in)
			if err != nil {
				return flagged(err, nil)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added source %s: %s/%s (%s, cluster %s, every %s, %s)\n",
				out.Name, out.Dir, out.Glob, out.Format, out.Cluster, out.Interval, out.Timezone)
			return nil
		})
	}

	list := &cobra.Command{Use: "list", Short: "List ingest sources", Args: cobra.NoArgs}
	cfgL := cliDefaults()
	fL := dbFlags(list, &cfgL)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return withDB(cmd, cfgL, fL, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			srcs, err := allPages(func(p accounting.PageRequest) ([]accounting.Source, string, error) {
				return accountingService(db, nil).Sources(ctx, p)
			})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tFORMAT\tCLUSTER\tDIR\tGLOB\tINTERVAL\tTIMEZONE\tENABLED")
			for _, s := range srcs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%t\n", s.Name, s.Format, s.Cluster, s.Dir, s.Glob, s.Interval, s.Timezone, s.Enabled)
			}
			return tw.Flush()
		})
	}

	remove := &cobra.Command{Use: "remove NAME", Short: "Remove an ingest source (the usage it read is kept)", Args: cobra.ExactArgs(1)}
	cfgR := cliDefaults()
	fR := dbFlags(remove, &cfgR)
	remove.RunE = func(cmd *cobra.Command, args []string) error {
		return withDB(cmd, cfgR, fR, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			src, err := db.Store.SourceByName(ctx, args[0])
			if err == nil {
				err = accountingService(db, nil).RemoveSource(ctx, cliActor, src.ID)
			}
			if err != nil {
				if dw.KindOf(err) != dw.KindNotFound {
					return err
				}
				return fmt.Errorf("no source %q (see `dw sources list`)", args[0])
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed source %s\n", args[0])
			return nil
		})
	}
	cmd.AddCommand(add, list, remove)
	return cmd
}

func ingestCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "ingest", Short: "Read scheduler accounting logs into usage records"}

	run := &cobra.Command{Use: "run", Short: "Read the new content of every enabled source (or of --source)", Args: cobra.NoArgs,
		Long: `Read the new content of every enabled source, or of --source (enabled or not), and print a
report per source. Unchanged files are skipped without being read, renamed or copied files are
recognised by their checksum, grown files are read from where the last run stopped, and a job
seen in several files is stored once. The run happens in this process and returns when done.
Afterwards the usage charges it stored (and any others still pending) are posted to their
wallets, and the quota thresholds the new usage crossed are printed.`}
	cfgR := cliDefaults()
	fR := dbFlags(run, &cfgR)
	ingestRootFlag(run, &cfgR.IngestRoots)
	var source string
	var wait bool
	run.Flags().StringVar(&source, "source", "", "only this source")
	run.Flags().BoolVar(&wait, "wait", false, "when a node is scanning a source right now, wait for it and scan after it (default: skip that source)")
	run.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkIngestRoots(cfgR); err != nil {
			return err
		}
		return withDB(cmd, cfgR, fR, func(ctx context.Context, db *node.Database, log *slog.Logger) error {
			var srcs []persistence.IngestSource
			if source != "" {
				s, err := db.Store.SourceByName(ctx, source)
				if err != nil {
					if dw.KindOf(err) != dw.KindNotFound {
						return err
					}
					return fmt.Errorf("no source %q (see `dw sources list`)", source)
				}
				srcs = append(srcs, s)
			} else {
				all, err := db.Store.Sources(ctx)
				if err != nil {
					return err
				}
				for _, s := range all {
					if s.Enabled {
						srcs = append(srcs, s)
					}
				}
				if len(srcs) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "no enabled sources (add one with `dw sources add`)")
					return nil
				}
			}
			var events []persistence.QuotaEvent
			scan := func() error {
				var refused []error // a source refused by the roots does not stop the others
				for _, s := range srcs {
					// One scan of a source at a time, cluster-wide: the nodes' scheduled scans
					// take the same lock.
					var rep ingest.Report
					for {
						ran, err := db.Store.WithSourceLock(ctx, s.ID, func() error {
							var err error
							rep, err = ingest.Run(ctx, db.Store, s, cfgR.IngestRoots, time.Now())
							return err
						})
						events = append(events, rep.QuotaEvents...)
						if ingest.IsRefused(err) {
							if rerr := ingest.RecordRefusal(ctx, db.Store, s, cliAudit(), err, time.Now()); rerr != nil {
								return rerr
							}
							fmt.Fprintf(cmd.OutOrStdout(), "%s: refused: %s\n", s.Name, dw.MessageOf(err))
							refused = append(refused, fmt.Errorf("source %s: %w", s.Name, err))
							break
						}
						if err != nil {
							return fmt.Errorf("source %s: %w (report so far: %s)", s.Name, err, rep)
						}
						if ran {
							fmt.Fprintln(cmd.OutOrStdout(), rep)
							break
						}
						if !wait {
							fmt.Fprintf(cmd.OutOrStdout(), "%s: a scan is running on a node right now; skipped (use --wait to wait for it)\n", s.Name)
							break
						}
						select {
						case <-ctx.Done():
							return ctx.Err()
						case <-time.After(500 * time.Millisecond):
						}
					}
				}
				return errors.Join(refused...)
			}
			scanErr := scan()
			printQuotaEvents(ctx, cmd.OutOrStdout(), newWalletNames(db.Store), events)
			if ctx.Err() != nil {
				return scanErr
			}
			// What a failed scan stored before it failed is charged too.
			postErr := postCharges(ctx, db, log, cmd.OutOrStdout())
			if scanErr != nil {
				if postErr != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "dw:", describe(postErr))
				}
				return scanErr
			}
			return postErr
		})
	}

	errs := &cobra.Command{Use: "errors", Short: "Show the lines ingest could not read, newest first", Args: cobra.NoArgs}
	cfgE := cliDefaults()
	fE := dbFlags(errs, &cfgE)
	var errSource string
	var limit int
	errs.Flags().StringVar(&errSource, "source", "", "only this source")
	errs.Flags().IntVar(&limit, "limit", accounting.PageIngestErrors.Default, pageHelp(accounting.PageIngestErrors))
	errs.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkPage(limit, accounting.PageIngestErrors); err != nil {
			return err
		}
		return withDB(cmd, cfgE, fE, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			if errSource != "" {
				if _, err := db.Store.SourceByName(ctx, errSource); err != nil {
					if dw.KindOf(err) != dw.KindNotFound {
						return err
					}
					return fmt.Errorf("no source %q (see `dw sources list`)", errSource)
				}
			}
			list, _, err := accountingService(db, nil).IngestErrors(ctx, errSource, accounting.PageRequest{Limit: limit})
			if err != nil {
				return err
			}
			if len(list) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no ingest errors")
				return nil
			}
			for _, e := range list {
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %s  %s:%d: %s\n", e.CreatedAt.Format(time.RFC3339), e.Source, e.File, e.Line, accounting.Excerpt(e.Message))
			}
			return nil
		})
	}
	cmd.AddCommand(run, errs)
	return cmd
}
