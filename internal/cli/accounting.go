package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/actors"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/report"
)

// cliAudit is the audit entry of an operator at the console: no actor, "cli" as the source.
func cliAudit() persistence.AuditEntry { return persistence.AuditEntry{IP: "cli"} }

// invalid joins the problems found in a command's input into one invalid error, or nil.
func invalid(errs []error) error {
	if err := errors.Join(errs...); err != nil {
		return dw.Errorf(dw.KindInvalid, "%s", err.Error())
	}
	return nil
}

// parseTime reads a date flag: YYYY-MM-DD (the start of that UTC day) or RFC 3339.
func parseTime(flag, v string) (time.Time, error) {
	if t, ok := accounting.ParseTime(v); ok {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s %q is not a date: give YYYY-MM-DD (a UTC day) or RFC 3339, e.g. 2024-03-01 or 2024-03-01T08:00:00Z", flag, v)
}

// checkID reports an argument that is not an id of what, as list shows them.
func checkID(id, what, list string) error {
	if _, err := uuid.Parse(id); err != nil {
		return dw.Errorf(dw.KindInvalid, "%q is not a %s id (a UUID, as `%s` shows)", id, what, list)
	}
	return nil
}

// notFound turns a not_found error into a message that says where to look; other errors pass.
func notFound(err error, format string, args ...any) error {
	if dw.KindOf(err) == dw.KindNotFound {
		return dw.Errorf(dw.KindNotFound, format, args...)
	}
	return err
}

// checkListFormat reports a --format other than table or json.
func checkListFormat(f string) error {
	if f != "table" && f != "json" {
		return fmt.Errorf("--format must be table or json, not %q, e.g. --format json", f)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 2, 4, 2, ' ', 0) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orAny(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// resolveWallet finds the wallet of flag by id or shared-wallet name.
func resolveWallet(ctx context.Context, store *persistence.Store, flag, ref string) (persistence.WalletRef, error) {
	w, err := store.WalletByRef(ctx, ref)
	switch dw.KindOf(err) {
	case "":
		return w, nil
	case dw.KindNotFound:
		return w, dw.Errorf(dw.KindNotFound, "%s %q: no wallet has this id or shared-wallet name "+
			"(create one with `dw wallet create --name %s`, or give a wallet id from `dw user list`)", flag, ref, ref)
	case dw.KindInvalid:
		return w, dw.Errorf(dw.KindInvalid, "%s %q: several shared wallets have this name: give the wallet id", flag, ref)
	}
	return w, err
}

// walletNames labels wallet ids for output, looking each up once.
type walletNames struct {
	store *persistence.Store
	seen  map[string]string
}

func newWalletNames(store *persistence.Store) *walletNames {
	return &walletNames{store: store, seen: map[string]string{}}
}

// name is the wallet's name ("" for a personal wallet or an unknown id).
func (n *walletNames) name(ctx context.Context, id string) string {
	if id == "" {
		return ""
	}
	if s, ok := n.seen[id]; ok {
		return s
	}
	w, _ := n.store.WalletByRef(ctx, id)
	n.seen[id] = w.Name
	return w.Name
}

// label is "name (id)" for a shared wallet, the id otherwise.
func (n *walletNames) label(ctx context.Context, id string) string {
	if name := n.name(ctx, id); name != "" {
		return name + " (" + id + ")"
	}
	return id
}

// postCharges posts every pending usage charge to its wallet with wallet grains run in this
// process. That is safe beside running nodes: a charge is posted with its idempotency key, so it
// moves points once whoever posts it.
func postCharges(ctx context.Context, db *node.Database, log *slog.Logger, w io.Writer) error {
	pending, err := db.Store.PendingCharges(ctx, 1)
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		fmt.Fprintln(w, "posted 0 charges (none pending)")
		return nil
	}
	wallets, stop := node.LocalWallets(db.Store, log)
	defer stop()
	n, err := (&actors.Charger{Store: db.Store, Wallets: wallets}).Post(ctx)
	fmt.Fprintf(w, "posted %d charges to their wallets\n", n)
	if err != nil {
		return fmt.Errorf("posting usage charges: %s (the others stay pending: `dw charges post` or a running node posts them)", describe(err))
	}
	return nil
}

// printQuotaEvents writes one line per quota threshold crossed.
func printQuotaEvents(ctx context.Context, w io.Writer, names *walletNames, evs []persistence.QuotaEvent) {
	for _, e := range evs {
		fmt.Fprintf(w, "quota threshold: wallet %s, %s: %s reached %d%% (%s of %s)\n", names.label(ctx, e.WalletID),
			periodLabel(e.Period, e.PeriodStart), e.Metric, e.Threshold, formatFloat(e.Used), formatFloat(e.Quota))
	}
}

func periodLabel(period string, start time.Time) string {
	if period == accounting.PeriodTotal {
		return "total"
	}
	return period + " from " + start.Format(time.DateOnly)
}

// walletCreateCmd is `dw wallet create`.
func walletCreateCmd() *cobra.Command {
	create := &cobra.Command{Use: "create", Short: "Create a shared wallet, the wallet a group or project is charged to", Args: cobra.NoArgs,
		Long: `Create a shared wallet and print its id. Commands that take a wallet accept its id or its
name; names are unique among shared wallets (case-insensitively).`}
	cfg := cliDefaults()
	f := dbFlags(create, &cfg)
	var name string
	create.Flags().StringVar(&name, "name", "", "wallet name, 1 to 200 characters (required), e.g. physics")
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		name = strings.TrimSpace(name)
		if err := accounting.CheckWalletName(name); err != nil {
			return flagged(err, map[string]string{"name": "--name physics"})
		}
		return withDB(cmd, cfg, f, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			w, err := accountingService(db, nil).CreateSharedWallet(ctx, cliActor, name)
			if dw.KindOf(err) == dw.KindConflict {
				return dw.Errorf(dw.KindConflict, "--name %q: a shared wallet of that name exists (its id: `dw wallet show %s`)", name, name)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created shared wallet %s: %s\n", w.Name, w.ID)
			return nil
		})
	}
	return create
}

func mappingsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "mappings", Short: "Rules that say which wallet pays for which cluster usage"}

	add := &cobra.Command{Use: "add", Short: "Add a mapping rule and charge the unassigned usage it covers", Args: cobra.NoArgs,
		Long: `Add a rule: jobs of --user, --account and/or --group (on --cluster, or on every cluster) are
charged to --wallet, or with --exclude tracked and never charged. The most specific rule wins
(a user beats an account, an account a group; --cluster breaks ties), so "--group physics" and
"--group physics --user alice" send alice's jobs to her rule and the rest of physics to the
group's. Usage stored earlier without a rule is given to the new rule and charged now; usage
already charged keeps its wallet.`}
	cfgA := cliDefaults()
	fA := dbFlags(add, &cfgA)
	var in accounting.MappingInput
	add.Flags().StringVar(&in.User, "user", "", "cluster login to match, e.g. alice")
	add.Flags().StringVar(&in.Account, "account", "", "scheduler account to match, e.g. proj1")
	add.Flags().StringVar(&in.Group, "group", "", "Unix group to match, e.g. physics")
	add.Flags().StringVar(&in.Cluster, "cluster", "", "only jobs of this cluster (default: every cluster)")
	add.Flags().StringVar(&in.Wallet, "wallet", "", "wallet id or shared-wallet name to charge")
	add.Flags().BoolVar(&in.Exclude, "exclude", false, "track the matching usage, never charge it")
	add.Flags().StringVar(&in.Note, "note", "", "free text kept with the rule")
	add.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := in.Validate(); err != nil {
			return flagged(err, map[string]string{"user": "--group physics", "wallet": "--wallet physics"})
		}
		return withDB(cmd, cfgA, fA, func(ctx context.Context, db *node.Database, log *slog.Logger) error {
			out := cmd.OutOrStdout()
			names := newWalletNames(db.Store)
			if in.Wallet != "" {
				w, err := resolveWallet(ctx, db.Store, "--wallet", in.Wallet)
				if err != nil {
					return err
				}
				in.Wallet = w.ID
			}
			added, re, err := accountingService(db, nil).AddMapping(ctx, cliActor, in)
			if dw.KindOf(err) == dw.KindConflict {
				return dw.Errorf(dw.KindConflict, "a mapping for %s exists: remove it first with `dw mappings remove ID` (ids: `dw mappings list`)",
					matchText(accounting.Mapping{Cluster: in.Cluster, User: in.User, Account: in.Account, Group: in.Group}))
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "added mapping %s: %s → %s\n", added.ID, matchText(added), targetText(ctx, names, added.WalletID))
			fmt.Fprintf(out, "it took over %d unassigned jobs: %d charges, %d points\n", re.Records, re.Charges, re.Points)
			printQuotaEvents(ctx, out, names, re.Events)
			return postCharges(ctx, db, log, out)
		})
	}

	list := listCmd("list", "List the mapping rules, oldest first", nil, nil, func(ctx context.Context, db *node.Database, format string, out io.Writer) error {
		maps, err := allPages(func(p accounting.PageRequest) ([]accounting.Mapping, string, error) {
			return accountingService(db, nil).Mappings(ctx, p)
		})
		if err != nil {
			return err
		}
		names := newWalletNames(db.Store)
		if format == "json" {
			type row struct {
				accounting.Mapping
				WalletName string `json:"wallet_name,omitempty"`
			}
			rows := make([]row, len(maps))
			for i, m := range maps {
				rows[i] = row{m, names.name(ctx, m.WalletID)}
			}
			return writeJSON(out, rows)
		}
		tw := newTable(out)
		fmt.Fprintln(tw, "ID\tCLUSTER\tUSER\tACCOUNT\tGROUP\tWALLET\tNOTE\tCREATED")
		for _, m := range maps {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, orAny(m.Cluster), orAny(m.User), orAny(m.Account), orAny(m.Group),
				targetText(ctx, names, m.WalletID), dash(m.Note), m.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	})

	remove := removeCmd("mapping", "Remove a mapping rule (usage charged through it stays charged)", "dw mappings list",
		func(ctx context.Context, svc *accounting.Service, id string) error {
			return svc.RemoveMapping(ctx, cliActor, id)
		},
		": usage charged through it stays charged; later usage is resolved without it")
	cmd.AddCommand(add, list, remove)
	return cmd
}

