package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(leakOptions()...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// protoactorThrottle matches the goroutine protoactor's throttles
// (actor.NewThrottle/NewThrottleWithLogger) start: it sleeps for the throttle
// period (60s for gossip) and cannot be cancelled. Its name depends on where
// the throttle constructor got inlined, e.g.
// "github.com/asynkron/protoactor-go/cluster.(*Gossiper).StartGossiping.NewThrottle.func3.1".
var protoactorThrottle = regexp.MustCompile(`^github\.com/asynkron/protoactor-go/.*\.NewThrottle(WithLogger)?\.func\d+\.1$`)

// leakOptions ignores only protoactor's uncancellable throttle timers, by
// their exact top-of-stack names as found right now. Everything from
// memberlist, remote/gRPC, protoactor's actors and this package must be gone.
func leakOptions() []goleak.Option {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	seen := map[string]bool{}
	var opts []goleak.Option
	for _, g := range strings.Split(string(buf), "\n\n") {
		lines := strings.SplitN(g, "\n", 3)
		if len(lines) < 2 {
			continue
		}
		top := lines[1]
		if i := strings.LastIndex(top, "("); i > 0 {
			top = top[:i]
		}
		if protoactorThrottle.MatchString(top) && !seen[top] {
			seen[top] = true
			opts = append(opts, goleak.IgnoreTopFunction(top))
		}
	}
	return opts
}

func testLogger() *slog.Logger {
	level := slog.LevelError
	switch strings.ToLower(os.Getenv("DW_CLUSTER_TEST_LOG")) {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// counter is the test grain: Int64Value adds and replies the new count,
// StringValue replies the address of the node hosting the activation.
type counter struct{ n int64 }

func (c *counter) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *wrapperspb.Int64Value:
		c.n += m.Value
		ctx.Respond(wrapperspb.Int64(c.n))
	case *wrapperspb.StringValue:
		ctx.Respond(wrapperspb.String(ctx.Self().Address))
	}
}

func counterKind() *pcluster.Kind {
	return pcluster.NewKind("counter", actor.PropsFromProducer(func() actor.Actor { return &counter{} }))
}

func nodeConfig(name string, seeds ...string) Config {
	return Config{
		NodeName:       name,
		ClusterName:    "dw-test",
		Bind:           "127.0.0.1:0",
		Join:           seeds,
		Remote:         "127.0.0.1:0",
		Kinds:          []*pcluster.Kind{counterKind()},
		RequestTimeout: 2 * time.Second,
		Logger:         testLogger(),
	}
}

func startNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start %s: %v", cfg.NodeName, err)
	}
	t.Logf("%s ready in %v (remote %s, gossip %s)", cfg.NodeName, time.Since(start).Round(time.Millisecond), n.System.Address(), n.MemberAddress())
	t.Cleanup(func() { n.Stop(false) })
	return n
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func memberIDs(n *Node) []string {
	var ids []string
	for _, m := range n.Members() {
		ids = append(ids, m.Id)
	}
	return ids
}

func gaugeValue(t *testing.T, reg *prometheus.Registry) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "dw_cluster_members" && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func TestParseMemberlistLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		lvl  slog.Level
		want string
	}{
		{"[DEBUG] memberlist: Stream connection from=127.0.0.1:1", slog.LevelDebug, "Stream connection from=127.0.0.1:1"},
		{"[WARN] memberlist: Was able to connect", slog.LevelWarn, "Was able to connect"},
		{"[ERR] memberlist: Failed to send", slog.LevelError, "Failed to send"},
		{"plain", slog.LevelInfo, "plain"},
	} {
		lvl, msg := parseMemberlistLine(tc.in)
		if lvl != tc.lvl || msg != tc.want {
			t.Errorf("parse(%q) = %v %q", tc.in, lvl, msg)
		}
	}
}

