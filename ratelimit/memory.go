package ratelimit

import (
	"context"
	"sync"
	"time"
)

// MemoryStore counts windows in this process: the Store of a single node, and of tests.
type MemoryStore struct {
	mu    sync.Mutex
	m     map[memKey]*memWindow
	calls int
}

type memKey struct {
	key    string
	window time.Time
}

type memWindow struct {
	used    int
	refused bool
	end     time.Time
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: map[memKey]*memWindow{}} }

// Take implements Store. Errors: none.
func (s *MemoryStore) Take(_ context.Context, key string, window, end time.Time, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.window(key, window, end)
	n := Grant(limit, w.used)
	w.used += n
	return n, nil
}

// Refused implements Store. Errors: none.
func (s *MemoryStore) Refused(_ context.Context, key string, window time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.window(key, window, window)
	first := !w.refused
	w.refused = true
	return first, nil
}

func (s *MemoryStore) window(key string, window, end time.Time) *memWindow {
	if s.calls++; s.calls%4096 == 0 {
		for k, w := range s.m {
			if w.end.Before(window) {
				delete(s.m, k)
			}
		}
	}
	k := memKey{key, window}
	w := s.m[k]
	if w == nil {
		w = &memWindow{end: end}
		s.m[k] = w
	}
	return w
}
