package cluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/hashicorp/memberlist"
	"google.golang.org/protobuf/proto"
)

// Defaults used by [Provider] when the corresponding [ProviderConfig] field is zero.
const (
	DefaultResyncInterval    = time.Second
	DefaultJoinRetryInterval = 500 * time.Millisecond
	DefaultLeaveTimeout      = 2 * time.Second
	DefaultPeerCheckRetry    = 5 * time.Second
)

// peerCheckTimeout bounds one TLS handshake with a peer's actor remote.
const peerCheckTimeout = 2 * time.Second

// ProviderConfig configures a memberlist-backed [Provider].
type ProviderConfig struct {
	// Label isolates clusters sharing a network (memberlist packet label) and
	// filters node metas. Empty: the protoactor cluster name (Config.Name).
	Label string
	// SecretKey enables memberlist encryption (16, 24 or 32 bytes, AES).
	SecretKey []byte

	// BindAddr/BindPort is where memberlist listens (TCP and UDP).
	// BindPort 0 lets memberlist pick a port free for both protocols.
	BindAddr string
	BindPort int
	// AdvertiseAddr/AdvertisePort is the address other nodes use to reach
	// this node's memberlist. Empty/0: derived by memberlist from the bind
	// address (and set to the chosen port when BindPort is 0).
	AdvertiseAddr string
	AdvertisePort int

	// Join lists seed memberlist addresses (host:port). The provider retries
	// joining until one of them answers or it is shut down. Empty: this node
	// starts a new cluster on its own.
	Join []string

	// Logger receives the provider's and memberlist's logs. Nil: slog.Default().
	Logger *slog.Logger

	ResyncInterval    time.Duration // topology resync period; default 1s
	JoinRetryInterval time.Duration // pause between join attempts; default 500ms
	LeaveTimeout      time.Duration // graceful Leave broadcast timeout; default 2s

	// PeerTLS, when set (the client side of the cluster's mutual TLS), admits a
	// memberlist node to the topology only once a TLS handshake with its actor
	// remote verified the certificate it presents. Without it a node holding
	// the gossip key but no certificate from the cluster CA would become a
	// member: grains would be placed on it and every call to them would fail.
	// A verified member stays admitted; a refused one is tried again after
	// PeerCheckRetry (default 5s).
	PeerTLS        *tls.Config
	PeerCheckRetry time.Duration

	// Tune, when set, may adjust the memberlist configuration after the
	// provider has filled it in (timings, transport...). Name, Delegate,
	// Events and Label must be left alone.
	Tune func(*memberlist.Config)

	// OnTopology, when set, is called from the provider's loop goroutine after
	// every topology publication with the member set protoactor accepted.
	// It must not block.
	OnTopology func(members []*pcluster.Member)
}

// nodeMeta is the JSON document carried in memberlist's node meta.
type nodeMeta struct {
	Cluster string   `json:"cluster"`
	ID      string   `json:"id"`
	Host    string   `json:"host"`
	Port    int      `json:"port"`
	Kinds   []string `json:"kinds,omitempty"`
}

// Provider is a [pcluster.ClusterProvider] backed by hashicorp/memberlist.
//
// memberlist's Name is the actor system ID (== protoactor Member.Id). Each
// node's meta carries the cluster name, ID, actor-remote advertised host and
// port and hosted kinds. memberlist callbacks only kick a single loop
// goroutine, which reads memberlist's members, decodes and filters their
// metas and publishes the complete set with UpdateClusterTopology; the loop
// also resyncs on a ticker.
type Provider struct {
	cfg    ProviderConfig
	logger *slog.Logger

	// Set in start, read-only afterwards.
	cluster *pcluster.Cluster
	ml      *memberlist.Memberlist
	label   string
	selfID  string
	meta    []byte

	kick     chan struct{}
	ctx      context.Context // cancelled by Shutdown; bounds the join loop
	cancel   context.CancelFunc
	loopDone chan struct{}
	joinDone chan struct{}

	startOnce    sync.Once
	started      atomic.Bool
	shutdownOnce sync.Once
	joined       atomic.Bool

	mu      sync.RWMutex
	members []*pcluster.Member // last topology accepted by protoactor
	selfIn  bool

	peers map[string]peerCheck // by member ID; only the loop goroutine touches it
}

// peerCheck is the outcome of the last TLS handshake with a member's remote.
type peerCheck struct {
	ok bool
	at time.Time
}

