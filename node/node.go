package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/actors"
	"github.com/divinewhispers/dw/cluster"
	"github.com/divinewhispers/dw/gateway"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/protos/ingestpb"
	"github.com/divinewhispers/dw/protos/walletpb"
	"github.com/divinewhispers/dw/session"
	"github.com/divinewhispers/dw/settings"
	"github.com/divinewhispers/dw/webhooks"
)

// Node is a running `dw serve`.
type Node struct {
	cfg      Config
	log      *slog.Logger
	db       *Database
	cluster  *cluster.Node
	gateway  *gateway.Server
	listener net.Listener
	metrics  *http.Server // --metrics-addr; nil: /metrics is on the gateway
	wallets  *actors.Wallets
	charger  *actors.Charger
	jobs     *actors.Jobs
	events   *actors.Events
	sessions *session.Sessions
	hooks    *webhooks.Service
	settings *settings.Service // the runtime configuration (settings.go)
	// resultRetention is the setting retention_job_results, read by the job grains.
	resultRetention atomic.Int64

	cancelWork context.CancelFunc
	work       sync.WaitGroup
	served     chan error
	stopOnce   sync.Once
	stopErr    error
}

// randPoolOnce enables uuid's random pool for the process: the first node started does it, before
// it starts anything that makes ids, so that no node's goroutine reads the setting as it is written.
var randPoolOnce sync.Once

