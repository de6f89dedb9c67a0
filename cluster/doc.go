// Package cluster wires protoactor-go's virtual-actor cluster to
// hashicorp/memberlist.
//
// [Provider] is a [pcluster.ClusterProvider] that uses memberlist (SWIM
// gossip) for membership: every node advertises its actor-remote address and
// grain kinds in its memberlist node meta, and one loop goroutine per node
// turns memberlist's view into the complete member set handed to
// protoactor's MemberList.UpdateClusterTopology.
//
// [Start] builds a ready-to-use node: actor system, remote (with an
// advertised host:port), the disthash identity lookup and the memberlist
// provider, and returns once the node has joined and sees itself in the
// cluster topology. [Node.Stop] tears it down again, optionally leaving the
// memberlist cluster gracefully first.
//
// Security between nodes: Config.SecretKey encrypts memberlist's gossip (a
// node with another key cannot join), and Config.ServerTLS/ClientTLS put the
// actor remote under mutual TLS. memberlist knows nothing of the remote's
// certificates, so with TLS the provider admits a memberlist node to the
// topology only once a TLS handshake with its remote verified its certificate
// (ProviderConfig.PeerTLS): a node holding the gossip key but no certificate
// of the cluster CA is never given grains.
//
// Placement is protoactor's disthash (rendezvous hashing over the members
// that host a kind). It gives no hard single-activation guarantee: during
// membership changes two nodes with different views can activate the same
// identity. Grains that own durable state must fence their writes (version
// compare-and-set or epoch) in the database.
//
// Known issues (upstream, protoactor-go v0.0.0-20240822202345-3c0e61ca19c9):
//
//   - Several nodes in one process race inside protoactor and grpc (the
//     race detector reports them; production runs one node per process):
//     remote.Start sets the global grpclog logger on every start; the gossip
//     informer shuffles with a package-level math/rand.Rand; MemberList
//     (Length, ContainsMemberID) and BlockList (BlockedMembers, IsBlocked)
//     read without locks; endpointManager.stop writes fields other
//     goroutines read; disthash's Manager.Get reads the rendezvous table
//     that topology events replace. Multi-node tests therefore build with
//     !race; the provider itself is tested under -race.
//   - The endpoint writer overwrites, without closing, the gRPC ClientConn
//     of each failed connection attempt, and grpc's default non-blocking
//     dial keeps such conns redialling forever. [Start] dials blocking with
//     a timeout (see Config.RemoteDialTimeout) so a failed dial leaves no
//     conn behind, and tries once (Config.RemoteConnectAttempts) instead of
//     5 times with a fixed 2s sleep that blocks the writer.
//   - Cluster.Shutdown(false) only flags the actor system stopped and kills
//     the gRPC server; [Node.Stop] stops memberlist, the endpoint manager,
//     the identity lookup and gossip itself. Cluster.Shutdown(true) always
//     sleeps 2s.
//   - Cluster.RequestFuture uses a package-level default call config bound
//     to the first cluster created in the process; use Cluster.Request.
package cluster

import pcluster "github.com/asynkron/protoactor-go/cluster"

// Compile-time check that Provider satisfies protoactor's contract.
var _ pcluster.ClusterProvider = (*Provider)(nil)
