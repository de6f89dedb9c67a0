// Package wallet holds the pure rules of a points wallet: what a deposit, spend, hold, capture,
// release, refund and adjustment do to its state, and which of them are refused. It knows nothing
// of actors, SQL or HTTP: the wallet grain applies these rules in mailbox order and persists the
// entries they return.
//
// Money is int64 points. Every entry carries the deltas it makes to the balance and to the held
// amount, so a wallet's balance is always the sum of its entries' balance deltas, and its held
// amount the sum of their held deltas.
package wallet
