package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/divinewhispers/dw/ratelimit"
)

// BenchmarkRateLimit is the limiter's cost per admitted request, from 64 concurrent callers:
//   - local: tokens in hand (the hot path of every request once a lease is held);
//   - postgres/lease-once: a limit no test reaches, the count shared through PostgreSQL (one
//     lease per key and window: what a node pays behind the HTTP benchmark);
//   - postgres/limit-1200: a realistic per-user limit spent to the end, key after key (about
//     48 leases per 1,200 requests);
//   - postgres/upsert-per-request: a fresh key per request, so every request is one upsert —
//     what counting each request in PostgreSQL would cost.
func BenchmarkRateLimit(b *testing.B) {
	setup(b)
	for _, bc := range []struct {
		name  string
		pg    bool
		limit int
		keyOf func(i int64) string
	}{
		{"local", false, 1_000_000_000, func(i int64) string { return fmt.Sprint("user:", i%64) }},
		{"postgres/lease-once", true, 1_000_000_000, func(i int64) string { return fmt.Sprint("user:", i%64) }},
		{"postgres/limit-1200", true, 1200, func(i int64) string { return fmt.Sprint("user:", i/1200) }},
		{"postgres/upsert-per-request", true, 1, func(i int64) string { return fmt.Sprint("user:", i) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := ratelimit.Config{Rates: map[string]ratelimit.Rate{"reads": {Limit: bc.limit, Per: time.Hour}}}
			if bc.pg {
				cfg.Store = store.RateLimits()
			}
			l := ratelimit.New(cfg)
			run := fmt.Sprint(time.Now().UnixNano(), ":") // keys of an earlier run are spent
			var seq atomic.Int64
			var refused atomic.Int64
			ctx := context.Background()
			b.SetParallelism((callers + 1) / 2) // 2 cores here: 64 goroutines
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !l.Allow(ctx, "reads", run+bc.keyOf(seq.Add(1)-1)).Allowed {
						refused.Add(1)
					}
				}
			})
			b.ReportMetric(float64(refused.Load()), "refused")
		})
	}
}
