// Package settings is the runtime configuration: settings operators change without a restart
// (the interpretation price, rate limits, retention periods, and whatever other packages
// register, such as payment packages). Each setting is registered by the package that uses it,
// with its default (the node's flag, or a built-in value), a Parse that validates a JSON value
// and returns its normal form, and an Apply that puts a value in force on this node. A value
// stored in the database overrides the default; a change is stored, audited and announced to
// every node (PostgreSQL NOTIFY in the same transaction) in one transaction, and every node
// also reloads periodically in case a notification was lost.
//
// A package registers its setting with its own Parse and Apply, for instance:
//
//	svc.Register(settings.Int("price_interpretation", "points per job", 10, 0, 1_000_000, false, price.Store))
//
// and then calls Load (a node loads at start and on every change).
package settings
