package persistence

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/divinewhispers/dw/fortune"
)

// PoemCache keeps recently read poems for a short while: every job reads its poem, and poems
// change only when an operator edits a set. An edit is seen by every node within the TTL.
type PoemCache struct {
	Store *Store
	TTL   time.Duration

	mu      sync.Mutex
	entries map[string]cachedPoem
}

type cachedPoem struct {
	poem    fortune.Poem
	setName string
	until   time.Time
}

// Poem reads a poem through the cache. Errors: those of Store.Poem (not found is not cached).
func (c *PoemCache) Poem(ctx context.Context, set string, number int) (fortune.Poem, string, error) {
	key := set + "/" + strconv.Itoa(number)
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.poem, e.setName, nil
	}
	p, name, err := c.Store.Poem(ctx, set, number)
	if err != nil {
		return p, name, err
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) > 10_000 {
		c.entries = map[string]cachedPoem{}
	}
	c.entries[key] = cachedPoem{poem: p, setName: name, until: now.Add(c.TTL)}
	c.mu.Unlock()
	return p, name, nil
}