// liteNode runs a Provider against a protoactor Cluster whose remote,
// gossip and identity lookup are never started: only the memberlist
// provider and protoactor's MemberList run. That keeps protoactor's own
// multi-node races (see multinode_norace_test.go) out of the picture, so
// the provider's concurrency is checked under -race with several members.
type liteNode struct {
	sys *actor.ActorSystem
	c   *pcluster.Cluster
	p   *Provider
}

var litePort atomic.Int32

func startLite(t *testing.T, label string, bindPort int, seeds ...string) *liteNode {
	t.Helper()
	logger := testLogger()
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }))
	// A made-up remote address: nothing listens, it only goes into the meta.
	sys.ProcessRegistry.Address = fmt.Sprintf("127.0.0.1:%d", 20000+litePort.Add(1))
	p := NewProvider(ProviderConfig{
		BindAddr:          "127.0.0.1",
		BindPort:          bindPort,
		Join:              seeds,
		Logger:            logger,
		JoinRetryInterval: 100 * time.Millisecond,
	})
	cfg := pcluster.Configure(label, p, disthash.New(), remote.Configure("127.0.0.1", 0))
	c := pcluster.New(sys, cfg)
	c.Remote = remote.NewRemote(sys, cfg.RemoteConfig) // never started: MemberList only uses its block list
	if err := p.StartMember(c); err != nil {
		t.Fatal(err)
	}
	n := &liteNode{sys: sys, c: c, p: p}
	t.Cleanup(func() { n.stop(false) })
	return n
}

func (n *liteNode) stop(graceful bool) {
	if err := n.p.Shutdown(graceful); err != nil {
		panic(err)
	}
	if !n.sys.IsStopped() {
		n.sys.Shutdown()
	}
}

func liteIDs(n *liteNode) []string {
	var ids []string
	for _, m := range n.p.Members() {
		ids = append(ids, m.Id)
	}
	return ids
}

func waitLite(t *testing.T, nodes []*liteNode, timeout time.Duration) time.Duration {
	t.Helper()
	var want []string
	for _, n := range nodes {
		want = append(want, n.sys.ID)
	}
	slices.Sort(want)
	return waitFor(t, timeout, fmt.Sprintf("members %v", want), func() bool {
		for _, n := range nodes {
			if !slices.Equal(liteIDs(n), want) {
				return false
			}
		}
		return true
	})
}

