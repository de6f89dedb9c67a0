// Command dw is Divine Whispers: `dw serve` runs a cluster node; the other subcommands manage
// users, wallets and the database. See `dw --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/divinewhispers/dw/internal/cli"
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	// SIGINT, SIGTERM and SIGHUP cancel the command, which then stops what it started (its
	// embedded PostgreSQL) on its way out. SIGPIPE is caught too so that a write to a closed
	// stdout or stderr fails with EPIPE instead of killing the process on the spot: cli.Main
	// ends the command on a closed stdout; a closed socket's SIGPIPE (dw serve) is no reason to.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		for s := range sigs {
			if s, ok := s.(syscall.Signal); ok && s != syscall.SIGPIPE {
				cancel(cli.Interrupted{Signal: s})
			}
		}
	}()
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	signal.Stop(sigs)
	os.Exit(code)
}
