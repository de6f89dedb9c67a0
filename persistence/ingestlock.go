package persistence

import (
	"context"
	"time"
)

// SourceByID reads an ingest source. Errors: not_found, internal.
func (s *Store) SourceByID(ctx context.Context, id string) (IngestSource, error) {
	src, err := scanSource(s.pool.QueryRow(ctx, `SELECT `+sourceColumns+` FROM ingest_sources WHERE id = $1`, id))
	return src, mapError(err, "ingest source")
}

// WithSourceLock runs fn while this process holds the source's advisory lock, so that only one
// scan of a source runs at a time anywhere in the cluster (a second grain activation, a CLI
// `dw ingest run`). ok is false, and fn is not run, when another holder has it. The lock is a
// session lock on a connection kept for the scan: it goes away with the session if the node dies.
func (s *Store) WithSourceLock(ctx context.Context, sourceID string, fn func() error) (ok bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, mapError(err, "ingest lock")
	}
	defer conn.Release()
	key := "dw/ingest/" + sourceID
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended($1, 0))`, key).Scan(&ok); err != nil || !ok {
		return false, mapError(err, "ingest lock")
	}
	defer func() {
		unlockCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, uerr := conn.Exec(unlockCtx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, key); uerr != nil {
			conn.Conn().Close(unlockCtx) // a connection that may still hold the lock is not reused
		}
	}()
	return true, fn()
}
