package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/divinewhispers/dw/fortune"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence"
)

func poemsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "poems", Short: "Import, export and list fortune poem sets"}

	imp := &cobra.Command{Use: "import FILE", Short: "Import a poem set from JSON or CSV (validated: all or nothing)", Args: cobra.ExactArgs(1),
		Long: `Import a poem set from FILE (.json, or .csv with a header row; see fortune/testdata/example.csv).
The whole file is validated first; any problem is reported with its line and field, and nothing is
imported. A set with the same slug is replaced.`}
	cfgI := cliDefaults()
	fI := dbFlags(imp, &cfgI)
	var importFormat string
	imp.Flags().StringVar(&importFormat, "format", "", "json or csv (default: from the file name)")
	imp.RunE = func(cmd *cobra.Command, args []string) error {
		set, err := readSet(args[0], importFormat)
		if err != nil {
			return err
		}
		return withDB(cmd, cfgI, fI, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			if err := db.Store.SaveSet(ctx, set, false, persistence.AuditEntry{Action: "poem_set.import"}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %s (%s): %d poems\n", set.Slug, set.Name, len(set.Poems))
			return nil
		})
	}

	exp := &cobra.Command{Use: "export [SET]", Short: "Write a poem set as JSON or CSV to standard output (or --output)", Args: cobra.MaximumNArgs(1),
		Long: "Write a poem set as JSON or CSV. SET may be left out when there is only one set (as on a new system)."}
	cfgE := cliDefaults()
	fE := dbFlags(exp, &cfgE)
	var out, format string
	exp.Flags().StringVar(&format, "format", "json", "json or csv")
	exp.Flags().StringVarP(&out, "output", "o", "", "file to write (default: standard output)")
	exp.RunE = func(cmd *cobra.Command, args []string) error {
		if format != "json" && format != "csv" {
			return fmt.Errorf("--format must be json or csv, not %q", format)
		}
		return withDB(cmd, cfgE, fE, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			slug, err := oneSet(ctx, db.Store, args)
			if err != nil {
				return err
			}
			set, err := db.Store.Set(ctx, slug)
			if err != nil {
				return fmt.Errorf("no poem set %q (see `dw poems list`)", slug)
			}
			var w io.Writer = cmd.OutOrStdout()
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			if format == "csv" {
				return fortune.WriteCSV(w, set)
			}
			return fortune.WriteJSON(w, set)
		})
	}

	list := &cobra.Command{Use: "list", Short: "List poem sets", Args: cobra.NoArgs}
	cfgL := cliDefaults()
	fL := dbFlags(list, &cfgL)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		return withDB(cmd, cfgL, fL, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			sets, err := db.Store.ListSets(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SLUG\tNAME\tLANGUAGE\tPOEMS\tBUNDLED")
			for _, s := range sets {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%v\n", s.Slug, s.Name, s.Language, s.Poems, s.Bundled)
			}
			return tw.Flush()
		})
	}
	cmd.AddCommand(imp, exp, list)
	return cmd
}

// oneSet is the set named by args, or the only set there is.
func oneSet(ctx context.Context, store *persistence.Store, args []string) (string, error) {
	if len(args) == 1 {
		return args[0], nil
	}
	sets, err := store.ListSets(ctx)
	if err != nil {
		return "", err
	}
	switch len(sets) {
	case 0:
		return "", fmt.Errorf("there are no poem sets yet: `dw serve` stores the bundled one on its first start, or use `dw poems import FILE`")
	case 1:
		return sets[0].Slug, nil
	}
	var slugs []string
	for _, s := range sets {
		slugs = append(slugs, s.Slug)
	}
	return "", fmt.Errorf("there are %d poem sets (%s): name one, e.g. `dw poems export %s`", len(sets), strings.Join(slugs, ", "), slugs[0])
}

// readSet parses and validates a poem set file.
func readSet(path, format string) (*fortune.Set, error) {
	if format == "" {
		format = strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var set *fortune.Set
	switch format {
	case "json":
		set, err = fortune.ParseJSON(f)
	case "csv":
		set, err = fortune.ParseCSV(f)
	default:
		return nil, fmt.Errorf("%s: cannot tell the format; name the file .json or .csv, or pass --format", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: nothing was imported:\n%v", path, err)
	}
	if err := set.Validate(); err != nil {
		return nil, fmt.Errorf("%s: nothing was imported:\n%v", path, err)
	}
	return set, nil
}
