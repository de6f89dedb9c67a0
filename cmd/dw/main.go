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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
