// Package actors holds the cluster grains. The wallet grain owns one wallet: it applies the pure
// rules of package wallet in mailbox order to its current state (committed plus accepted), hands
// the resulting entries to the node's Committer, and answers callers only after the commit. It
// never blocks its mailbox on a commit: requests that arrive meanwhile form the wallet's next
// batch, and the Committer writes the batches of every wallet on the node in one transaction.
//
// A grain whose commit is fenced (another activation wrote the wallet) or fails drops what it
// had accepted, reloads from Postgres and answers CODE_RETRY; Client retries those calls with
// the same idempotency key.
package actors