// listCmd is a list command with --format table|json and the database flags: flags adds its
// own flags, check reports their bad values (nil entries are fine), run writes the list.
func listCmd(use, short string, flags func(*pflag.FlagSet), check func() []error,
	run func(ctx context.Context, db *node.Database, format string, out io.Writer) error) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
	cfg := cliDefaults()
	f := dbFlags(cmd, &cfg)
	if flags != nil {
		flags(cmd.Flags())
	}
	var format string
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		errs := []error{checkListFormat(format)}
		if check != nil {
			errs = append(errs, check()...)
		}
		if err := invalid(errs); err != nil {
			return err
		}
		return withDB(cmd, cfg, f, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			return run(ctx, db, format, cmd.OutOrStdout())
		})
	}
	return cmd
}

// pageHelp is the help of a list's --limit: the list's page rule (accounting.Page).
func pageHelp(p accounting.Page) string {
	return "at most this many (1 to " + strconv.Itoa(p.Max) + ")"
}

// allPages reads every page of a list (the configuration lists: sources, mappings, rates,
// quotas, which the commands show whole).
func allPages[T any](list func(accounting.PageRequest) ([]T, string, error)) ([]T, error) {
	var all []T
	p := accounting.PageRequest{}
	for {
		items, next, err := list(p)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		p.Cursor = next
	}
}

