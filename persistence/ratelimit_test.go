package persistence

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/divinewhispers/dw/internal/pgtest"
)

// TestRateLimitTake: concurrent leases of one window never take more than its limit and,
// spent to the end, take exactly it; the first refusal is recorded once; ended windows go.
func TestRateLimitTake(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), pgtest.NewDB(t), 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	r := s.RateLimits()
	window := time.Now().Truncate(time.Minute)
	end := window.Add(time.Minute)
	for _, limit := range []int{1, 10, 1000} {
		key := "jobs:user:" + time.Duration(limit).String()
		var total atomic.Int64
		var leases atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					n, err := r.Take(t.Context(), key, window, end, limit)
					if err != nil {
						t.Error(err)
						return
					}
					if n == 0 {
						return
					}
					total.Add(int64(n))
					leases.Add(1)
				}
			}()
		}
		wg.Wait()
		if total.Load() != int64(limit) {
			t.Fatalf("limit %d: leased %d tokens in %d leases", limit, total.Load(), leases.Load())
		}
		t.Logf("limit %d: %d leases", limit, leases.Load())
		var firsts int
		for range 3 {
			first, err := r.Refused(t.Context(), key, window)
			if err != nil {
				t.Fatal(err)
			}
			if first {
				firsts++
			}
		}
		if firsts != 1 {
			t.Fatalf("limit %d: %d first refusals, want 1", limit, firsts)
		}
	}
	if n, err := r.Sweep(t.Context(), end); err != nil || n != 0 {
		t.Fatalf("sweep at the window's end removed %d (%v), want 0", n, err)
	}
	if n, err := r.Sweep(t.Context(), end.Add(time.Second)); err != nil || n != 3 {
		t.Fatalf("sweep after the window removed %d (%v), want 3", n, err)
	}
}
