package node

import (
	"context"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/divinewhispers/dw/actors"
	"github.com/divinewhispers/dw/persistence"
)

// LocalWallet runs one wallet grain in this process, outside any cluster, for a CLI command.
// It may run beside a live cluster that also has the wallet active: the database fences every
// write, so whichever activation is stale reloads and retries; money is never moved twice.
func LocalWallet(store *persistence.Store, walletID string, log *slog.Logger) (*actors.Wallets, func()) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return log.With("component", "protoactor")
	}))
	m := actors.NewMetrics(nil)
	c := actors.NewCommitter(store, log, m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx, 1); close(done) }()
	pid := system.Root.Spawn(actors.StandaloneWalletProps(&actors.WalletDeps{Store: store, Committer: c, Log: log, Metrics: m}, walletID))
	stop := func() {
		_ = system.Root.StopFuture(pid).Wait()
		cancel()
		<-done
		system.Shutdown()
	}
	return &actors.Wallets{Request: actors.PIDRequester(system, pid), Retries: 10}, stop
}