// Start brings a node up: database, committer, cluster member with the wallet kind, gateway.
// It returns once the node serves HTTP.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Certificates and keys are read before anything starts, so a bad file stops the node at once.
	httpsCfg, err := httpsConfig(cfg, log)
	if err != nil {
		return nil, err
	}
	gossipKey, err := cfg.gossipKey()
	if err != nil {
		return nil, err
	}
	mtls, err := clusterTLS(cfg, log)
	if err != nil {
		return nil, err
	}
	// Ids (trace ids, ledger entries, jobs) come from a pool of random bytes refilled in bulk,
	// rather than one getrandom call each.
	randPoolOnce.Do(uuid.EnableRandPool) // once: it writes a global that running nodes read
	// n is not the named result: a failing `return nil, err` must leave it to the deferred Stop
	// and to the goroutines started below.
	n := &Node{cfg: cfg, log: log, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			_ = n.Stop(context.Background())
		}
	}()
	if n.db, err = OpenDatabase(ctx, cfg, true, log); err != nil {
		return nil, err
	}
	accounts, issuer, err := Accounts(cfg, n.db.Store)
	if err != nil {
		return nil, err
	}
	if cfg.Demo {
		if err := seedDemo(ctx, accounts, log); err != nil {
			return nil, fmt.Errorf("demo data: %w", err)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerer := prometheus.WrapRegistererWith(prometheus.Labels{"node": cfg.NodeName}, reg)
	metrics := actors.NewMetrics(registerer)
	registerHasherMetrics(registerer, accounts.Hasher)
	committer := actors.NewCommitter(n.db.Store, log, metrics)
	workCtx, cancel := context.WithCancel(context.Background())
	n.cancelWork = cancel
	n.work.Add(1)
	go func() { defer n.work.Done(); committer.Run(workCtx, cfg.CommitWorkers) }()

	if err := seedPoems(ctx, n.db.Store); err != nil {
		return nil, fmt.Errorf("bundled poems: %w", err)
	}
	interpreter, err := newInterpreter(cfg)
	if err != nil {
		return nil, err
	}
	// The kinds need the cluster (for events and wallet calls) and the cluster needs the kinds:
	// the dependencies are filled in once the cluster is up, before any request can arrive.
	walletDeps := &actors.WalletDeps{Store: n.db.Store, Committer: committer, Log: log, Metrics: metrics}
	poems := &persistence.PoemCache{Store: n.db.Store, TTL: 10 * time.Second}
	jobDeps := &actors.JobDeps{Store: n.db.Store, Poems: poems, Interpreter: interpreter, Log: log, Metrics: actors.NewJobMetrics(registerer, metrics),
		Workers: make(chan struct{}, cfg.JobWorkers), Attempt: cfg.JobAttemptTimeout, Retention: cfg.ResultRetention, Lease: cfg.JobLease}
	n.db.Store.SetJobWriteObserver(jobDeps.Metrics.ObserveWrite)
	n.resultRetention.Store(int64(cfg.ResultRetention))
	jobDeps.RetentionNow = func() time.Duration { return time.Duration(n.resultRetention.Load()) }
	ingestMetrics := actors.NewIngestMetrics(registerer)
	ingestDeps := &actors.IngestDeps{Store: n.db.Store, Log: log, Metrics: ingestMetrics, Roots: cfg.IngestRoots}
	clusterCfg := cluster.Config{
		NodeName: cfg.NodeName, ClusterName: cfg.ClusterName, Bind: cfg.Bind, Advertise: cfg.Advertise,
		Join: cfg.Join, Remote: cfg.Remote, AdvertiseRemote: cfg.AdvertiseRemote, SecretKey: gossipKey,
		Kinds: []*pcluster.Kind{actors.NewWalletKind(walletDeps), actors.NewJobKind(jobDeps),
			actors.NewIngestKind(ingestDeps)}, Logger: log, Registerer: reg,
	}
	if mtls != nil {
		clusterCfg.ServerTLS, clusterCfg.ClientTLS = mtls.Server, mtls.Client
	}
	n.cluster, err = cluster.Start(ctx, clusterCfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	requester := actors.ClusterRequester(n.cluster.Cluster)
	n.wallets = &actors.Wallets{Request: requester}
	n.events = actors.NewEvents(n.cluster.Cluster, log, registerer)
	walletDeps.Events = n.events
	jobDeps.Wallets, jobDeps.Events, jobDeps.Owner = n.wallets, n.events, cfg.NodeName+"/"+n.cluster.System.ID
	n.jobs = &actors.Jobs{Store: n.db.Store, Poems: poems, Wallets: n.wallets, Request: requester, Events: n.events, Price: int64(cfg.PriceInterpretation),
		MaxAttempts: cfg.JobMaxAttempts, Expiry: cfg.JobExpiry}
	n.charger = &actors.Charger{Store: n.db.Store, Wallets: n.wallets, Metrics: ingestMetrics}
	accounts.Jobs = n.jobs // a deleted user's open jobs are cancelled first, their holds released
	ingestDeps.Charger = n.charger
	n.work.Add(6)
	go func() {
		defer n.work.Done()
		n.every(workCtx, 2*time.Second, "quota events", func(ctx context.Context) error {
			return actors.PublishQuotaEvents(ctx, n.db.Store, n.events)
		})
	}()
	// Post the usage charges ingest stores (kicked by every scan that stored some).
	go func() {
		defer n.work.Done()
		n.everyOr(workCtx, 5*time.Second, n.charger.Kicked(), "posting usage charges", func(ctx context.Context) error {
			_, err := n.charger.Post(ctx)
			return err
		})
	}()
	// Keep a grain alive for every enabled ingest source; it scans on the source's interval.
	go func() { defer n.work.Done(); n.every(workCtx, 5*time.Second, "ingest sources", n.ensureSources) }()
	go func() { defer n.work.Done(); n.every(workCtx, 15*time.Second, "hold sweep", n.sweepHolds) }()
	// Restart jobs whose owner went silent (a node died); settle finished jobs whose hold is open.
	go func() { defer n.work.Done(); n.every(workCtx, 3*time.Second, "job recovery", n.jobs.Recover) }()
	go func() {
		defer n.work.Done()
		n.every(workCtx, min(max(cfg.ResultRetention/4, time.Second), time.Minute), "result sweep", n.sweepResults)
	}()

	// Session state, told of every logout, password change, suspension or role change by
	// PostgreSQL (also those made by the CLI).
	n.sessions = session.New(n.db.Store, log)
	n.work.Add(1)
	go func() { defer n.work.Done(); n.sessions.Run(workCtx) }()

	// The mail outbox: sent from every node (each mail claimed by one), or kept with no SMTP.
	outbox, err := n.outbox()
	if err != nil {
		return nil, err
	}
	n.work.Add(1)
	go func() { defer n.work.Done(); outbox.Run(workCtx) }()

	// Outgoing webhooks: published and delivered from every node (each delivery sent by one).
	var hookWorker *webhooks.Worker
	n.hooks, hookWorker = n.webhooks(registerer)
	n.work.Add(1)
	go func() { defer n.work.Done(); hookWorker.Run(workCtx) }()
	// Web Push: the notices of ended jobs, written by the database, sent from every node.
	pushSvc, err := cfg.pushService(n.db.Store, cfg.publicURL())
	if err != nil {
		return nil, err
	}
	pushSvc.Log = log
	n.work.Add(1)
	go func() { defer n.work.Done(); pushSvc.Run(workCtx) }()

	limiter, err := n.rateLimiter(workCtx, registerer)
	if err != nil {
		return nil, err
	}
	if n.settings, err = n.runtimeSettings(ctx, workCtx, limiter); err != nil {
		return nil, err
	}
	// Payments: every node answers notifications and runs the reconciler (each stale payment
	// claimed by one node).
	pay, sbx, err := PaymentService(cfg, n.db.Store, PaymentLedger(n.wallets), log)
	if err != nil {
		return nil, err
	}
	if err := n.settings.Register(packagesSetting(cfg, pay)); err != nil {
		return nil, err
	}
	if err := n.settings.Load(ctx); err != nil {
		return nil, err
	}
	if (cfg.ECPayMerchantID != "" || cfg.StripeSecretKey != "") && cfg.PublicURL == "" {
		log.Warn("a payment provider is on without --public-url: its notifications cannot reach this node (only the reconciler will credit payments)")
	}
	if sbx != nil {
		log.Warn("the sandbox payment provider is on: anyone can buy points without paying (--payment-sandbox=false in production)")
	}
	n.work.Add(1)
	go func() {
		defer n.work.Done()
		n.every(workCtx, reconcileEvery(cfg.PaymentReconcileAfter), "payment reconciler", pay.ReconcileStale)
	}()
	n.gateway = gateway.New(gateway.Config{
		Accounts: accounts, Issuer: issuer, Sessions: n.sessions, Wallets: n.wallets, Store: n.db.Store, Jobs: n.jobs, Events: n.events, Charger: n.charger,
		ScanSource: n.scanSource, IngestRoots: cfg.IngestRoots,
		Ready: n.ready, Registry: reg, Log: log, SecureCookies: cfg.SecureCookies,
		MetricsOff: cfg.MetricsAddr != "",
		Limiter:    limiter, TrustedProxies: cfg.TrustedProxies, MaxStreamsPerUser: cfg.WSMaxPerUser,
		Webhooks: n.hooks,
		Settings: n.settings,
		Push:     pushSvc,
		Payments: pay, Sandbox: sbx, FormActions: cfg.formActions(),
	})
	if cfg.MetricsAddr != "" {
		if n.metrics, err = serveMetrics(cfg.MetricsAddr, reg, log); err != nil {
			return nil, err
		}
	}
	if n.listener, err = listenHTTP(cfg, httpsCfg, log); err != nil {
		return nil, err
	}
	if cfg.PublicURL == "" && httpsCfg == nil { // links to where this node listens (the port of :0 known now)
		accounts.PublicURL = "http://" + n.listener.Addr().String()
		pay.SetPublicURL(accounts.PublicURL)
	}
	go func() { n.served <- n.gateway.App.Listener(n.listener) }()
	if cfg.PProf != "" {
		startPProf(cfg.PProf, log)
	}
	log.Info("node serving", "node", cfg.NodeName, "http", n.listener.Addr().String(), "https", httpsCfg != nil,
		"memberlist", n.cluster.MemberAddress(), "gossip_encrypted", gossipKey != nil,
		"cluster_mtls", clusterCfg.ServerTLS != nil, "metrics_addr", cfg.MetricsAddr, "embedded_db", n.db.server != nil)
	return n, nil
}

// HTTPAddr is the address the gateway listens on.
func (n *Node) HTTPAddr() string { return n.listener.Addr().String() }

// MemberAddress is the memberlist address other nodes join.
func (n *Node) MemberAddress() string { return n.cluster.MemberAddress() }

// Jobs is the node's job core.
func (n *Node) Jobs() *actors.Jobs { return n.jobs }

// Wallets is the node's wallet grain client.
func (n *Node) Wallets() *actors.Wallets { return n.wallets }

// Webhooks is the node's outgoing webhooks core: the payment service publishes
// payment.succeeded through its Publish.
func (n *Node) Webhooks() *webhooks.Service { return n.hooks }

// Cluster is the node's cluster member.
func (n *Node) Cluster() *cluster.Node { return n.cluster }

func (n *Node) ready(ctx context.Context) error {
	if err := n.db.Store.Ping(ctx); err != nil {
		return errors.New("database unreachable")
	}
	if !n.cluster.Ready() {
		return errors.New("not joined to the cluster")
	}
	return nil
}

// Stop shuts down in reverse order of start: HTTP (draining requests), cluster (leaving
// memberlist first), background work, database. It is idempotent.
func (n *Node) Stop(ctx context.Context) error {
	n.stopOnce.Do(func() {
		var errs []error
		if n.gateway != nil && n.listener != nil {
			if err := n.gateway.App.ShutdownWithTimeout(10 * time.Second); err != nil {
				errs = append(errs, err)
			}
		}
		if n.metrics != nil {
			if err := n.metrics.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		n.events.Close()
		if n.cluster != nil {
			n.cluster.Stop(true)
		}
		if n.cancelWork != nil {
			n.cancelWork()
			n.work.Wait()
		}
		if n.db != nil {
			if err := n.db.Close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		n.stopErr = errors.Join(errs...)
		n.log.Info("node stopped", "node", n.cfg.NodeName)
	})
	return n.stopErr
}

// Run starts a node and serves until ctx ends, then stops it.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	n, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err = <-n.served:
		log.Error("http server ended", "err", err)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return errors.Join(err, n.Stop(stopCtx))
}

// every runs fn every d until ctx ends, logging its errors (but not those of shutting down).
func (n *Node) every(ctx context.Context, d time.Duration, what string, fn func(context.Context) error) {
	n.everyOr(ctx, d, nil, what, fn)
}

// everyOr is every, also running fn as soon as wake receives.
func (n *Node) everyOr(ctx context.Context, d time.Duration, wake <-chan struct{}, what string, fn func(context.Context) error) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn(what, "err", err)
		}
	}
}

