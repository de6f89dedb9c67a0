package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/divinewhispers/dw/ratelimit"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want ratelimit.Rate
		err  bool
	}{
		{in: "20/m", want: ratelimit.Rate{Limit: 20, Per: time.Minute}},
		{in: "5/s", want: ratelimit.Rate{Limit: 5, Per: time.Second}},
		{in: "1000/h", want: ratelimit.Rate{Limit: 1000, Per: time.Hour}},
		{in: " 100/10m ", want: ratelimit.Rate{Limit: 100, Per: 10 * time.Minute}},
		{in: "off", want: ratelimit.Rate{}},
		{in: "0", want: ratelimit.Rate{}},
		{in: "20", err: true},
		{in: "0/m", err: true},
		{in: "-1/m", err: true},
		{in: "x/m", err: true},
		{in: "10/d", err: true},
		{in: "10/500ms", err: true},
		{in: "10/1500ms", err: true},
		{in: "10/48h", err: true},
		{in: "2000000000/s", err: true},
		{in: "", err: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ratelimit.ParseRate(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("ParseRate(%q) error %v, want error %v", tc.in, err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("ParseRate(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if err == nil {
				if back, err := ratelimit.ParseRate(got.String()); err != nil || back != got {
					t.Fatalf("round trip of %q through %q: %+v, %v", tc.in, got.String(), back, err)
				}
			}
		})
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"20/m", "100/10m", "off", "5/s", "1/24h", "x", "10/0s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ratelimit.ParseRate(s)
		if err != nil {
			return
		}
		if !r.Off() && (r.Limit < 1 || r.Per < time.Second || r.Per > 24*time.Hour) {
			t.Fatalf("ParseRate(%q) accepted %+v", s, r)
		}
		if back, err := ratelimit.ParseRate(r.String()); err != nil || back != r {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", s, r, r.String(), back, err)
		}
	})
}

func TestGrant(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ limit, used, want int }{
		{10, 0, 1}, {10, 9, 1}, {10, 10, 0}, {10, 12, 0}, {16, 0, 2}, {1200, 0, 150}, {1200, 1190, 1},
	} {
		if got := ratelimit.Grant(tc.limit, tc.used); got != tc.want {
			t.Errorf("Grant(%d, %d) = %d, want %d", tc.limit, tc.used, got, tc.want)
		}
	}
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock               { return &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} }
func allowed(ds []ratelimit.Decision) int {
	n := 0
	for _, d := range ds {
		if d.Allowed {
			n++
		}
	}
	return n
}

func TestLimiter(t *testing.T) {
	t.Parallel()
	rates := map[string]ratelimit.Rate{
		ratelimit.ClassAuth:  {Limit: 3, Per: time.Minute},
		ratelimit.ClassReads: {Limit: 100, Per: time.Second},
	}
	for _, tc := range []struct {
		name         string
		class, key   string
		n            int
		advance      time.Duration // before the last request
		wantAllowed  int
		wantLastOK   bool
		wantRetryMax time.Duration
	}{
		{name: "under the limit", class: "auth", key: "ip:1", n: 3, wantAllowed: 3, wantLastOK: true},
		{name: "over the limit", class: "auth", key: "ip:1", n: 5, wantAllowed: 3, wantRetryMax: time.Minute},
		{name: "a new window", class: "auth", key: "ip:1", n: 5, advance: time.Minute, wantAllowed: 4, wantLastOK: true},
		{name: "large limit", class: "reads", key: "user:a", n: 150, wantAllowed: 100, wantRetryMax: time.Second},
		{name: "class without a limit", class: "money", key: "user:a", n: 1000, wantAllowed: 1000, wantLastOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			l := ratelimit.New(ratelimit.Config{Rates: rates, Now: c.now})
			var ds []ratelimit.Decision
			for i := range tc.n {
				if i == tc.n-1 {
					c.add(tc.advance)
				}
				ds = append(ds, l.Allow(t.Context(), tc.class, tc.key))
			}
			last := ds[len(ds)-1]
			if got := allowed(ds); got != tc.wantAllowed || last.Allowed != tc.wantLastOK {
				t.Fatalf("allowed %d (last %v), want %d (last %v)", got, last.Allowed, tc.wantAllowed, tc.wantLastOK)
			}
			if !last.Allowed && (last.RetryAfter <= 0 || last.RetryAfter > tc.wantRetryMax) {
				t.Fatalf("Retry-After %v, want in (0, %v]", last.RetryAfter, tc.wantRetryMax)
			}
		})
	}
}

