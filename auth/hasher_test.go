package auth

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitStats polls h until cond holds (the queue is entered by another goroutine).
func waitStats(t *testing.T, h *Hasher, what string, cond func(HasherStats) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond(h.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, h.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestHasherBound(t *testing.T) {
	t.Parallel()
	h, err := NewHasher(HasherOptions{Params: cheapParams, Concurrency: 1, Queue: 1, MaxWait: time.Minute, RetryAfter: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Hold the only slot, as a long hash would.
	if err := h.acquire(t.Context()); err != nil {
		t.Fatal(err)
	}
	queued := make(chan error, 1)
	go func() { _, err := h.Hash(context.Background(), "queued password"); queued <- err }()
	waitStats(t, h, "one queued", func(s HasherStats) bool { return s.Queued == 1 })

	_, err = h.Verify(t.Context(), "refused password", "")
	var busy *BusyError
	if !errors.As(err, &busy) || busy.RetryAfter != 3*time.Second {
		t.Fatalf("call beyond the queue: %v, want a BusyError advising 3s", err)
	}
	if s := h.Stats(); s.InFlight != 1 || s.Queued != 1 || s.Refused != 1 {
		t.Fatalf("stats %+v", s)
	}
	h.release()
	if err := <-queued; err != nil {
		t.Fatalf("queued hash after the slot freed: %v", err)
	}
	if s := h.Stats(); s.InFlight != 0 || s.Queued != 0 {
		t.Fatalf("stats after %+v", s)
	}
}

func TestHasherQueueWaitIsBounded(t *testing.T) {
	t.Parallel()
	h, err := NewHasher(HasherOptions{Params: cheapParams, Concurrency: 1, Queue: 4, MaxWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.acquire(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer h.release()
	start := time.Now()
	_, err = h.Hash(t.Context(), "waits too long")
	var busy *BusyError
	if !errors.As(err, &busy) || busy.RetryAfter != time.Second {
		t.Fatalf("queued past MaxWait: %v, want a BusyError advising the default 1s", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("refused after %v", d)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	h2, _ := NewHasher(HasherOptions{Params: cheapParams, Concurrency: 1, MaxWait: time.Minute})
	_ = h2.acquire(t.Context())
	if _, err := h2.Hash(ctx, "cancelled"); !errors.Is(err, context.Canceled) {
		t.Fatalf("queued with a cancelled context: %v", err)
	}
}

func TestHasherVerify(t *testing.T) {
	t.Parallel()
	h, err := NewHasher(HasherOptions{Params: cheapParams})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hash(t.Context(), "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.HashNew(t.Context(), "password", "a@example.com"); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("HashNew of a weak password: %v", err)
	}
	enc, err := h.HashNew(t.Context(), "correct horse battery staple", "a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if NeedsRehash(enc, cheapParams) {
		t.Fatalf("hash %q not made with the hasher's params", enc)
	}
	for _, c := range []struct {
		name, pw, enc string
		want          bool
		wantErr       error
	}{
		{"right password", "correct horse battery staple", enc, true, nil},
		{"wrong password", "wrong horse", enc, false, nil},
		{"no such account", "correct horse battery staple", "", false, nil},
		{"malformed hash", "x", "$argon2id$v=19$bad", false, ErrMalformedHash},
	} {
		ok, err := h.Verify(t.Context(), c.pw, c.enc)
		if ok != c.want || !errors.Is(err, c.wantErr) {
			t.Errorf("%s: %v, %v; want %v, %v", c.name, ok, err, c.want, c.wantErr)
		}
	}
}

func TestNewHasherDefaults(t *testing.T) {
	t.Parallel()
	h, err := NewHasher(HasherOptions{MemoryBudget: 128 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if h.Params() != DefaultParams || cap(h.slots) < 1 || cap(h.slots) > 2 || h.queue != int64(4*cap(h.slots)) {
		t.Fatalf("params %+v, %d slots, queue %d: 64 MiB hashes in a 128 MiB budget run at most 2 at once", h.Params(), cap(h.slots), h.queue)
	}
	if _, err := NewHasher(HasherOptions{Params: Params{Memory: 1, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}}); !errors.Is(err, ErrInvalidParams) {
		t.Fatalf("unusable params: %v", err)
	}
}
