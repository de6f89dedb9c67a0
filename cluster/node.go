package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Defaults applied by [Start].
const (
	DefaultClusterName    = "dw"
	DefaultRequestTimeout = 5 * time.Second
)

// Config configures a cluster node started with [Start].
type Config struct {
	NodeName    string   // for logs/metrics
	ClusterName string   // default "dw"; also the memberlist label
	Bind        string   // memberlist host:port, e.g. "127.0.0.1:7946"; port 0 = pick a free port
	Advertise   string   // memberlist advertised host:port ("" = Bind)
	Join        []string // memberlist seeds (host:port); empty = start a new cluster
	SecretKey   []byte   // optional memberlist encryption key (16, 24 or 32 bytes)

	// ServerTLS and ClientTLS, set together, make the actor remote mutual TLS: the gRPC server
	// uses ServerTLS (which should require and verify client certificates), peer connections
	// ClientTLS (presenting this node's certificate, verifying the peer's). A member is then
	// published to the topology only once a TLS handshake with its remote verified its
	// certificate (see ProviderConfig.PeerTLS). Nil: plaintext, as upstream.
	ServerTLS, ClientTLS *tls.Config

	Remote          string // actor remote bind host:port; port 0 = pick a free port
	AdvertiseRemote string // advertised actor remote host:port ("" = Remote with the real port)

	Kinds          []*pcluster.Kind
	RequestTimeout time.Duration // default cluster request timeout; default 5s
	Logger         *slog.Logger  // nil: slog.Default()
	// Registerer, when set, gets a dw_cluster_members gauge (const label
	// node=NodeName); it is unregistered by Stop.
	Registerer prometheus.Registerer

	// RemoteConnectAttempts is how many times an endpoint writer tries to
	// connect to a peer before giving up (upstream default 5, with a fixed
	// 2s pause after each failure). Default 1: memberlist already tells us
	// within seconds whether a peer is gone.
	RemoteConnectAttempts int
	// RemoteDialTimeout bounds one connection attempt to a peer; default 2s.
	RemoteDialTimeout time.Duration
	// RemoteOptions are applied to the remote configuration after the
	// defaults. remote.WithDialOptions replaces the whole dial option list
	// (including the blocking dial set here): see remoteDialOptions.
	RemoteOptions []remote.ConfigOption

	// Provider, when set, adjusts the memberlist provider configuration
	// (timings, join retry...) before it is created.
	Provider func(*ProviderConfig)
}

// Node is a running cluster member.
type Node struct {
	System  *actor.ActorSystem
	Cluster *pcluster.Cluster

	cfg      Config
	logger   *slog.Logger
	provider *Provider
	gauge    prometheus.Collector

	stopOnce sync.Once
	stopped  chan struct{}
}

