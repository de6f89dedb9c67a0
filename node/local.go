package node

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/divinewhispers/dw/actors"
	"github.com/divinewhispers/dw/persistence"
)

// LocalWallets runs wallet grains in this process, outside any cluster, for a CLI command: a
// grain is spawned for each wallet the first time it is asked for. They may run beside a live
// cluster that also has the wallets active: the database fences every write, so whichever
// activation is stale reloads and retries; money is never moved twice.
func LocalWallets(store *persistence.Store, log *slog.Logger) (*actors.Wallets, func()) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return log.With("component", "protoactor")
	}))
	m := actors.NewMetrics(nil)
	c := actors.NewCommitter(store, log, m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx, 1); close(done) }()
	deps := &actors.WalletDeps{Store: store, Committer: c, Log: log, Metrics: m}
	var mu sync.Mutex
	pids := map[string]*actor.PID{}
	request := func(_ context.Context, identity, _ string, msg any, timeout time.Duration) (any, error) {
		mu.Lock()
		pid, ok := pids[identity]
		if !ok {
			pid = system.Root.Spawn(actors.StandaloneWalletProps(deps, identity))
			pids[identity] = pid
		}
		mu.Unlock()
		return system.Root.RequestFuture(pid, msg, timeout).Result()
	}
	stop := func() {
		mu.Lock()
		for _, pid := range pids {
			_ = system.Root.StopFuture(pid).Wait()
		}
		mu.Unlock()
		cancel()
		<-done
		system.Shutdown()
	}
	return &actors.Wallets{Request: request, Retries: 10}, stop
}