// NewProvider returns a provider; memberlist is created by StartMember/StartClient.
func NewProvider(cfg ProviderConfig) *Provider {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ResyncInterval <= 0 {
		cfg.ResyncInterval = DefaultResyncInterval
	}
	if cfg.JoinRetryInterval <= 0 {
		cfg.JoinRetryInterval = DefaultJoinRetryInterval
	}
	if cfg.LeaveTimeout <= 0 {
		cfg.LeaveTimeout = DefaultLeaveTimeout
	}
	if cfg.PeerCheckRetry <= 0 {
		cfg.PeerCheckRetry = DefaultPeerCheckRetry
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Provider{
		cfg:      cfg,
		logger:   cfg.Logger.With(slog.String("component", "memberlist-provider")),
		kick:     make(chan struct{}, 1),
		ctx:      ctx,
		cancel:   cancel,
		loopDone: make(chan struct{}),
		joinDone: make(chan struct{}),
		peers:    map[string]peerCheck{},
	}
}

// StartMember implements [pcluster.ClusterProvider]; it advertises the
// cluster's kinds.
func (p *Provider) StartMember(c *pcluster.Cluster) error {
	kinds := c.GetClusterKinds()
	slices.Sort(kinds)
	return p.start(c, kinds)
}

// StartClient implements [pcluster.ClusterProvider]; a client hosts no kinds.
func (p *Provider) StartClient(c *pcluster.Cluster) error {
	return p.start(c, nil)
}

func (p *Provider) start(c *pcluster.Cluster, kinds []string) error {
	err := errors.New("cluster provider already started")
	p.startOnce.Do(func() { err = p.doStart(c, kinds) })
	return err
}

func (p *Provider) doStart(c *pcluster.Cluster, kinds []string) error {
	if p.ctx.Err() != nil {
		return errors.New("cluster provider already shut down")
	}
	host, port, err := c.ActorSystem.GetHostPort()
	if err != nil {
		return fmt.Errorf("actor system address: %w", err)
	}
	if port <= 0 {
		return fmt.Errorf("actor system has no remote address (%q): start remote first", c.ActorSystem.Address())
	}
	p.cluster = c
	p.selfID = c.ActorSystem.ID
	p.label = p.cfg.Label
	if p.label == "" {
		p.label = c.Config.Name
	}
	p.meta, err = json.Marshal(nodeMeta{Cluster: p.label, ID: p.selfID, Host: host, Port: port, Kinds: kinds})
	if err != nil {
		return fmt.Errorf("encode node meta: %w", err)
	}
	if len(p.meta) > memberlist.MetaMaxSize {
		return fmt.Errorf("node meta is %d bytes, memberlist allows %d (too many kinds?)", len(p.meta), memberlist.MetaMaxSize)
	}

	mlc := memberlist.DefaultLANConfig()
	mlc.Name = p.selfID
	mlc.Label = p.label
	mlc.SecretKey = p.cfg.SecretKey
	if p.cfg.BindAddr != "" {
		mlc.BindAddr = p.cfg.BindAddr
	}
	mlc.BindPort = p.cfg.BindPort
	mlc.AdvertiseAddr = p.cfg.AdvertiseAddr
	mlc.AdvertisePort = p.cfg.AdvertisePort
	if mlc.AdvertisePort == 0 {
		mlc.AdvertisePort = mlc.BindPort // memberlist replaces it when BindPort is 0
	}
	// Tight timings: a crashed peer is declared dead within a couple of
	// seconds on a LAN/loopback (suspicion timeout = SuspicionMult *
	// ProbeInterval for small clusters).
	mlc.ProbeInterval = 300 * time.Millisecond
	mlc.ProbeTimeout = 200 * time.Millisecond
	mlc.GossipInterval = 100 * time.Millisecond
	mlc.SuspicionMult = 2
	mlc.PushPullInterval = 5 * time.Second
	mlc.GossipToTheDeadTime = 5 * time.Second
	mlc.TCPTimeout = 2 * time.Second
	mlc.Delegate = (*mlDelegate)(p)
	mlc.Events = (*mlEvents)(p)
	mlc.LogOutput = nil
	mlc.Logger = slog.NewLogLogger(memberlistLogHandler{h: p.cfg.Logger.With(slog.String("component", "memberlist")).Handler()}, slog.LevelInfo)
	if p.cfg.Tune != nil {
		p.cfg.Tune(mlc)
	}

	ml, err := memberlist.Create(mlc)
	if err != nil {
		return fmt.Errorf("memberlist: %w", err)
	}
	p.ml = ml
	p.started.Store(true)
	p.logger.Info("memberlist started",
		slog.String("id", p.selfID), slog.String("cluster", p.label),
		slog.String("gossip", ml.LocalNode().Address()), slog.String("remote", c.ActorSystem.Address()),
		slog.Any("kinds", kinds))

	go p.loop()
	go p.joinLoop()
	return nil
}

// joinLoop joins the seeds, retrying until one answers or Shutdown.
func (p *Provider) joinLoop() {
	defer close(p.joinDone)
	seeds := p.cfg.Join
	if len(seeds) == 0 {
		p.joined.Store(true)
		p.kickLoop()
		return
	}
	for attempt := 1; ; attempt++ {
		n, err := p.ml.Join(seeds)
		if n > 0 {
			if err != nil {
				p.logger.Debug("joined with partial errors", slog.Any("error", err))
			}
			p.logger.Info("joined memberlist cluster", slog.Int("contacted", n), slog.Int("attempt", attempt))
			p.joined.Store(true)
			p.kickLoop()
			return
		}
		lvl := slog.LevelDebug
		if attempt%10 == 1 {
			lvl = slog.LevelWarn
		}
		p.logger.Log(context.Background(), lvl, "join failed, retrying", slog.Any("seeds", seeds), slog.Int("attempt", attempt), slog.Any("error", err))
		t := time.NewTimer(p.cfg.JoinRetryInterval)
		select {
		case <-p.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// kickLoop asks the loop to republish; it never blocks (memberlist calls the
// event delegate while holding its node lock).
func (p *Provider) kickLoop() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// loop is the only goroutine that calls UpdateClusterTopology.
func (p *Provider) loop() {
	defer close(p.loopDone)
	t := time.NewTicker(p.cfg.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.kick:
		case <-t.C:
		}
		if p.ctx.Err() != nil {
			return
		}
		p.publish()
	}
}

func (p *Provider) publish() {
	nodes := p.ml.Members()
	members := make([]*pcluster.Member, 0, len(nodes))
	for _, n := range nodes {
		var m nodeMeta
		if err := json.Unmarshal(n.Meta, &m); err != nil {
			p.logger.Debug("ignoring node with undecodable meta", slog.String("node", n.Name), slog.Any("error", err))
			continue
		}
		if m.Cluster != p.label {
			continue
		}
		if m.ID != n.Name || m.ID == "" || m.Port <= 0 {
			p.logger.Warn("ignoring node with inconsistent meta", slog.String("node", n.Name), slog.String("id", m.ID))
			continue
		}
		members = append(members, &pcluster.Member{Id: m.ID, Host: m.Host, Port: int32(m.Port), Kinds: m.Kinds})
	}
	if p.cfg.PeerTLS != nil {
		members = p.verified(members)
	}
	p.cluster.MemberList.UpdateClusterTopology(members)

	// MemberList.members is written only by UpdateClusterTopology, which
	// only this goroutine calls, so reading it here is race-free. It is the
	// set protoactor accepted (blocked members removed).
	accepted := p.cluster.MemberList.Members().Members()
	snapshot := make([]*pcluster.Member, 0, len(accepted))
	selfIn := false
	for _, m := range accepted {
		snapshot = append(snapshot, proto.Clone(m).(*pcluster.Member))
		if m.Id == p.selfID {
			selfIn = true
		}
	}
	slices.SortFunc(snapshot, func(a, b *pcluster.Member) int { return strings.Compare(a.Id, b.Id) })
	p.mu.Lock()
	p.members = snapshot
	p.selfIn = selfIn
	p.mu.Unlock()
	if p.cfg.OnTopology != nil {
		p.cfg.OnTopology(snapshot)
	}
}

// verified returns the members whose actor remote presented a certificate
// that PeerTLS verifies (and this node), checking the ones not checked yet,
// or refused more than PeerCheckRetry ago, all at once.
func (p *Provider) verified(members []*pcluster.Member) []*pcluster.Member {
	now := time.Now()
	var check []*pcluster.Member
	present := make(map[string]bool, len(members))
	for _, m := range members {
		present[m.Id] = true
		c, seen := p.peers[m.Id]
		if m.Id != p.selfID && (!seen || !c.ok && now.Sub(c.at) >= p.cfg.PeerCheckRetry) {
			check = append(check, m)
		}
	}
	for id := range p.peers {
		if !present[id] {
			delete(p.peers, id)
		}
	}
	errs := make([]error, len(check))
	var wg sync.WaitGroup
	for i, m := range check {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = p.checkPeer(m) }()
	}
	wg.Wait()
	for i, m := range check {
		prev, seen := p.peers[m.Id]
		p.peers[m.Id] = peerCheck{ok: errs[i] == nil, at: now}
		switch {
		case errs[i] != nil && (!seen || prev.ok):
			p.logger.Warn("member refused: its actor remote did not present a certificate of the cluster CA",
				slog.String("member", m.Id), slog.String("remote", m.Address()), slog.Any("error", errs[i]))
		case errs[i] == nil && seen:
			p.logger.Info("member admitted after its certificate verified", slog.String("member", m.Id))
		}
	}
	return slices.DeleteFunc(members, func(m *pcluster.Member) bool {
		return m.Id != p.selfID && !p.peers[m.Id].ok
	})
}

// checkPeer does a TLS handshake with m's actor remote, verifying its certificate.
func (p *Provider) checkPeer(m *pcluster.Member) error {
	cfg := p.cfg.PeerTLS.Clone()
	cfg.ServerName = m.Host
	cfg.NextProtos = []string{"h2"} // gRPC's
	ctx, cancel := context.WithTimeout(p.ctx, peerCheckTimeout)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(m.Host, strconv.Itoa(int(m.Port))))
	if err != nil {
		return err
	}
	return conn.Close()
}

// Members returns a copy of the last topology published to protoactor
// (sorted by member ID).
func (p *Provider) Members() []*pcluster.Member {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]*pcluster.Member, len(p.members))
	for i, m := range p.members {
		out[i] = proto.Clone(m).(*pcluster.Member)
	}
	return out
}