// checkPage reports a --limit outside the list's page.
func checkPage(limit int, p accounting.Page) error { return checkLimit(limit, p.Max, p.Default) }

// checkLimit reports a --limit outside 1..most.
func checkLimit(limit, most, example int) error {
	if limit < 1 || limit > most {
		return fmt.Errorf("--limit %d must be between 1 and %d, e.g. --limit %d", limit, most, example)
	}
	return nil
}

// removeCmd is `dw <what>s remove ID`: it checks the id, removes the row and says so (with
// note after the id).
func removeCmd(what, short, list string, remove func(ctx context.Context, svc *accounting.Service, id string) error, note string) *cobra.Command {
	cmd := &cobra.Command{Use: "remove ID", Short: short, Args: cobra.ExactArgs(1)}
	cfg := cliDefaults()
	f := dbFlags(cmd, &cfg)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkID(args[0], what, list); err != nil {
			return err
		}
		return withDB(cmd, cfg, f, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			if err := remove(ctx, accountingService(db, nil), args[0]); err != nil {
				return notFound(err, "no %s %s (see `%s`)", what, args[0], list)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s %s%s\n", what, args[0], note)
			return nil
		})
	}
	return cmd
}

// matchText describes what a rule matches: "user=alice group=physics on cluster hpc1".
func matchText(m accounting.Mapping) string {
	var parts []string
	for _, p := range [][2]string{{"user", m.User}, {"account", m.Account}, {"group", m.Group}} {
		if p[1] != "" {
			parts = append(parts, p[0]+"="+p[1])
		}
	}
	where := " on every cluster"
	if m.Cluster != "" {
		where = " on cluster " + m.Cluster
	}
	return strings.Join(parts, " ") + where
}

func targetText(ctx context.Context, names *walletNames, walletID string) string {
	if walletID == "" {
		return "excluded (tracked, never charged)"
	}
	return "wallet " + names.label(ctx, walletID)
}

func ratesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "rates", Short: "Prices of compute usage in points"}

	add := &cobra.Command{Use: "add", Short: "Add a rate: points per CPU node-hour and per GPU core-hour", Args: cobra.NoArgs,
		Long: `Add a rate for --cluster and --partition (each empty = any), in effect for jobs that ended at
or after --from. A job is priced by the most specific rate in effect when it ended (cluster and
partition, then partition, then cluster, then any); a job with no rate is tracked, not charged.
A rate prices the jobs stored from now on; jobs already stored keep their price (a job is charged
once). Prices are points with at most 3 decimals.`}
	cfgA := cliDefaults()
	fA := dbFlags(add, &cfgA)
	var in accounting.RateInput
	var nodePoints, gpuPoints, from string
	add.Flags().StringVar(&in.Cluster, "cluster", "", "only jobs of this cluster (default: any)")
	add.Flags().StringVar(&in.Partition, "partition", "", "only jobs of this partition (default: any)")
	add.Flags().StringVar(&nodePoints, "node-hour-points", "", "points per node-hour of a CPU job (required; 0 = free), e.g. 1.5")
	add.Flags().StringVar(&gpuPoints, "gpu-hour-points", "", "points per GPU core-hour of a GPU job (required; 0 = free), e.g. 2.25")
	add.Flags().StringVar(&from, "from", "1970-01-01", "in effect for jobs that ended from then on: YYYY-MM-DD (UTC) or RFC 3339")
	add.RunE = func(cmd *cobra.Command, _ []string) error {
		// The command asks for both prices (the API for one at least): a rate given at the
		// console says what each kind of job costs.
		var errs []error
		for _, p := range []struct {
			flag string
			v    string
			dst  **string
		}{{"--node-hour-points", nodePoints, &in.NodeHourPoints}, {"--gpu-hour-points", gpuPoints, &in.GPUHourPoints}} {
			if !cmd.Flags().Changed(p.flag[2:]) {
				errs = append(errs, fmt.Errorf("%s is required: points per hour with at most 3 decimals (0 = free), e.g. %s 1.5", p.flag, p.flag))
				continue
			}
			*p.dst = &p.v
		}
		t, err := parseTime("--from", from)
		if err != nil {
			errs = append(errs, err)
		}
		in.EffectiveFrom = t.Format(time.RFC3339Nano)
		if err := in.Validate(); err != nil {
			errs = append(errs, errors.New(dw.MessageOf(flagged(err, nil))))
		}
		if err := invalid(errs); err != nil {
			return err
		}
		return withDB(cmd, cfgA, fA, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			added, err := accountingService(db, nil).AddRate(ctx, cliActor, in)
			if err != nil {
				if dw.KindOf(err) == dw.KindConflict {
					return dw.Errorf(dw.KindConflict, "a rate for cluster %s, partition %s from %s exists: "+
						"give another --from, or `dw rates remove ID` it first (see `dw rates list`)", orAny(in.Cluster), orAny(in.Partition), from)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added rate %s: cluster %s, partition %s: %s points per node-hour, %s per GPU core-hour, for jobs that ended from %s\n",
				added.ID, orAny(added.Cluster), orAny(added.Partition), accounting.FormatMilli(added.NodeHourMillipoints),
				accounting.FormatMilli(added.GPUHourMillipoints), added.EffectiveFrom.Format(time.RFC3339))
			return nil
		})
	}

	list := listCmd("list", "List the rates by cluster, partition and date", nil, nil, func(ctx context.Context, db *node.Database, format string, out io.Writer) error {
		rates, err := allPages(func(p accounting.PageRequest) ([]accounting.Rate, string, error) {
			return accountingService(db, nil).Rates(ctx, p)
		})
		if err != nil {
			return err
		}
		if format == "json" {
			type row struct {
				accounting.Rate
				NodeHourPoints string `json:"node_hour_points"`
				GPUHourPoints  string `json:"gpu_hour_points"`
			}
			rows := make([]row, len(rates))
			for i, r := range rates {
				rows[i] = row{r, accounting.FormatMilli(r.NodeHourMillipoints), accounting.FormatMilli(r.GPUHourMillipoints)}
			}
			return writeJSON(out, rows)
		}
		tw := newTable(out)
		fmt.Fprintln(tw, "ID\tCLUSTER\tPARTITION\tPOINTS/NODE-HOUR\tPOINTS/GPU-CORE-HOUR\tFROM")
		for _, r := range rates {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, orAny(r.Cluster), orAny(r.Partition), accounting.FormatMilli(r.NodeHourMillipoints),
				accounting.FormatMilli(r.GPUHourMillipoints), r.EffectiveFrom.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	})

	remove := removeCmd("rate", "Remove a rate (jobs it priced keep their price)", "dw rates list",
		func(ctx context.Context, svc *accounting.Service, id string) error {
			return svc.RemoveRate(ctx, cliActor, id)
		}, "")
	cmd.AddCommand(add, list, remove)
	return cmd
}

func quotasCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "quotas", Short: "Usage limits of wallets per period, and the thresholds crossed"}

	set := &cobra.Command{Use: "set", Short: "Set (create or replace) a wallet's quota for a period", Args: cobra.NoArgs,
		Long: `Set a wallet's quota for a period (month, quarter, year: UTC calendar periods; total: all
time) in CPU node-hours and/or GPU core-hours. When new usage takes the wallet to 80% and to
100% of a quota, the crossing is recorded once per period (see ` + "`dw quotas events`" + `). Usage is
never refused: a quota warns.`}
	cfgS := cliDefaults()
	fS := dbFlags(set, &cfgS)
	var wallet, period, nodeHours, gpuHours string
	set.Flags().StringVar(&wallet, "wallet", "", "wallet id or shared-wallet name (required)")
	set.Flags().StringVar(&period, "period", "", accounting.Periods+" (required)")
	set.Flags().StringVar(&nodeHours, "node-hours", "0", "CPU node-hours per period (0 = no limit), e.g. 1000")
	set.Flags().StringVar(&gpuHours, "gpu-core-hours", "0", "GPU core-hours per period (0 = no limit), e.g. 250.5")
	set.RunE = func(cmd *cobra.Command, _ []string) error {
		in := accounting.QuotaInput{Wallet: wallet, Period: period, NodeHours: &nodeHours, GPUCoreHours: &gpuHours}
		if err := in.Validate(); err != nil {
			return flagged(err, map[string]string{"wallet": "--wallet physics", "period": "--period month", "node_hours": "--node-hours 1000"})
		}
		return withDB(cmd, cfgS, fS, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			w, err := resolveWallet(ctx, db.Store, "--wallet", wallet)
			if err != nil {
				return err
			}
			in.Wallet = w.ID
			st, err := accountingService(db, nil).SetQuota(ctx, cliActor, in)
			if err != nil {
				return err
			}
			names := newWalletNames(db.Store)
			fmt.Fprintf(cmd.OutOrStdout(), "set quota %s: wallet %s, per %s: %s, %s\n", st.ID, names.label(ctx, st.WalletID), st.Period,
				limitText(st.NodeMilliHours, "node-hours"), limitText(st.GPUMilliHours, "GPU core-hours"))
			v := newQuotaView(st, "")
			fmt.Fprintf(cmd.OutOrStdout(), "used in the current period (%s): %s node-hours, %s GPU core-hours\n",
				v.span(), v.NodeHours.text(), v.GPUCoreHours.text())
			return nil
		})
	}

	var listWallet string
	list := listCmd("list", "List quotas with the usage of their current period", func(fs *pflag.FlagSet) {
		fs.StringVar(&listWallet, "wallet", "", "only this wallet (id or shared-wallet name)")
	}, nil, func(ctx context.Context, db *node.Database, format string, out io.Writer) error {
		walletID, err := optionalWallet(ctx, db.Store, listWallet)
		if err != nil {
			return err
		}
		all, err := allPages(func(p accounting.PageRequest) ([]accounting.QuotaStatus, string, error) {
			return accountingService(db, nil).Quotas(ctx, walletID, p)
		})
		if err != nil {
			return err
		}
		names := newWalletNames(db.Store)
		views := make([]quotaView, len(all))
		for i, st := range all {
			views[i] = newQuotaView(st, names.name(ctx, st.WalletID))
		}
		if format == "json" {
			return writeJSON(out, views)
		}
		tw := newTable(out)
		fmt.Fprintln(tw, "ID\tWALLET\tPERIOD\tCURRENT PERIOD\tNODE-HOURS USED/QUOTA\tGPU CORE-HOURS USED/QUOTA")
		for _, v := range views {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, names.label(ctx, v.WalletID), v.Period, v.span(), v.NodeHours.text(), v.GPUCoreHours.text())
		}
		return tw.Flush()
	})

	remove := removeCmd("quota", "Remove a quota and its recorded threshold events", "dw quotas list",
		func(ctx context.Context, svc *accounting.Service, id string) error {
			return svc.RemoveQuota(ctx, cliActor, id)
		}, "")

	var evWallet string
	var limit int
	events := listCmd("events", "List the quota thresholds crossed, newest first", func(fs *pflag.FlagSet) {
		fs.StringVar(&evWallet, "wallet", "", "only this wallet (id or shared-wallet name)")
		fs.IntVar(&limit, "limit", accounting.PageQuotaEvents.Default, pageHelp(accounting.PageQuotaEvents))
	}, func() []error {
		return []error{checkPage(limit, accounting.PageQuotaEvents)}
	}, func(ctx context.Context, db *node.Database, format string, out io.Writer) error {
		walletID, err := optionalWallet(ctx, db.Store, evWallet)
		if err != nil {
			return err
		}
		list, _, err := accountingService(db, nil).QuotaEvents(ctx, walletID, accounting.PageRequest{Limit: limit})
		if err != nil {
			return err
		}
		if format == "json" {
			if list == nil {
				list = []persistence.QuotaEvent{}
			}
			return writeJSON(out, list)
		}
		names := newWalletNames(db.Store)
		tw := newTable(out)
		fmt.Fprintln(tw, "WHEN\tWALLET\tPERIOD\tMETRIC\tTHRESHOLD\tUSED\tQUOTA")
		for _, e := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d%%\t%s\t%s\n", e.CreatedAt.UTC().Format(time.RFC3339), names.label(ctx, e.WalletID),
				periodLabel(e.Period, e.PeriodStart), e.Metric, e.Threshold, formatFloat(e.Used), formatFloat(e.Quota))
		}
		return tw.Flush()
	})
	cmd.AddCommand(set, list, remove, events)
	return cmd
}

// optionalWallet resolves an optional --wallet flag: "" stays "" (every wallet).
func optionalWallet(ctx context.Context, store *persistence.Store, ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	w, err := resolveWallet(ctx, store, "--wallet", ref)
	return w.ID, err
}

func limitText(milli int64, unit string) string {
	if milli == 0 {
		return "no " + unit + " limit"
	}
	return accounting.FormatMilli(milli) + " " + unit
}

// quotaView is a quota with the usage of its current period, as `dw quotas list` shows it.
type quotaView struct {
	ID           string     `json:"id"`
	WalletID     string     `json:"wallet_id"`
	WalletName   string     `json:"wallet_name,omitempty"`
	Period       string     `json:"period"`
	PeriodStart  *time.Time `json:"period_start,omitempty"` // none for the total period
	PeriodEnd    *time.Time `json:"period_end,omitempty"`
	NodeHours    quotaUse   `json:"node_hours"`
	GPUCoreHours quotaUse   `json:"gpu_core_hours"`
}

// quotaUse is the use of one metric; Quota 0 is no limit (and no Percent).
type quotaUse struct {
	Used    float64  `json:"used"`    // hours, rounded once to 3 decimals
	Seconds int64    `json:"seconds"` // used, exact
	Quota   float64  `json:"quota"`
	Percent *float64 `json:"percent,omitempty"`
	tenths  int64    // percent × 10, rounded down: 79.99% is not yet 80%
}

func newQuotaView(st persistence.QuotaStatus, name string) quotaView {
	v := quotaView{ID: st.ID, WalletID: st.WalletID, WalletName: name, Period: st.Period, PeriodEnd: st.PeriodEnd,
		NodeHours: newQuotaUse(st.UsedNodeSeconds, st.NodeMilliHours), GPUCoreHours: newQuotaUse(st.UsedGPUSeconds, st.GPUMilliHours)}
	if st.Period != accounting.PeriodTotal {
		start := st.PeriodStart
		v.PeriodStart = &start
	}
	return v
}