// Start creates an actor system with remote on the advertised address, the
// disthash identity lookup and a memberlist [Provider], starts it as a
// cluster member and returns once the node has joined its seeds and sees
// itself in the topology. If ctx ends first the node is stopped and ctx's
// error returned.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.ClusterName == "" {
		cfg.ClusterName = DefaultClusterName
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RemoteConnectAttempts <= 0 {
		cfg.RemoteConnectAttempts = 1
	}
	if cfg.RemoteDialTimeout <= 0 {
		cfg.RemoteDialTimeout = 2 * time.Second
	}
	if (cfg.ServerTLS == nil) != (cfg.ClientTLS == nil) {
		return nil, errors.New("cluster: ServerTLS and ClientTLS go together")
	}
	logger := cfg.Logger.With(slog.String("node", cfg.NodeName))

	bindHost, bindPort, err := splitHostPort(cfg.Bind, "Bind")
	if err != nil {
		return nil, err
	}
	advHost, advPort := bindHost, bindPort
	if cfg.Advertise != "" {
		if advHost, advPort, err = splitHostPort(cfg.Advertise, "Advertise"); err != nil {
			return nil, err
		}
	}
	if isUnspecified(advHost) {
		advHost = "" // let memberlist pick a private address
	}

	remoteHost, remotePort, err := splitHostPort(cfg.Remote, "Remote")
	if err != nil {
		return nil, err
	}
	if remotePort == 0 {
		if remotePort, err = freeTCPPort(remoteHost); err != nil {
			return nil, fmt.Errorf("pick remote port: %w", err)
		}
	}
	advRemote := cfg.AdvertiseRemote
	if advRemote == "" {
		if isUnspecified(remoteHost) {
			return nil, fmt.Errorf("cluster: Remote %q binds all interfaces: set AdvertiseRemote", cfg.Remote)
		}
		advRemote = net.JoinHostPort(remoteHost, strconv.Itoa(remotePort))
	} else {
		h, p, err := splitHostPort(advRemote, "AdvertiseRemote")
		if err != nil {
			return nil, err
		}
		if p == 0 {
			p = remotePort
		}
		advRemote = net.JoinHostPort(h, strconv.Itoa(p))
	}

	n := &Node{cfg: cfg, logger: logger, stopped: make(chan struct{})}

	pcfg := ProviderConfig{
		Label:         cfg.ClusterName,
		SecretKey:     cfg.SecretKey,
		BindAddr:      bindHost,
		BindPort:      bindPort,
		AdvertiseAddr: advHost,
		AdvertisePort: advPort,
		Join:          cfg.Join,
		Logger:        logger,
		PeerTLS:       cfg.ClientTLS,
	}
	if cfg.Provider != nil {
		cfg.Provider(&pcfg)
	}
	n.provider = NewProvider(pcfg)

	n.System = actor.NewActorSystem(actor.WithLoggerFactory(func(system *actor.ActorSystem) *slog.Logger {
		return logger.With(slog.String("component", "protoactor"), slog.String("system", system.ID))
	}))
	peerCreds := insecure.NewCredentials()
	remoteOpts := []remote.ConfigOption{remote.WithAdvertisedHost(advRemote)}
	if cfg.ServerTLS != nil {
		peerCreds = credentials.NewTLS(cfg.ClientTLS)
		remoteOpts = append(remoteOpts, remote.WithServerOptions(grpc.Creds(credentials.NewTLS(cfg.ServerTLS))))
	}
	remoteOpts = append(remoteOpts, remote.WithDialOptions(remoteDialOptions(peerCreds, cfg.RemoteDialTimeout)...))
	remoteOpts = append(remoteOpts, cfg.RemoteOptions...)
	remoteCfg := remote.Configure(remoteHost, remotePort, remoteOpts...)
	remoteCfg.MaxRetryCount = cfg.RemoteConnectAttempts
	clusterCfg := pcluster.Configure(cfg.ClusterName, n.provider, disthash.New(), remoteCfg,
		pcluster.WithKinds(cfg.Kinds...),
		pcluster.WithRequestTimeout(cfg.RequestTimeout),
	)
	n.Cluster = pcluster.New(n.System, clusterCfg)

	if err := startMember(n.Cluster); err != nil {
		n.abort()
		return nil, err
	}

	if cfg.Registerer != nil {
		g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "dw_cluster_members",
			Help:        "Number of members in this node's cluster topology.",
			ConstLabels: prometheus.Labels{"node": cfg.NodeName},
		}, func() float64 { return float64(len(n.provider.Members())) })
		if err := cfg.Registerer.Register(g); err != nil {
			n.Stop(false)
			return nil, fmt.Errorf("register dw_cluster_members: %w", err)
		}
		n.gauge = g
	}

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !n.Ready() {
		select {
		case <-ctx.Done():
			n.Stop(false)
			return nil, fmt.Errorf("cluster: node %q not ready: %w", cfg.NodeName, ctx.Err())
		case <-tick.C:
		}
	}
	logger.Info("cluster node ready",
		slog.String("id", n.System.ID), slog.String("remote", n.System.Address()),
		slog.String("gossip", n.MemberAddress()))
	return n, nil
}

// startMember runs Cluster.StartMember, which panics on provider or remote
// start errors (and then sleeps 1s), and turns a panic into an error.
func startMember(c *pcluster.Cluster) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("cluster: start member: %w", e)
			} else {
				err = fmt.Errorf("cluster: start member: %v", r)
			}
		}
	}()
	c.StartMember()
	return nil
}

