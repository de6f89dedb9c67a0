// Package bench holds the benchmarks of the README: durable wallet operations through the grain
// API against a plain-SQL baseline measured in the same run, on a private PostgreSQL with fsync
// on. Run them with `make bench`.
package bench
