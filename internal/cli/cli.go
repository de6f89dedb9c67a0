// Package cli is the dw command line: cobra commands that fill an options struct, validate it
// and call one core function, the same one the gateway calls.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/joho/godotenv"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence/pgserver"
)

// Main runs the command line with args and returns the exit code. A command whose context is
// cancelled with an Interrupted cause that fails exits with 128 + the signal's number; once
// stdout is closed (`dw ingest run … | head -1`) the command's context is cancelled and Main
// exits quietly with 141 (128 + SIGPIPE), as a program killed by SIGPIPE would, but after the
// command stopped what it started.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if err := loadEnvFiles(args); err != nil {
		fmt.Fprintln(stderr, "dw:", err)
		return 2
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stdout = &closedPipeCanceler{w: stdout, cancel: cancel}
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var sig Interrupted
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errStdoutClosed):
		return 128 + int(syscall.SIGPIPE)
	case err != nil && errors.As(cause, &sig):
		fmt.Fprintln(stderr, "dw:", sig)
		return 128 + int(sig.Signal)
	case err != nil:
		fmt.Fprintln(stderr, "dw:", describe(err))
		return 1
	}
	return 0
}

// Interrupted is the cause given to the context of Main when a signal cancels it.
type Interrupted struct{ Signal syscall.Signal }

func (i Interrupted) Error() string { return "stopped by signal " + i.Signal.String() }

var errStdoutClosed = errors.New("stdout closed")

// closedPipeCanceler cancels the command when a write finds its reader gone (EPIPE): nobody
// reads the rest, so the command stops rather than working on.
type closedPipeCanceler struct {
	w      io.Writer
	cancel context.CancelCauseFunc
}

func (c *closedPipeCanceler) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if errors.Is(err, syscall.EPIPE) {
		c.cancel(errStdoutClosed)
	}
	return n, err
}

// describe turns an error into a message that names the fault and, where it can, the fix.
func describe(err error) string {
	var e *dw.Error
	if errors.As(err, &e) {
		switch e.Kind {
		case dw.KindInternal:
			return "internal error: " + e.Error()
		case dw.KindUnavailable:
			return e.Message + " (is the database running? check --data-dir / --database-url)"
		}
		return e.Message
	}
	return err.Error()
}

// loadEnvFiles loads --config FILE and ./.env (KEY=VALUE lines) into the environment without
// overriding variables already set, so that flags > environment > --config > .env > defaults.
func loadEnvFiles(args []string) error {
	for i, a := range args {
		var file string
		switch {
		case a == "--config" && i+1 < len(args):
			file = args[i+1]
		case strings.HasPrefix(a, "--config="):
			file = strings.TrimPrefix(a, "--config=")
		default:
			continue
		}
		if err := godotenv.Load(file); err != nil {
			return fmt.Errorf("--config %s: %v (the file holds DW_*=value lines, see .env.example)", file, err)
		}
	}
	if _, err := os.Stat(".env"); err == nil {
		if err := godotenv.Load(".env"); err != nil {
			return fmt.Errorf(".env: %v", err)
		}
	}
	return nil
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "dw",
		Short:         "Divine Whispers: fortune interpretations and compute accounting on one wallet ledger",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("config", "", "file of DW_*=value settings (see .env.example)")
	root.AddCommand(serveCmd(stderr), migrateCmd(), userCmd(), walletCmd(), dbCmd(), poemsCmd())
	root.AddCommand(sourcesCmd(), ingestCmd())
	root.AddCommand(mailCmd())
	root.AddCommand(paymentsCmd())
	root.AddCommand(mappingsCmd(), ratesCmd(), quotasCmd(), reportCmd(), chargesCmd(), clusterUsersCmd())
	return root
}

// env names the DW_* variable of a flag.
func env(flag string) string {
	return "DW_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// flags binds a Config to a flag set, with defaults taken from the environment.
type flags struct {
	fs      *pflag.FlagSet
	cfg     *node.Config
	err     []error
	secrets []secretFlag
}

func (f *flags) str(p *string, name, usage string) {
	def := *p
	if v, ok := os.LookupEnv(env(name)); ok {
		def = v
	}
	f.fs.StringVar(p, name, def, usage+" ["+env(name)+"]")
}

// secret binds a flag whose environment value must never show up as a default in --help.
func (f *flags) secret(p *string, name, usage string) {
	f.fs.StringVar(p, name, "", usage+" ["+env(name)+"]")
	f.secrets = append(f.secrets, secretFlag{p, name})
}

type secretFlag struct {
	p    *string
	name string
}

func (f *flags) list(p *[]string, name, usage string) {
	def := *p
	if v, ok := os.LookupEnv(env(name)); ok && v != "" {
		def = strings.Split(v, ",")
	}
	f.fs.StringSliceVar(p, name, def, usage+" ["+env(name)+"]")
}

func (f *flags) dur(p *time.Duration, name, usage string) {
	def := *p
	if v, ok := os.LookupEnv(env(name)); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.err = append(f.err, fmt.Errorf("%s=%q is not a duration such as 15m", env(name), v))
		}
		def = d
	}
	f.fs.DurationVar(p, name, def, usage+" ["+env(name)+"]")
}

func (f *flags) num(p *int, name, usage string) {
	def := *p
	if v, ok := os.LookupEnv(env(name)); ok {
		var n int
		if _, err := fmt.Sscan(v, &n); err != nil {
			f.err = append(f.err, fmt.Errorf("%s=%q is not a whole number", env(name), v))
		}
		def = n
	}
	f.fs.IntVar(p, name, def, usage+" ["+env(name)+"]")
}

func (f *flags) boolean(p *bool, name, usage string) {
	def := *p
	if v, ok := os.LookupEnv(env(name)); ok {
		def = v == "1" || strings.EqualFold(v, "true") || strings.EqualFold(v, "yes")
	}
	f.fs.BoolVar(p, name, def, usage+" ["+env(name)+"]")
}

// dbFlags binds the flags every command needs to reach the database.
func dbFlags(cmd *cobra.Command, cfg *node.Config) *flags {
	f := &flags{fs: cmd.Flags(), cfg: cfg}
	f.str(&cfg.DataDir, "data-dir", "data directory of the embedded PostgreSQL and the generated JWT key")
	f.secret(&cfg.DatabaseURL, "database-url", "PostgreSQL URL to use instead of the embedded server")
	f.num(&cfg.DBMaxConns, "db-max-conns", "database connection pool size")
	f.str(&cfg.DBSharedBuffers, "db-shared-buffers", "shared_buffers of the embedded PostgreSQL when this process starts it (serve: a quarter of the memory, at most 8GB; other commands: "+pgserver.CommandSharedBuffers+")")
	f.str(&cfg.LogLevel, "log-level", "debug, info, warn or error")
	f.str(&cfg.LogFormat, "log-format", "json or text")
	return f
}

// check reports bad environment values and fills secrets from the environment; call it in RunE.
func (f *flags) check() error {
	for _, s := range f.secrets {
		if !f.fs.Changed(s.name) {
			*s.p = os.Getenv(env(s.name))
		}
	}
	return errors.Join(f.err...)
}

func newLogger(cfg node.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