// scanSource asks the grain of a source to scan it now (it skips when a scan of the source runs
// anywhere in the cluster).
func (n *Node) scanSource(ctx context.Context, id string) error {
	res, err := actors.ClusterRequester(n.cluster.Cluster)(ctx, id, actors.IngestKind,
		&ingestpb.IngestCommand{Op: ingestpb.IngestOp_INGEST_OP_SCAN_NOW, SourceId: id}, 5*time.Second)
	if err != nil {
		return &dw.Error{Kind: dw.KindUnavailable, Code: "unavailable", Message: "the source's ingest grain did not answer; retry", Err: err}
	}
	if r, ok := res.(*ingestpb.IngestReply); ok {
		return actors.FailureError(r.Failure)
	}
	return nil
}

// ensureSources makes sure every enabled ingest source has its grain (wherever the cluster
// places it). Every node does it; the grains are idempotent about it.
func (n *Node) ensureSources(ctx context.Context) error {
	srcs, err := n.db.Store.Sources(ctx)
	if err != nil {
		return err
	}
	for _, s := range srcs {
		if !s.Enabled {
			continue
		}
		_, err := actors.ClusterRequester(n.cluster.Cluster)(ctx, s.ID, actors.IngestKind,
			&ingestpb.IngestCommand{Op: ingestpb.IngestOp_INGEST_OP_ENSURE, SourceId: s.ID}, 5*time.Second)
		if err != nil {
			return fmt.Errorf("source %s: %w", s.Name, err)
		}
	}
	return nil
}

// sweepHolds wakes wallets whose holds have expired, so they release them even when nobody
// calls them.
func (n *Node) sweepHolds(ctx context.Context) error {
	ids, err := n.db.Store.WalletsWithExpiredHolds(ctx, time.Now(), 500)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := n.wallets.Do(ctx, &walletpb.Request{Op: walletpb.Op_OP_EXPIRE_HOLDS, WalletId: id}); err != nil {
			return fmt.Errorf("wallet %s: %w", id, err)
		}
	}
	return nil
}

// sweepResults removes job results past their retention date (they are hidden from the API as
// soon as it passes).
func (n *Node) sweepResults(ctx context.Context) error {
	k, err := n.db.Store.DeleteExpiredResults(ctx)
	if k > 0 {
		n.log.Info("expired job results removed", "count", k)
	}
	return err
}
