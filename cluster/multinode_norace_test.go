//go:build !race

// Multi-node tests of Start/Node. They run several protoactor nodes in one
// process, which the race detector flags inside protoactor-go and grpc
// (not in this package): remote.Start calls grpclog.SetLoggerV2 (a global)
// on every start while other nodes' gRPC goroutines log; the gossip
// Informer shuffles with a package-level math/rand.Rand shared by all
// nodes; MemberList.ContainsMemberID/Length and BlockList.BlockedMembers/
// IsBlocked read without locks; endpointManager.stop writes its fields
// unsynchronised. Our own concurrency (Provider loop, topology snapshot,
// Node Start/Stop) is covered under -race by the single-node and
// provider tests in cluster_test.go.

package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	pcluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// startCluster starts node1 alone and the others joining node1, in parallel.
func startCluster(t *testing.T, count int) []*Node {
	t.Helper()
	nodes := make([]*Node, count)
	nodes[0] = startNode(t, nodeConfig("node1"))
	seed := nodes[0].MemberAddress()
	var wg sync.WaitGroup
	errs := make([]error, count)
	for i := 1; i < count; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			nodes[i], errs[i] = Start(ctx, nodeConfig(fmt.Sprintf("node%d", i+1), seed))
		}()
	}
	wg.Wait()
	for i := 1; i < count; i++ {
		if nodes[i] != nil {
			n := nodes[i]
			t.Cleanup(func() { n.Stop(false) })
		}
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	waitMembers(t, nodes, count, 10*time.Second)
	return nodes
}

// waitMembers waits until every node sees exactly the given nodes' IDs.
func waitMembers(t *testing.T, nodes []*Node, want int, timeout time.Duration) {
	t.Helper()
	var ids []string
	for _, n := range nodes {
		ids = append(ids, n.System.ID)
	}
	slices.Sort(ids)
	if len(ids) != want {
		t.Fatalf("waitMembers: %d nodes given, want %d", len(ids), want)
	}
	d := waitFor(t, timeout, fmt.Sprintf("%d nodes to see members %v", len(nodes), ids), func() bool {
		for _, n := range nodes {
			if !slices.Equal(memberIDs(n), ids) {
				return false
			}
		}
		return true
	})
	t.Logf("all %d nodes see %d members after %v", len(nodes), want, d.Round(time.Millisecond))
}

func TestThreeNodesSeeEachOther(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := nodeConfig("node1")
	cfg.Registerer = reg
	n1 := startNode(t, cfg)
	if !n1.Ready() {
		t.Fatal("node1 not ready after Start")
	}
	seed := n1.MemberAddress()
	n2 := startNode(t, nodeConfig("node2", seed))
	n3 := startNode(t, nodeConfig("node3", seed))
	nodes := []*Node{n1, n2, n3}
	waitMembers(t, nodes, 3, 10*time.Second)

	for _, n := range nodes {
		if !n.Ready() {
			t.Errorf("%s not ready", n.cfg.NodeName)
		}
		for _, m := range n.Members() {
			if m.Host != "127.0.0.1" || m.Port <= 0 {
				t.Errorf("member %s has address %s", m.Id, m.Address())
			}
			if !slices.Contains(m.Kinds, "counter") {
				t.Errorf("member %s kinds %v lack counter", m.Id, m.Kinds)
			}
		}
	}
	if got, ok := gaugeValue(t, reg); !ok || got != 3 {
		t.Errorf("dw_cluster_members = %v (found %v), want 3", got, ok)
	}

	n3.Stop(false)
	n3.Stop(false) // idempotent
	if n3.Ready() {
		t.Error("stopped node reports ready")
	}
	n1.Stop(false)
	if _, ok := gaugeValue(t, reg); ok {
		t.Error("dw_cluster_members still registered after Stop")
	}
}

func TestGracefulStopLeaves(t *testing.T) {
	nodes := startCluster(t, 3)
	leaving := nodes[2]
	stopped := make(chan time.Duration)
	start := time.Now()
	go func() {
		leaving.Stop(true)
		stopped <- time.Since(start)
	}()
	waitMembers(t, nodes[:2], 2, 3*time.Second)
	t.Logf("graceful Stop returned after %v", (<-stopped).Round(time.Millisecond))
}

func add(t *testing.T, n *Node, identity string, delta int64) (int64, error) {
	t.Helper()
	res, err := n.Cluster.Request(identity, "counter", wrapperspb.Int64(delta), pcluster.WithTimeout(2*time.Second))
	if err != nil {
		return 0, err
	}
	v, ok := res.(*wrapperspb.Int64Value)
	if !ok {
		t.Fatalf("unexpected reply %T %v", res, res)
	}
	return v.Value, nil
}

func where(t *testing.T, n *Node, identity string) (string, error) {
	t.Helper()
	res, err := n.Cluster.Request(identity, "counter", wrapperspb.String("where"), pcluster.WithTimeout(2*time.Second))
	if err != nil {
		return "", err
	}
	v, ok := res.(*wrapperspb.StringValue)
	if !ok {
		t.Fatalf("unexpected reply %T %v", res, res)
	}
	return v.Value, nil
}

func TestSingleActivationAndFailover(t *testing.T) {
	for _, tc := range []struct {
		name     string
		graceful bool
	}{
		{"kill", false},
		{"graceful", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := startCluster(t, 3)

			// One activation for "a", whichever node asks.
			for i, n := range nodes {
				got, err := add(t, n, "a", 1)
				if err != nil {
					t.Fatalf("request from %s: %v", n.cfg.NodeName, err)
				}
				if got != int64(i+1) {
					t.Fatalf("request from %s: count %d, want %d", n.cfg.NodeName, got, i+1)
				}
			}
			addr, err := where(t, nodes[0], "a")
			if err != nil {
				t.Fatal(err)
			}
			var host *Node
			var rest []*Node
			for _, n := range nodes {
				if n.System.Address() == addr {
					host = n
				} else {
					rest = append(rest, n)
				}
			}
			if host == nil {
				t.Fatalf("activation address %s is no node's", addr)
			}
			t.Logf("identity a lives on %s (%s)", host.cfg.NodeName, addr)

			start := time.Now()
			host.Stop(tc.graceful)
			// Wait for the survivors' topology first: requesting while the
			// topology changes races inside protoactor (disthash rendezvous).
			waitMembers(t, rest, 2, 10*time.Second)

			// Served again by a new activation, from either survivor.
			var first int64
			d := waitFor(t, 10*time.Second, "identity a to be served again", func() bool {
				v, err := add(t, rest[0], "a", 1)
				if err != nil {
					t.Logf("retrying after: %v", err)
					return false
				}
				first = v
				return true
			})
			t.Logf("served again %v after Stop(%v) began (%v after survivors saw the change)", time.Since(start).Round(time.Millisecond), tc.graceful, d.Round(time.Millisecond))
			if first != 1 {
				t.Errorf("first count after failover = %d, want 1 (new activation)", first)
			}
			got, err := add(t, rest[1], "a", 1)
			if err != nil {
				t.Fatalf("request from %s: %v", rest[1].cfg.NodeName, err)
			}
			if got != first+1 {
				t.Errorf("count from %s = %d, want %d (same activation)", rest[1].cfg.NodeName, got, first+1)
			}
			newAddr, err := where(t, rest[1], "a")
			if err != nil {
				t.Fatal(err)
			}
			if newAddr == addr || (newAddr != rest[0].System.Address() && newAddr != rest[1].System.Address()) {
				t.Errorf("new activation on %s, want a survivor", newAddr)
			}
		})
	}
}
