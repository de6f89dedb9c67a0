package gateway

import (
	"sync"

	dw "github.com/divinewhispers/dw"
)

// streamCounts counts the WebSockets each user holds open on this node, so
// that one user cannot hold the node's goroutines and subscriptions: the rate limit's ws class
// bounds how fast connections open, this bounds how many stay open.
type streamCounts struct {
	mu   sync.Mutex
	open map[string]int
}

// errTooManyStreams answers a user who already holds the most streams a node allows.
func errTooManyStreams(max int) error {
	return dw.Coded(dw.KindRateLimited, "too_many_streams",
		"this user already holds %d WebSockets open on this node: close one first", max)
}

// full says whether user holds max streams or more (a check before an upgrade; acquire decides).
func (sc *streamCounts) full(user string, max int) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.open[user] >= max
}

// acquire counts one more open stream of user, or says false when it holds max already; a
// true answer must be matched by one release.
func (sc *streamCounts) acquire(user string, max int) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.open[user] >= max {
		return false
	}
	if sc.open == nil {
		sc.open = map[string]int{}
	}
	sc.open[user]++
	return true
}

func (sc *streamCounts) release(user string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.open[user]--; sc.open[user] <= 0 {
		delete(sc.open, user)
	}
}
