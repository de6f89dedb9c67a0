//go:build !race

// Multi-node tests of gossip encryption and mutual TLS between nodes; without -race for the
// reasons given in multinode_norace_test.go.

package cluster

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/divinewhispers/dw/internal/testcert"
	"github.com/divinewhispers/dw/internal/tlsfile"
)

func gossipKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// topologyWatch records the largest topology a node published, and how many times it did.
type topologyWatch struct {
	max, count atomic.Int64
}

func (w *topologyWatch) observe(cfg *Config) {
	cfg.Provider = func(p *ProviderConfig) {
		p.OnTopology = func(members []*pcluster.Member) {
			if n := int64(len(members)); n > w.max.Load() {
				w.max.Store(n) // only the provider's loop goroutine writes
			}
			w.count.Add(1)
		}
	}
}

// TestGossipKeyKeepsOthersOut: two nodes with the same gossip key form a cluster; a node with
// another key, or none, never joins them.
func TestGossipKeyKeepsOthersOut(t *testing.T) {
	key := gossipKey(t)
	var watch1, watch2 topologyWatch
	cfg1 := nodeConfig("g1")
	cfg1.SecretKey = key
	watch1.observe(&cfg1)
	n1 := startNode(t, cfg1)
	cfg2 := nodeConfig("g2", n1.MemberAddress())
	cfg2.SecretKey = key
	watch2.observe(&cfg2)
	n2 := startNode(t, cfg2)
	waitMembers(t, []*Node{n1, n2}, 2, 10*time.Second)

	for _, tc := range []struct {
		name string
		key  []byte
	}{
		{"another key", gossipKey(t)},
		{"no key", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := nodeConfig("intruder", n1.MemberAddress(), n2.MemberAddress())
			cfg.SecretKey = tc.key
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			// Start returns only once joined: it must give up when ctx ends.
			n, err := Start(ctx, cfg)
			if err == nil {
				n.Stop(false)
				t.Fatal("a node without the gossip key joined")
			}
			t.Logf("refused as expected: %v", err)
			for _, n := range []*Node{n1, n2} {
				if got := n.provider.ml.NumMembers(); got != 2 {
					t.Errorf("%s: memberlist has %d nodes, want 2", n.cfg.NodeName, got)
				}
			}
			if m1, m2 := watch1.max.Load(), watch2.max.Load(); m1 != 2 || m2 != 2 {
				t.Errorf("largest topologies published: %d and %d, want 2", m1, m2)
			}
		})
	}
}

// TestMutualTLS: two nodes with certificates of the cluster CA call each other's grains; a
// node with a certificate of another CA, or with no TLS at all, is never admitted to their
// topology and cannot reach their grains.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.NewCA(t, dir, "cluster-ca")
	otherCA := testcert.NewCA(t, dir, "other-ca")
	withTLS := func(cfg *Config, ca *testcert.CA) {
		p := ca.Issue(t, cfg.NodeName)
		m, err := tlsfile.LoadMutual(p.CertFile, p.KeyFile, ca.CertFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.ServerTLS, cfg.ClientTLS = m.Server, m.Client
	}
	var watch1, watch2 topologyWatch
	cfg1 := nodeConfig("t1")
	withTLS(&cfg1, ca)
	watch1.observe(&cfg1)
	n1 := startNode(t, cfg1)
	cfg2 := nodeConfig("t2", n1.MemberAddress())
	withTLS(&cfg2, ca)
	watch2.observe(&cfg2)
	n2 := startNode(t, cfg2)
	good := []*Node{n1, n2}
	waitMembers(t, good, 2, 10*time.Second)

	// Grains on both nodes, called from both nodes: the remote works over mutual TLS.
	hosts := map[string]bool{}
	var onN1 *actor.PID
	for i := range 20 {
		id := fmt.Sprint("c", i)
		for _, n := range good {
			if _, err := add(t, n, id, 1); err != nil {
				t.Fatalf("%s → %s: %v", n.cfg.NodeName, id, err)
			}
		}
		addr, err := where(t, n2, id)
		if err != nil {
			t.Fatal(err)
		}
		hosts[addr] = true
		if addr == n1.System.Address() && onN1 == nil {
			onN1 = n1.Cluster.Get(id, "counter")
		}
	}
	if len(hosts) != 2 || onN1 == nil {
		t.Fatalf("20 grains live on %v: want both nodes", hosts)
	}

	for _, tc := range []struct {
		name string
		ca   *testcert.CA // nil: no TLS
	}{
		{"certificate of another CA", otherCA},
		{"no TLS", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := nodeConfig("intruder-"+fmt.Sprint(tc.ca != nil), n1.MemberAddress())
			if tc.ca != nil {
				withTLS(&cfg, tc.ca)
			}
			bad := startNode(t, cfg) // memberlist lets it in: it holds the (empty) gossip key
			defer bad.Stop(false)
			// Wait until both good nodes' memberlist lists it and they published twice since.
			var since [2]int64
			waitFor(t, 10*time.Second, "the good nodes to see the intruder in memberlist", func() bool {
				return n1.provider.ml.NumMembers() == 3 && n2.provider.ml.NumMembers() == 3
			})
			since[0], since[1] = watch1.count.Load(), watch2.count.Load()
			waitFor(t, 10*time.Second, "two more topology publications", func() bool {
				return watch1.count.Load() >= since[0]+2 && watch2.count.Load() >= since[1]+2
			})
			if m1, m2 := watch1.max.Load(), watch2.max.Load(); m1 != 2 || m2 != 2 {
				t.Errorf("largest topologies published: %d and %d, want 2", m1, m2)
			}
			for _, n := range good {
				if slices.Contains(memberIDs(n), bad.System.ID) {
					t.Errorf("%s admitted the intruder", n.cfg.NodeName)
				}
			}
			// The intruder cannot reach a grain of the good nodes, even knowing its PID. (A new
			// PID: onN1 caches t1's local process, which would deliver in memory.)
			target := actor.NewPID(onN1.Address, onN1.Id)
			_, err := bad.System.Root.RequestFuture(target, wrapperspb.Int64(1), 3*time.Second).Result()
			if err == nil {
				t.Fatal("the intruder's message reached a grain on t1")
			}
			t.Logf("intruder's request to %s failed as expected: %v", onN1, err)
			// The good nodes still serve each other.
			var wg sync.WaitGroup
			for _, n := range good {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := add(t, n, "c0", 1); err != nil {
						t.Errorf("%s after the intruder: %v", n.cfg.NodeName, err)
					}
				}()
			}
			wg.Wait()
		})
	}
}
