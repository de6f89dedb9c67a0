// Package ratelimit counts requests per key (a client address or a user) and route class in
// fixed windows, against limits that hold across the nodes of a cluster.
//
// Each node leases tokens of a key's window from a Store shared by the cluster (PostgreSQL in
// production, see persistence.RateLimitStore; MemoryStore for one process) and spends them
// locally, so most requests cost a map lookup. A lease never takes the shared count past the
// limit, and each lease takes at most an eighth of what remains (at least one), so:
//
//   - the cluster never admits more than the limit in a window (no overshoot) while the store
//     answers;
//   - it may admit fewer: tokens leased by a node and not spent by the window's end are lost,
//     at most one lease per node (≤ max(1, limit/8) each);
//   - when the store fails, each node falls back to counting alone (a node then admits up to
//     the limit, the cluster up to nodes × limit) and reports the error.
//
// Once a node learns that a key's window is spent it refuses that key without asking the store
// until the window ends: a flood costs one map lookup per request.
package ratelimit