// TestLimiterKeysApart: keys and classes count apart.
func TestLimiterKeysApart(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := ratelimit.New(ratelimit.Config{Now: c.now, Rates: map[string]ratelimit.Rate{
		"auth": {Limit: 2, Per: time.Minute}, "draws": {Limit: 2, Per: time.Minute}}})
	for _, k := range []struct{ class, key string }{{"auth", "ip:a"}, {"auth", "ip:b"}, {"draws", "ip:a"}} {
		for i := range 3 {
			if got, want := l.Allow(t.Context(), k.class, k.key).Allowed, i < 2; got != want {
				t.Fatalf("%s %s request %d: allowed %v, want %v", k.class, k.key, i+1, got, want)
			}
		}
	}
}

// TestLimiterSharedStore: three limiters (three nodes) sharing one store admit exactly the
// limit between them, however the requests are spread and however many run at once, and
// report the refusal of a key's window once.
func TestLimiterSharedStore(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		limit, n   int
		concurrent bool
	}{
		{name: "small limit, round robin", limit: 10, n: 30},
		{name: "large limit, round robin", limit: 1000, n: 3000},
		{name: "large limit, concurrent", limit: 1000, n: 3000, concurrent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			store := ratelimit.NewMemoryStore()
			var reports atomic.Int32
			var nodes []*ratelimit.Limiter
			for range 3 {
				nodes = append(nodes, ratelimit.New(ratelimit.Config{Store: store, Now: c.now,
					Rates:     map[string]ratelimit.Rate{"jobs": {Limit: tc.limit, Per: time.Minute}},
					OnRefused: func(string, string, time.Time) { reports.Add(1) }}))
			}
			var ok atomic.Int32
			var wg sync.WaitGroup
			for i := range tc.n {
				do := func() {
					if nodes[i%3].Allow(t.Context(), "jobs", "user:u").Allowed {
						ok.Add(1)
					}
				}
				if tc.concurrent {
					wg.Add(1)
					go func() { defer wg.Done(); do() }()
				} else {
					do()
				}
			}
			wg.Wait()
			// Tokens a node leased and did not spend are lost: at most one lease per node.
			if got, lost := int(ok.Load()), 3*max(1, tc.limit/8); got > tc.limit || got < tc.limit-lost {
				t.Fatalf("admitted %d of %d, want %d (at most %d lost to unspent leases)", got, tc.n, tc.limit, lost)
			}
			if got := reports.Load(); got != 1 {
				t.Fatalf("the refusal was reported %d times, want once", got)
			}
		})
	}
}

// failing is a store whose database is down.
type failing struct{ takes *atomic.Int32 }

func (f failing) Take(context.Context, string, time.Time, time.Time, int) (int, error) {
	f.takes.Add(1)
	return 0, errors.New("connection refused")
}
func (failing) Refused(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("connection refused")
}

// TestLimiterStoreDown: when the store fails, the node counts alone and says so, asking the
// store again for a key only after a second.
func TestLimiterStoreDown(t *testing.T) {
	t.Parallel()
	var errs, takes atomic.Int32
	c := newClock()
	l := ratelimit.New(ratelimit.Config{Store: failing{&takes}, Now: c.now,
		Rates:        map[string]ratelimit.Rate{"auth": {Limit: 5, Per: time.Minute}},
		OnStoreError: func(error) { errs.Add(1) }})
	var ds []ratelimit.Decision
	for range 8 {
		ds = append(ds, l.Allow(t.Context(), "auth", "ip:x"))
	}
	if got := allowed(ds); got != 5 || errs.Load() == 0 {
		t.Fatalf("allowed %d with the store down (errors reported %d), want 5 (and errors)", got, errs.Load())
	}
	if takes.Load() != 1 {
		t.Fatalf("the store was asked %d times within a second, want once", takes.Load())
	}
	c.add(time.Second)
	l.Allow(t.Context(), "auth", "ip:x")
	if takes.Load() != 2 {
		t.Fatalf("the store was asked %d times, want again after a second", takes.Load())
	}
}

func TestLimiterSweep(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := ratelimit.New(ratelimit.Config{Now: c.now, Rates: map[string]ratelimit.Rate{"reads": {Limit: 5, Per: time.Minute}}})
	for i := range 10 {
		l.Allow(t.Context(), "reads", fmt.Sprint("ip:", i))
	}
	if n := l.Sweep(c.now()); n != 0 {
		t.Fatalf("swept %d keys of the current window", n)
	}
	if n := l.Sweep(c.now().Add(time.Minute)); n != 10 {
		t.Fatalf("swept %d keys after the window, want 10", n)
	}
}

// BenchmarkAllow is the limiter's cost per admitted request on the hot path (tokens leased).
func BenchmarkAllow(b *testing.B) {
	l := ratelimit.New(ratelimit.Config{Rates: map[string]ratelimit.Rate{"reads": {Limit: 1_000_000_000, Per: time.Hour}}})
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = fmt.Sprint("user:", i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if !l.Allow(ctx, "reads", keys[i%len(keys)]).Allowed {
				b.Fatal("refused")
			}
			i++
		}
	})
}