// newQuotaUse is the use of exact seconds of a limit in milli-hours; the hours shown are the
// seconds rounded once to 3 decimals, the percent is exact (then truncated to tenths).
func newQuotaUse(usedSeconds, limit int64) quotaUse {
	u := quotaUse{Used: accounting.HoursNumber(usedSeconds), Seconds: usedSeconds, Quota: float64(limit) / 1000}
	if limit > 0 {
		// usedSeconds / 3600 / (limit / 1000) × 1000 tenths of a percent.
		u.tenths = new(big.Int).Quo(new(big.Int).Mul(big.NewInt(usedSeconds), big.NewInt(1_000_000)),
			new(big.Int).Mul(big.NewInt(limit), big.NewInt(3600))).Int64()
		p := float64(u.tenths) / 10
		u.Percent = &p
	}
	return u
}

func (v quotaView) span() string {
	if v.PeriodStart == nil || v.PeriodEnd == nil {
		return "all time"
	}
	return v.PeriodStart.Format(time.DateOnly) + " to " + v.PeriodEnd.Format(time.DateOnly)
}

// text is "7.5 / 5 (150%)", or "7.5 (no limit)".
func (u quotaUse) text() string {
	if u.Percent == nil {
		return accounting.FormatHours(u.Seconds) + " (no limit)"
	}
	pct := strconv.FormatInt(u.tenths/10, 10)
	if u.tenths%10 != 0 {
		pct += "." + strconv.FormatInt(u.tenths%10, 10)
	}
	return accounting.FormatHours(u.Seconds) + " / " + formatFloat(u.Quota) + " (" + pct + "%)"
}

// chargeHours shows a charge's hours with 3 decimals: its exact seconds rounded once, or the
// hours it kept when it was made before usage was kept in seconds (seconds nil).
func chargeHours(seconds *int64, hours float64) string {
	if seconds != nil {
		return accounting.FormatHours(*seconds)
	}
	return strconv.FormatFloat(hours, 'f', 3, 64)
}

// dateRange is the --from and --to of a report: UTC days, --to exclusive.
type dateRange struct {
	From, To string
	from, to time.Time
}

func (r *dateRange) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&r.From, "from", "1970-01-01", "first UTC day: YYYY-MM-DD or RFC 3339")
	cmd.Flags().StringVar(&r.To, "to", "", "UTC day after the last (exclusive): YYYY-MM-DD or RFC 3339 (default: tomorrow)")
}

// validate parses the range; the empty --to is tomorrow, so that today is in the report.
func (r *dateRange) validate(now time.Time) []error {
	var errs []error
	var err error
	if r.from, err = parseTime("--from", r.From); err != nil {
		errs = append(errs, err)
	}
	if r.To == "" {
		_, r.to = accounting.DefaultRange(now)
	} else if r.to, err = parseTime("--to", r.To); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 && !accounting.Day(r.from).Before(accounting.Day(r.to)) {
		errs = append(errs, fmt.Errorf("--from %s is not before --to %s: --to is the day after the last one reported, e.g. --from 2024-03-01 --to 2024-04-01 for March",
			accounting.Day(r.from).Format(time.DateOnly), accounting.Day(r.to).Format(time.DateOnly)))
	}
	return errs
}

func reportCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "Compute usage reports (table, CSV or JSON)"}

	overview := &cobra.Command{Use: "overview", Short: "Totals, the unassigned usage and the top wallets, users and partitions", Args: cobra.NoArgs,
		Long: `Totals of compute usage over UTC days [--from, --to): node-hours of CPU jobs, core-hours of
GPU jobs, jobs, priced points, the usage no mapping covers (unassigned), and the top --top
wallets, users and partitions by node-hours + core-hours. A job counts on the day it ended.`}
	cfgO := cliDefaults()
	fO := dbFlags(overview, &cfgO)
	var ovRange dateRange
	ovRange.bind(overview)
	var top int
	var ovFormat string
	overview.Flags().IntVar(&top, "top", accounting.PageTop.Default, "how many top wallets, users and partitions ("+strconv.Itoa(accounting.PageTop.Max)+" at most)")
	overview.Flags().StringVar(&ovFormat, "format", "table", report.Formats)
	overview.RunE = func(cmd *cobra.Command, _ []string) error {
		errs := ovRange.validate(time.Now())
		if top < 1 || top > accounting.PageTop.Max {
			errs = append(errs, fmt.Errorf("--top %d must be between 1 and %d, e.g. --top 10", top, accounting.PageTop.Max))
		}
		if err := report.CheckFormat(ovFormat); err != nil {
			errs = append(errs, formatError(err))
		}
		if err := invalid(errs); err != nil {
			return err
		}
		return withDB(cmd, cfgO, fO, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			ov, err := accountingService(db, nil).Overview(ctx, ovRange.from, ovRange.to, top)
			if err != nil {
				return err
			}
			return report.WriteOverview(cmd.OutOrStdout(), ovFormat, ov)
		})
	}

	usage := &cobra.Command{Use: "usage", Short: "Usage grouped by a dimension, per day, week or month", Args: cobra.NoArgs,
		Long: `Usage over UTC days [--from, --to) grouped by --group-by (wallet, user, group, account,
partition or cluster), one row per group or, with --bucket, per group and day, week (from Monday)
or month. Filters narrow the jobs; --wallet takes an id, a shared-wallet name, "unassigned" (jobs
no mapping covers) or "excluded". In the wallet column, "unassigned" is the usage no mapping
covers and "excluded" the usage an --exclude mapping keeps from being charged.`}
	cfgU := cliDefaults()
	fU := dbFlags(usage, &cfgU)
	var uRange dateRange
	uRange.bind(usage)
	var q persistence.UsageQuery
	var uFormat string
	dims := []string{"wallet", "user", "group", "account", "partition", "cluster"}
	filters := make([]string, len(dims))
	usage.Flags().StringVar(&q.GroupBy, "group-by", "", persistence.Dimensions+" (required)")
	usage.Flags().StringVar(&q.Bucket, "bucket", "", "day, week or month (default: one row per group over the whole range)")
	usage.Flags().IntVar(&q.Limit, "limit", 10000, "at most this many rows (1 to 100000)")
	usage.Flags().StringVar(&uFormat, "format", "table", report.Formats)
	for i, d := range dims {
		help := "only jobs of this " + d
		if d == "wallet" {
			help += ": an id, a shared-wallet name, unassigned or excluded"
		}
		usage.Flags().StringVar(&filters[i], d, "", help)
	}
	usage.RunE = func(cmd *cobra.Command, _ []string) error {
		errs := uRange.validate(time.Now())
		switch {
		case q.GroupBy == "":
			errs = append(errs, fmt.Errorf("--group-by is required: %s, e.g. --group-by wallet", persistence.Dimensions))
		case !persistence.IsDimension(q.GroupBy):
			errs = append(errs, fmt.Errorf("--group-by %q must be %s, e.g. --group-by wallet", q.GroupBy, persistence.Dimensions))
		}
		switch q.Bucket {
		case "", "day", "week", "month":
		default:
			errs = append(errs, fmt.Errorf("--bucket %q must be day, week or month, e.g. --bucket month", q.Bucket))
		}
		if q.Limit < 1 || q.Limit > 100_000 {
			errs = append(errs, fmt.Errorf("--limit %d must be between 1 and 100000, e.g. --limit 1000", q.Limit))
		}
		if err := report.CheckFormat(uFormat); err != nil {
			errs = append(errs, formatError(err))
		}
		if err := invalid(errs); err != nil {
			return err
		}
		q.From, q.To = uRange.from, uRange.to
		return withDB(cmd, cfgU, fU, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			for i, d := range dims {
				if !cmd.Flags().Changed(d) {
					continue
				}
				if q.Filters == nil {
					q.Filters = map[string]string{}
				}
				v := filters[i]
				q.Filters[d] = v
				if d != "wallet" {
					continue
				}
				w, err := resolveWallet(ctx, db.Store, "--wallet", v)
				switch {
				case err == nil:
					q.Filters[d] = w.ID
				case dw.KindOf(err) == dw.KindNotFound && strings.EqualFold(v, "unassigned"):
					q.Filters[d] = ""
				case dw.KindOf(err) == dw.KindNotFound && strings.EqualFold(v, "excluded"):
					q.Filters[d] = "excluded"
				default:
					return err
				}
			}
			rows, err := accountingService(db, nil).Usage(ctx, q)
			if err != nil {
				return err
			}
			return report.WriteUsage(cmd.OutOrStdout(), uFormat, q.GroupBy, rows)
		})
	}

	rebuild := &cobra.Command{Use: "rebuild", Short: "Recompute the report rollups from the usage records", Args: cobra.NoArgs,
		Long: `Recompute every rollup the reports read from the stored usage records: after restoring a
backup, or to check them. Ingest and rule changes wait until it is done.`}
	cfgR := cliDefaults()
	fR := dbFlags(rebuild, &cfgR)
	rebuild.RunE = func(cmd *cobra.Command, _ []string) error {
		return withDB(cmd, cfgR, fR, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			start := time.Now()
			if err := db.Store.RebuildRollups(ctx); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rebuilt the usage rollups from the usage records in %s\n", time.Since(start).Round(time.Millisecond))
			return nil
		})
	}
	cmd.AddCommand(overview, usage, rebuild)
	return cmd
}

// formatError adds an example to report.CheckFormat's message.
func formatError(err error) error {
	var e *dw.Error
	if errors.As(err, &e) {
		return errors.New(e.Message + ", e.g. --format csv")
	}
	return err
}

func chargesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "charges", Short: "Usage charges: what compute usage cost each wallet"}

	var wallet string
	var filter persistence.ChargeFilter
	list := listCmd("list", "List usage charges, newest first", func(fs *pflag.FlagSet) {
		fs.StringVar(&wallet, "wallet", "", "only this wallet (id or shared-wallet name)")
		fs.StringVar(&filter.Status, "status", "", "only pending, charged or unpaid charges")
		fs.IntVar(&filter.Limit, "limit", accounting.PageCharges.Default, pageHelp(accounting.PageCharges))
	}, func() []error {
		errs := []error{checkPage(filter.Limit, accounting.PageCharges)}
		if filter.Status != "" && !slices.Contains(accounting.ChargeStatuses, filter.Status) {
			errs = append(errs, fmt.Errorf("--status %q must be pending, charged or unpaid, e.g. --status unpaid", filter.Status))
		}
		return errs
	}, func(ctx context.Context, db *node.Database, format string, out io.Writer) error {
		var err error
		if filter.WalletID, err = optionalWallet(ctx, db.Store, wallet); err != nil {
			return err
		}
		charges, _, err := accountingService(db, nil).Charges(ctx, filter)
		if err != nil {
			return err
		}
		if format == "json" {
			if charges == nil {
				charges = []persistence.Charge{}
			}
			return writeJSON(out, charges)
		}
		names := newWalletNames(db.Store)
		tw := newTable(out)
		fmt.Fprintln(tw, "ID\tWALLET\tSTATUS\tPOINTS\tCHARGED\tJOBS\tNODE-HOURS\tGPU CORE-HOURS\tORIGIN\tCREATED")
		for _, c := range charges {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", c.ID, names.label(ctx, c.WalletID), c.Status, c.Points,
				c.ChargedPoints, c.Records, chargeHours(c.NodeSeconds, c.NodeHours), chargeHours(c.GPUSeconds, c.GPUCoreHours),
				c.Origin, c.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	})
	list.Long = `List usage charges: one per wallet per stored log file (or per late mapping), the sum of its
jobs' prices rounded to whole points. pending: not yet posted to the wallet; charged: posted in
full; unpaid: the wallet could pay only CHARGED of POINTS (balances never go negative).`

	post := &cobra.Command{Use: "post", Short: "Post the pending charges to their wallets now", Args: cobra.NoArgs,
		Long: `Post every pending charge to its wallet. Running nodes do it on their own; this is for a
system without one. Posting is idempotent: a charge moves points once, whoever posts it.`}
	cfgP := cliDefaults()
	fP := dbFlags(post, &cfgP)
	post.RunE = func(cmd *cobra.Command, _ []string) error {
		return withDB(cmd, cfgP, fP, func(ctx context.Context, db *node.Database, log *slog.Logger) error {
			return postCharges(ctx, db, log, cmd.OutOrStdout())
		})
	}
	cmd.AddCommand(list, post)
	return cmd
}

func clusterUsersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster-users", Short: "Login names seen in the clusters' logs, and their platform users"}

	var cluster, prefix string
	var limit int
	list := listCmd("list", "List cluster logins by cluster and login", func(fs *pflag.FlagSet) {
		fs.StringVar(&cluster, "cluster", "", "only this cluster")
		fs.StringVar(&prefix, "prefix", "", "only logins that start with this")
		fs.IntVar(&limit, "limit", accounting.PageClusterUsers.Default, pageHelp(accounting.PageClusterUsers))
	}, func() []error {
		return []error{checkPage(limit, accounting.PageClusterUsers)}
	}, func(ctx context.Context, db *node.Database, format string, out io.Writer) error {
		users, _, err := accountingService(db, nil).ClusterUsers(ctx, cluster, prefix, accounting.PageRequest{Limit: limit})
		if err != nil {
			return err
		}
		if format == "json" {
			if users == nil {
				users = []persistence.ClusterUser{}
			}
			return writeJSON(out, users)
		}
		tw := newTable(out)
		fmt.Fprintln(tw, "CLUSTER\tLOGIN\tUSER\tFIRST SEEN")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Cluster, u.Login, dash(u.Email), u.FirstSeen.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	})

	link := &cobra.Command{Use: "link", Short: "Link a cluster login to a platform user (or --unlink it)", Args: cobra.NoArgs}
	cfgK := cliDefaults()
	fK := dbFlags(link, &cfgK)
	var lCluster, login, email string
	var unlink bool
	link.Flags().StringVar(&lCluster, "cluster", "", "cluster of the login (required)")
	link.Flags().StringVar(&login, "login", "", "login name as the cluster's logs print it (required)")
	link.Flags().StringVar(&email, "email", "", "email of the platform user to link it to")
	link.Flags().BoolVar(&unlink, "unlink", false, "remove the login's link instead")
	link.RunE = func(cmd *cobra.Command, _ []string) error {
		var errs []error
		if lCluster == "" {
			errs = append(errs, errors.New("--cluster is required: the cluster the login is on, e.g. --cluster hpc1"))
		}
		if login == "" {
			errs = append(errs, errors.New("--login is required: the login name, e.g. --login alice"))
		}
		switch {
		case email != "" && unlink:
			errs = append(errs, errors.New("give --email or --unlink, not both"))
		case email == "" && !unlink:
			errs = append(errs, errors.New("give --email of the platform user (e.g. --email alice@example.org), or --unlink"))
		}
		if err := invalid(errs); err != nil {
			return err
		}
		return withDB(cmd, cfgK, fK, func(ctx context.Context, db *node.Database, _ *slog.Logger) error {
			userID := ""
			if email != "" {
				u, err := db.Store.UserByEmail(ctx, email)
				if err != nil {
					return notFound(err, "--email %q: no user has this email (see `dw user list`)", email)
				}
				userID = u.ID
			}
			_, err := accountingService(db, nil).LinkClusterUser(ctx, cliActor, lCluster, login, userID)
			if err != nil {
				return notFound(err, "no login %q seen on cluster %q (see `dw cluster-users list --cluster %s`)", login, lCluster, lCluster)
			}
			if unlink {
				fmt.Fprintf(cmd.OutOrStdout(), "unlinked %s on %s\n", login, lCluster)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "linked %s on %s to %s\n", login, lCluster, email)
			}
			return nil
		})
	}
	cmd.AddCommand(list, link)
	return cmd
}