// Joined reports whether the seed join succeeded (true at once without seeds).
func (p *Provider) Joined() bool { return p.joined.Load() }

// SelfInTopology reports whether this member is in the published topology.
func (p *Provider) SelfInTopology() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.selfIn
}

// Address returns memberlist's advertised host:port ("" before start).
func (p *Provider) Address() string {
	if !p.started.Load() {
		return ""
	}
	return p.ml.LocalNode().Address()
}

// Shutdown implements [pcluster.ClusterProvider]. It stops the loop, leaves
// the memberlist cluster when graceful (so peers drop this member at once
// instead of detecting a failure) and shuts memberlist down. Only the first
// call does anything.
func (p *Provider) Shutdown(graceful bool) error {
	var err error
	p.shutdownOnce.Do(func() {
		p.cancel()
		if !p.started.Load() {
			return
		}
		<-p.loopDone
		if graceful {
			if lerr := p.ml.Leave(p.cfg.LeaveTimeout); lerr != nil {
				p.logger.Warn("memberlist leave", slog.Any("error", lerr))
				err = fmt.Errorf("memberlist leave: %w", lerr)
			}
		}
		if serr := p.ml.Shutdown(); serr != nil {
			err = errors.Join(err, fmt.Errorf("memberlist shutdown: %w", serr))
		}
		<-p.joinDone
		p.mu.Lock()
		p.selfIn = false
		p.mu.Unlock()
		p.logger.Info("memberlist stopped", slog.Bool("graceful", graceful))
	})
	return err
}