func TestProviderMembership(t *testing.T) {
	n1 := startLite(t, "lite", 0)
	seed := n1.p.Address()
	n2 := startLite(t, "lite", 0, seed)
	n3 := startLite(t, "lite", 0, seed)
	d := waitLite(t, []*liteNode{n1, n2, n3}, 5*time.Second)
	t.Logf("3 members after %v", d.Round(time.Millisecond))

	for _, n := range []*liteNode{n1, n2, n3} {
		if !n.p.Joined() || !n.p.SelfInTopology() {
			t.Errorf("%s: joined=%v self=%v", n.sys.ID, n.p.Joined(), n.p.SelfInTopology())
		}
		for _, m := range n.p.Members() {
			if m.Address() == "" || m.Host != "127.0.0.1" {
				t.Errorf("bad member %v", m)
			}
		}
	}
	// Members are decoded from the metas: n2's view of n3 has n3's remote address.
	for _, m := range n2.p.Members() {
		if m.Id == n3.sys.ID && m.Address() != n3.sys.Address() {
			t.Errorf("n3 seen at %s, want %s", m.Address(), n3.sys.Address())
		}
	}

	// A crash (no leave) is detected by memberlist's failure detector.
	n3.stop(false)
	d = waitLite(t, []*liteNode{n1, n2}, 5*time.Second)
	t.Logf("killed member dropped after %v", d.Round(time.Millisecond))

	// A graceful leave is seen almost at once.
	n2.stop(true)
	start := time.Now()
	d = waitLite(t, []*liteNode{n1}, 2*time.Second)
	t.Logf("left member dropped %v after Leave returned (%v)", d.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// A member that left is blocked by protoactor for good; the set stays
	// consistent through further resyncs.
	time.Sleep(1200 * time.Millisecond)
	if got := liteIDs(n1); !slices.Equal(got, []string{n1.sys.ID}) {
		t.Fatalf("n1 members after resync: %v", got)
	}
}

func TestProviderLabelIsolation(t *testing.T) {
	n1 := startLite(t, "one", 0)
	n2 := startLite(t, "two", 0, n1.p.Address())
	time.Sleep(1500 * time.Millisecond) // several join attempts
	if n2.p.Joined() {
		t.Fatal("node with another label joined")
	}
	if got := liteIDs(n1); !slices.Equal(got, []string{n1.sys.ID}) {
		t.Fatalf("n1 members %v", got)
	}
	if got := liteIDs(n2); !slices.Equal(got, []string{n2.sys.ID}) {
		t.Fatalf("n2 members %v", got)
	}
}

func TestProviderJoinRetriesUntilSeedUp(t *testing.T) {
	port, err := freeTCPPort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	seed := fmt.Sprintf("127.0.0.1:%d", port)
	n2 := startLite(t, "retry", 0, seed)
	time.Sleep(500 * time.Millisecond)
	if n2.p.Joined() {
		t.Fatal("joined a seed that is not running")
	}
	n1 := startLite(t, "retry", port)
	d := waitLite(t, []*liteNode{n1, n2}, 5*time.Second)
	t.Logf("joined %v after the seed came up", d.Round(time.Millisecond))
}

func TestProviderShutdownOnce(t *testing.T) {
	p := NewProvider(ProviderConfig{})
	if err := p.Shutdown(true); err != nil { // before start: no-op
		t.Fatal(err)
	}
	n := startLite(t, "once", 0)
	n.stop(true)
	if err := n.p.Shutdown(true); err != nil {
		t.Fatal(err)
	}
	if err := n.p.StartMember(n.c); err == nil {
		t.Fatal("second start succeeded")
	}
	if n.p.SelfInTopology() {
		t.Fatal("stopped provider reports itself in topology")
	}
}

// TestSingleNode runs one full node (remote, gossip, disthash): with a
// single protoactor node per process the library races do not arise.
func TestSingleNode(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := nodeConfig("solo")
	cfg.Registerer = reg
	n := startNode(t, cfg)
	if !n.Ready() {
		t.Fatal("not ready after Start")
	}
	if ids := memberIDs(n); !slices.Equal(ids, []string{n.System.ID}) {
		t.Fatalf("members %v", ids)
	}
	if m := n.Members()[0]; m.Address() != n.System.Address() || !slices.Contains(m.Kinds, "counter") {
		t.Fatalf("self member %v", m)
	}
	if v, ok := gaugeValue(t, reg); !ok || v != 1 {
		t.Fatalf("dw_cluster_members = %v (found %v)", v, ok)
	}
	for i := int64(1); i <= 3; i++ {
		res, err := n.Cluster.Request("x", "counter", wrapperspb.Int64(1), pcluster.WithTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if v := res.(*wrapperspb.Int64Value).Value; v != i {
			t.Fatalf("count %d, want %d", v, i)
		}
	}
	start := time.Now()
	n.Stop(true)
	t.Logf("graceful Stop took %v", time.Since(start).Round(time.Millisecond))
	n.Stop(true)
	n.Stop(false)
	if n.Ready() {
		t.Fatal("ready after Stop")
	}
	if _, ok := gaugeValue(t, reg); ok {
		t.Fatal("dw_cluster_members still registered after Stop")
	}
}

func TestStartConfigErrors(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []Config{
		{Bind: "nope", Remote: "127.0.0.1:0"},
		{Bind: "127.0.0.1:0", Remote: "127.0.0.1:x"},
		{Bind: "127.0.0.1:0", Remote: "0.0.0.0:0"},                             // all interfaces without AdvertiseRemote
		{Bind: "127.0.0.1:0", Remote: "127.0.0.1:0", ServerTLS: &tls.Config{}}, // half of mutual TLS
	} {
		if n, err := Start(ctx, cfg); err == nil {
			n.Stop(false)
			t.Errorf("Start(%+v) succeeded", cfg)
		}
	}
}
