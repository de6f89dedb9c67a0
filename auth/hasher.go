package auth

import (
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// HasherOptions bound a Hasher. Zero fields take the defaults.
type HasherOptions struct {
	// Params are the argon2id costs of new hashes (zero = DefaultParams).
	Params Params
	// Concurrency is how many hashes run at once: by default runtime.GOMAXPROCS, and no more
	// than MemoryBudget allows.
	Concurrency int
	// MemoryBudget caps Concurrency × Params.Memory when Concurrency is 0 (default 512 MiB).
	MemoryBudget uint64
	// Queue is how many callers may wait for a slot (default 4 × Concurrency); beyond it a call
	// is refused at once.
	Queue int
	// MaxWait is how long a queued caller waits for a slot before it is refused (default 1 s).
	MaxWait time.Duration
	// RetryAfter is the advice carried by a refusal (default 1 s).
	RetryAfter time.Duration
}

// Hasher runs argon2id under a bound: each hash holds tens of MiB for its whole run, so
// unbounded concurrent logins exhaust memory. At most Concurrency hashes run; a short queue
// waits at most MaxWait; any other call fails at once with a *BusyError.
type Hasher struct {
	params     Params
	slots      chan struct{}
	queue      int64
	maxWait    time.Duration
	retryAfter time.Duration
	noneSalt   []byte // Verify of "" (no such account) derives a key from this salt

	inFlight atomic.Int64
	queued   atomic.Int64
	refused  atomic.Uint64
}

// BusyError is a refusal of a Hasher at capacity; RetryAfter is when to try again.
type BusyError struct{ RetryAfter time.Duration }

func (e *BusyError) Error() string { return "auth: password hashing is at capacity" }

// HasherStats are a Hasher's counters, for metrics.
type HasherStats struct {
	InFlight int64  // hashes running now
	Queued   int64  // callers waiting for a slot now
	Refused  uint64 // calls refused since the start
}

// NewHasher returns a Hasher. It fails on unusable parameters.
func NewHasher(o HasherOptions) (*Hasher, error) {
	if o.Params == (Params{}) {
		o.Params = DefaultParams
	}
	if msg := o.Params.problem(); msg != "" {
		return nil, fmt.Errorf("%w: %s", ErrInvalidParams, msg)
	}
	if o.Concurrency <= 0 {
		if o.MemoryBudget == 0 {
			o.MemoryBudget = 512 << 20
		}
		o.Concurrency = max(1, min(runtime.GOMAXPROCS(0), int(o.MemoryBudget/(uint64(o.Params.Memory)<<10))))
	}
	if o.Queue <= 0 {
		o.Queue = 4 * o.Concurrency
	}
	if o.MaxWait <= 0 {
		o.MaxWait = time.Second
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	salt := make([]byte, o.Params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("auth: reading salt: %w", err)
	}
	return &Hasher{params: o.Params, slots: make(chan struct{}, o.Concurrency), queue: int64(o.Queue),
		maxWait: o.MaxWait, retryAfter: o.RetryAfter, noneSalt: salt}, nil
}

// Params are the parameters of new hashes.
func (h *Hasher) Params() Params { return h.params }

// Stats reads the counters.
func (h *Hasher) Stats() HasherStats {
	return HasherStats{InFlight: h.inFlight.Load(), Queued: h.queued.Load(), Refused: h.refused.Load()}
}

// acquire takes a slot, waiting in the queue if there is room; release gives it back.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		h.inFlight.Add(1)
		return nil
	default:
	}
	if h.queued.Add(1) > h.queue {
		h.queued.Add(-1)
		h.refused.Add(1)
		return &BusyError{RetryAfter: h.retryAfter}
	}
	defer h.queued.Add(-1)
	t := time.NewTimer(h.maxWait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		h.inFlight.Add(1)
		return nil
	case <-t.C:
		h.refused.Add(1)
		return &BusyError{RetryAfter: h.retryAfter}
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() {
	h.inFlight.Add(-1)
	<-h.slots
}

// Hash hashes pw as HashPassword does, under the bound. Errors: *BusyError, the context's
// error while queued, or a failure to read randomness.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return HashPassword(pw, h.params)
}

// HashNew checks a new password's strength for the account of email (CheckStrength) and
// hashes it, both under the bound: scoring a password costs CPU too. Errors: one wrapping
// ErrWeakPassword, *BusyError, the context's error while queued, or a failure to read
// randomness.
func (h *Hasher) HashNew(ctx context.Context, pw, email string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	if err := CheckStrength(pw, email); err != nil {
		return "", err
	}
	return HashPassword(pw, h.params)
}

// Verify reports whether pw matches the encoded hash, as VerifyPassword does, under the bound.
// An empty encoded stands for an account that does not exist: it costs one argon2id with the
// Hasher's parameters, the cost of checking a password against a fresh hash, and reports false,
// so that a login for an unknown email is neither cheaper nor faster than one for a known email.
// Errors: *BusyError, the context's error while queued, or one wrapping ErrMalformedHash.
func (h *Hasher) Verify(ctx context.Context, pw, encoded string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	if encoded == "" {
		p := h.params
		_ = argon2.IDKey([]byte(pw), h.noneSalt, p.Time, p.Memory, p.Threads, p.KeyLen)
		return false, nil
	}
	return VerifyPassword(pw, encoded)
}
