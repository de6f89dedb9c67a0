package persistence

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// RateLimitStore is the count of rate-limit windows shared by the nodes of a cluster (a
// ratelimit.Store).
type RateLimitStore struct{ s *Store }

// RateLimits returns the store's rate-limit windows.
func (s *Store) RateLimits() RateLimitStore { return RateLimitStore{s} }

// Take leases tokens of key's window, which ends at end: an eighth of what remains of limit, at
// least one (ratelimit.Grant), never past the limit; 0 when the window is spent. One statement:
// concurrent leases of a key are serialised by its row.
// Errors: unavailable, internal.
func (r RateLimitStore) Take(ctx context.Context, key string, window, end time.Time, limit int) (int, error) {
	var n int
	err := r.s.pool.QueryRow(ctx, `
		INSERT INTO rate_limit_windows AS w (key, window_start, window_end, used, last_grant)
		VALUES ($1, $2, $3, GREATEST(1, $4::int / 8), GREATEST(1, $4::int / 8))
		ON CONFLICT (key, window_start) DO UPDATE
		   SET used = w.used + GREATEST(1, ($4::int - w.used) / 8),
		       last_grant = GREATEST(1, ($4::int - w.used) / 8)
		 WHERE w.used < $4::int
		RETURNING last_grant`, key, window, end, limit).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return n, mapError(err, "rate limit window")
}

// Refused records that key's window refused a request, and reports whether this call was the
// first to record it.
// Errors: unavailable, internal.
func (r RateLimitStore) Refused(ctx context.Context, key string, window time.Time) (bool, error) {
	tag, err := r.s.pool.Exec(ctx, `UPDATE rate_limit_windows SET refused = true
		WHERE key = $1 AND window_start = $2 AND NOT refused`, key, window)
	return tag.RowsAffected() == 1, mapError(err, "rate limit window")
}

// Sweep removes the windows that ended before t, and returns how many.
// Errors: unavailable, internal.
func (r RateLimitStore) Sweep(ctx context.Context, t time.Time) (int64, error) {
	tag, err := r.s.pool.Exec(ctx, `DELETE FROM rate_limit_windows WHERE window_end < $1`, t)
	return tag.RowsAffected(), mapError(err, "rate limit windows")
}