// mlDelegate implements memberlist.Delegate: it only serves the node meta.
type mlDelegate Provider

func (d *mlDelegate) NodeMeta(limit int) []byte {
	if len(d.meta) > limit {
		return nil // checked in start; cannot happen with memberlist's 512-byte limit
	}
	return d.meta
}
func (d *mlDelegate) NotifyMsg([]byte)                           {}
func (d *mlDelegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *mlDelegate) LocalState(join bool) []byte                { return nil }
func (d *mlDelegate) MergeRemoteState(buf []byte, join bool)     {}

// mlEvents implements memberlist.EventDelegate. memberlist holds its node lock
// while calling these: only kick the loop.
type mlEvents Provider

func (e *mlEvents) NotifyJoin(*memberlist.Node)   { (*Provider)(e).kickLoop() }
func (e *mlEvents) NotifyLeave(*memberlist.Node)  { (*Provider)(e).kickLoop() }
func (e *mlEvents) NotifyUpdate(*memberlist.Node) { (*Provider)(e).kickLoop() }

// memberlistLogHandler maps memberlist's "[LEVEL] memberlist: msg" lines (fed
// through slog.NewLogLogger) to slog records of the matching level.
type memberlistLogHandler struct{ h slog.Handler }

func (m memberlistLogHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	// The real level is only known in Handle; let through anything the
	// inner handler could accept at some level.
	return m.h.Enabled(ctx, slog.LevelDebug) || m.h.Enabled(ctx, slog.LevelError)
}

func (m memberlistLogHandler) Handle(ctx context.Context, r slog.Record) error {
	level, msg := parseMemberlistLine(r.Message)
	if !m.h.Enabled(ctx, level) {
		return nil
	}
	nr := slog.NewRecord(r.Time, level, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool { nr.AddAttrs(a); return true })
	return m.h.Handle(ctx, nr)
}

func (m memberlistLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return memberlistLogHandler{h: m.h.WithAttrs(as)}
}

func (m memberlistLogHandler) WithGroup(name string) slog.Handler {
	return memberlistLogHandler{h: m.h.WithGroup(name)}
}

func parseMemberlistLine(s string) (slog.Level, string) {
	level := slog.LevelInfo
	for _, p := range []struct {
		prefix string
		level  slog.Level
	}{
		{"[DEBUG]", slog.LevelDebug},
		{"[INFO]", slog.LevelInfo},
		{"[WARN]", slog.LevelWarn},
		{"[ERR]", slog.LevelError},
		{"[ERROR]", slog.LevelError},
	} {
		if rest, ok := strings.CutPrefix(s, p.prefix); ok {
			level, s = p.level, rest
			break
		}
	}
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "memberlist: ")
	return level, s
}
