package ratelimit

import (
	"context"
	"hash/maphash"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Store is the count of a key's window shared by the nodes of a cluster.
type Store interface {
	// Take leases tokens of key's window (which ends at end) without taking its count past
	// limit: Grant(limit, used) of them, 0 when the window is spent.
	Take(ctx context.Context, key string, window, end time.Time, limit int) (int, error)
	// Refused records that key's window refused a request, and reports whether this call was
	// the first to record it in the cluster.
	Refused(ctx context.Context, key string, window time.Time) (first bool, err error)
}

// Grant is how many tokens one lease takes when used of limit are taken: an eighth of what
// remains, at least one, never past the limit. Stores compute it where they count.
func Grant(limit, used int) int {
	left := limit - used
	if left <= 0 {
		return 0
	}
	return max(1, left/8)
}

// Config is what a Limiter needs.
type Config struct {
	Rates map[string]Rate // by class; a class missing or Off is not limited
	Store Store           // nil: a MemoryStore (one process)
	// OnRefused, if set, is called once per key and window in the cluster, on its first
	// refused request (for the audit log).
	OnRefused func(class, key string, window time.Time)
	// OnStoreError, if set, is told of a store failure (the node then counts alone).
	OnStoreError func(error)
	Registerer   prometheus.Registerer // dw_rate_limited_total{class}; nil: not exported
	Now          func() time.Time      // nil: time.Now
}

// Decision is the answer to one request.
type Decision struct {
	Allowed    bool
	RetryAfter time.Duration // when refused: until the window ends
	Limit      Rate
}

// Limiter decides whether a request of a class and key is within its limit.
type Limiter struct {
	cfg     Config
	seed    maphash.Seed
	shards  [64]shard
	refused *prometheus.CounterVec
	failed  prometheus.Counter
	// rates are the limits in force: cfg.Rates at first, changed by SetRate at run time
	// (copy on write: requests read them without a lock).
	rates   atomic.Pointer[map[string]Rate]
	ratesMu sync.Mutex // serialises SetRate
}

type shard struct {
	mu sync.Mutex
	m  map[entryKey]*entry
}

type entryKey struct{ class, key string }

// entry is this node's view of one key's current window.
type entry struct {
	mu       sync.Mutex
	window   time.Time // start
	end      time.Time
	tokens   int  // leased, not yet spent
	admitted int  // admitted by this node in the window (the count when the store fails)
	spent    bool // the cluster's count reached the limit
	reported bool // this node has recorded a refusal of the window
	// storeDown is when the store last failed for this key: for storeBackoff after it, the
	// node counts alone without asking (requests do not each wait for a dead database).
	storeDown time.Time
}

// storeBackoff is how long a key counts alone after its store failed.
const storeBackoff = time.Second

// New returns a limiter.
func New(cfg Config) *Limiter {
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Limiter{cfg: cfg, seed: maphash.MakeSeed()}
	rates := maps.Clone(cfg.Rates)
	l.rates.Store(&rates)
	for i := range l.shards {
		l.shards[i].m = map[entryKey]*entry{}
	}
	l.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dw_rate_limited_total", Help: "Requests refused (429) by the rate limits, by route class.",
	}, []string{"class"})
	for _, c := range Classes {
		l.refused.WithLabelValues(c) // every class shows, at 0
	}
	l.failed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dw_rate_limit_store_errors_total", Help: "Failures to reach the rate limits' shared count (the node then counts alone).",
	})
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(l.refused, l.failed)
	}
	return l
}

// Limits reports whether class has a limit.
func (l *Limiter) Limits(class string) bool { return !l.Rate(class).Off() }

// Rate is the limit of class.
func (l *Limiter) Rate(class string) Rate { return (*l.rates.Load())[class] }

// SetRate changes the limit of class from the next request on (runtime configuration): the
// current window's count is held to the new limit (tokens a node has already leased are still
// spent; a key the old limit refused stays refused until its window ends); a new window length
// starts a new window.
func (l *Limiter) SetRate(class string, r Rate) {
	l.ratesMu.Lock()
	defer l.ratesMu.Unlock()
	next := maps.Clone(*l.rates.Load())
	if next == nil {
		next = map[string]Rate{}
	}
	next[class] = r
	l.rates.Store(&next)
}

// storeTimeout bounds a lease: past it the node counts alone rather than hold requests.
const storeTimeout = time.Second

// Allow spends one request of key in class. Requests of one key on one node are decided in
// turn; those of different keys do not wait for each other.
func (l *Limiter) Allow(ctx context.Context, class, key string) Decision {
	r := l.Rate(class)
	if r.Off() {
		return Decision{Allowed: true}
	}
	now := l.cfg.Now()
	window := now.Truncate(r.Per)
	end := window.Add(r.Per)
	e := l.entry(entryKey{class, key})

	e.mu.Lock()
	if !e.window.Equal(window) {
		e.window, e.end, e.tokens, e.admitted, e.spent, e.reported = window, end, 0, 0, false, false
		e.storeDown = time.Time{}
	}
	d := Decision{Allowed: true, Limit: r}
	switch {
	case e.tokens > 0:
		e.tokens--
	case e.spent:
		d.Allowed = false
	case now.Sub(e.storeDown) < storeBackoff:
		d.Allowed = e.admitted < r.Limit
	default:
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		n, err := l.cfg.Store.Take(sctx, class+":"+key, window, end, r.Limit)
		cancel()
		switch {
		case err != nil:
			l.failed.Inc()
			if l.cfg.OnStoreError != nil {
				l.cfg.OnStoreError(err)
			}
			e.storeDown = now
			d.Allowed = e.admitted < r.Limit
		case n == 0:
			e.spent, d.Allowed = true, false
		default:
			e.tokens = n - 1
		}
	}
	if d.Allowed {
		e.admitted++
		e.mu.Unlock()
		return d
	}
	report := !e.reported
	e.reported = true
	e.mu.Unlock()

	l.refused.WithLabelValues(class).Inc()
	d.RetryAfter = end.Sub(now)
	if report && l.cfg.OnRefused != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		first, err := l.cfg.Store.Refused(sctx, class+":"+key, window)
		cancel()
		if err != nil {
			l.failed.Inc()
			if l.cfg.OnStoreError != nil {
				l.cfg.OnStoreError(err)
			}
		}
		if first || err != nil {
			l.cfg.OnRefused(class, key, window)
		}
	}
	return d
}

func (l *Limiter) entry(k entryKey) *entry {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(k.class)
	h.WriteString(k.key)
	s := &l.shards[h.Sum64()%uint64(len(l.shards))]
	s.mu.Lock()
	e := s.m[k]
	if e == nil {
		e = &entry{}
		s.m[k] = e
	}
	s.mu.Unlock()
	return e
}

// Sweep forgets the keys whose window ended before now, and returns how many it forgot.
func (l *Limiter) Sweep(now time.Time) int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if !e.mu.TryLock() {
				continue // in use, so not idle: the next sweep looks again
			}
			if !e.end.After(now) {
				delete(s.m, k)
				n++
			}
			e.mu.Unlock()
		}
		s.mu.Unlock()
	}
	return n
}