// abort cleans up after a failed StartMember, as far as the partially
// started pieces allow.
func (n *Node) abort() {
	n.stopOnce.Do(func() {
		defer close(n.stopped)
		_ = n.provider.Shutdown(false)
		if c := n.Cluster; c.Remote != nil {
			func() {
				defer func() { _ = recover() }() // remote may not have started
				c.Remote.Shutdown(false)
			}()
		}
		n.System.Shutdown()
	})
}

// Members returns the current topology as seen by this node (a copy; sorted
// by member ID). Members blocked by protoactor (left, heartbeat expired) are
// not included.
func (n *Node) Members() []*pcluster.Member { return n.provider.Members() }

// MemberAddress returns the memberlist advertised host:port that other nodes
// can use as a Join seed.
func (n *Node) MemberAddress() string { return n.provider.Address() }

// Ready reports whether the node has joined its seeds, sees itself in the
// topology and has not been stopped.
func (n *Node) Ready() bool {
	select {
	case <-n.stopped:
		return false
	default:
	}
	return n.provider.Joined() && n.provider.SelfInTopology()
}

// Stop stops the node. graceful: leave memberlist first (peers drop this
// member at once), then protoactor's graceful cluster shutdown (stops the
// identity lookup and its activations, gossip and remote; includes a fixed
// 2s sleep upstream) which also marks the actor system stopped. Not graceful:
// memberlist is shut down without leaving (peers detect a failure, as for a
// crash) and remote is killed, then the remaining local pieces are stopped
// to release goroutines. Stop is idempotent; later calls return at once.
func (n *Node) Stop(graceful bool) {
	n.stopOnce.Do(func() {
		defer close(n.stopped)
		if n.gauge != nil {
			n.cfg.Registerer.Unregister(n.gauge)
		}
		if err := n.provider.Shutdown(graceful); err != nil {
			n.logger.Warn("cluster provider shutdown", slog.Any("error", err))
		}
		// Cluster.Shutdown also calls ActorSystem.Shutdown (which must not be
		// called twice: it closes a channel) and, when graceful, the
		// provider's Shutdown again (a no-op now).
		n.Cluster.Shutdown(graceful)
		if !graceful {
			// Upstream's non-graceful path only flags the actor system
			// stopped and kills the gRPC server. Release the rest so nothing
			// keeps running in this process (endpoint writers would redial
			// dead peers forever). Peers are not told anything more than a
			// crash would tell them: memberlist is down without a leave, the
			// server is gone, client streams just close.
			n.Cluster.Remote.Shutdown(true) // endpoint manager + reader; server already stopped
			n.Cluster.IdentityLookup.Shutdown()
			n.Cluster.Gossip.Shutdown()
		}
		n.logger.Info("cluster node stopped", slog.Bool("graceful", graceful))
	})
}

// remoteDialOptions are the gRPC dial options used for peer connections:
// creds (plaintext like upstream's default, or mutual TLS) and the dial
// behaviour below.
//
// The dial blocks until connected, fails at once on a refused connection
// and gives up after timeout. Upstream's endpoint writer overwrites (without
// closing) the ClientConn of every failed connection attempt; with
// grpc's default non-blocking dial each of those conns keeps redialling the
// dead peer forever. A blocking dial that fails returns no conn (grpc closes
// it), so nothing leaks. Keep these when replacing the list. grpc counts a
// TLS handshake failure (a peer whose certificate the CA did not sign) as
// temporary: that dial fails after timeout.
func remoteDialOptions(creds credentials.TransportCredentials, timeout time.Duration) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithBlock(),
		grpc.FailOnNonTempDialError(true),
		//lint:ignore SA1019 remote calls grpc.Dial without a context: the timeout must be an option
		grpc.WithTimeout(timeout),
	}
}

func splitHostPort(hostport, field string) (string, int, error) {
	h, ps, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", 0, fmt.Errorf("cluster: %s %q: %w", field, hostport, err)
	}
	p, err := strconv.Atoi(ps)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("cluster: %s %q: bad port", field, hostport)
	}
	return h, p, nil
}

func isUnspecified(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// freeTCPPort asks the kernel for a free TCP port on host and releases it.
// Another process could grab it before it is reused; remote's listen then
// fails and Start returns an error.
func freeTCPPort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("unexpected listener address")
	}
	return addr.Port, nil
}
