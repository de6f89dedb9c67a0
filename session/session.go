package session

import (
	"context"
	"log/slog"
	"sync"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/auth"
	"github.com/divinewhispers/dw/persistence"
)

// Store is what Sessions reads; persistence.Store implements it.
type Store interface {
	// SessionState reads a user and one of its sessions.
	SessionState(ctx context.Context, userID, familyID string) (persistence.SessionState, error)
	// ListenSessions calls ready once listening, then event for each changed user, until the
	// connection fails or ctx ends.
	ListenSessions(ctx context.Context, ready func(), event func(userID string)) error
}

// TTL bounds how long a node trusts what it read without hearing of a change.
const TTL = 10 * time.Second

// maxUsers bounds the cache; past it the cache starts over.
const maxUsers = 100_000

var (
	errUnknownUser = dw.Coded(dw.KindUnauthorized, "invalid_token", "the access token is invalid or expired; log in or refresh")
	// ErrEnded is the error of a token whose session has ended.
	ErrEnded = dw.Coded(dw.KindUnauthorized, "session_revoked", "this session has ended (logout, password change, suspension or role change); log in again")
)

// user is what a node knows of one user's sessions.
type user struct {
	st       persistence.SessionState // FamilyOpen unused: see families
	families map[string]bool          // session id → open
	loaded   time.Time
}

// Sessions is a node's view of session state. It is safe for concurrent use. Without Run it
// caches nothing and asks the store on every check.
type Sessions struct {
	store Store
	log   *slog.Logger

	mu        sync.RWMutex
	users     map[string]*user
	gen       uint64 // moves with every forgetting: a read begun before it is not cached
	listening bool
	watchers  map[string]map[chan struct{}]struct{}
}

// New returns the session state of store.
func New(store Store, log *slog.Logger) *Sessions {
	if log == nil {
		log = slog.Default()
	}
	return &Sessions{store: store, log: log, users: map[string]*user{}, watchers: map[string]map[chan struct{}]struct{}{}}
}

// Check says whether the session of an access token (already verified by auth.Issuer) is still
// open. Errors: unauthorized (invalid_token for a user that does not exist, session_revoked
// for an ended session), unavailable when the database cannot say.
func (s *Sessions) Check(ctx context.Context, c *auth.Claims) error {
	st, open, err := s.state(ctx, c.UserID, c.SessionID)
	if err != nil {
		return &dw.Error{Kind: dw.KindUnavailable, Code: "unavailable", Message: "cannot check the session now; retry", Err: err}
	}
	switch {
	case !st.UserExists:
		return errUnknownUser
	case !open, st.Version != c.Version, st.Status != "active", st.Role != c.Role:
		return ErrEnded
	}
	return nil
}

func (s *Sessions) state(ctx context.Context, userID, sessionID string) (persistence.SessionState, bool, error) {
	start := time.Now()
	s.mu.RLock()
	if u := s.users[userID]; u != nil && start.Sub(u.loaded) < TTL {
		if open, ok := u.families[sessionID]; ok {
			st := u.st
			s.mu.RUnlock()
			return st, open, nil
		}
	}
	gen, listening := s.gen, s.listening
	s.mu.RUnlock()

	st, err := s.store.SessionState(ctx, userID, sessionID)
	if err != nil || !listening {
		return st, st.FamilyOpen, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen { // something changed while we read: do not keep what may be stale
		return st, st.FamilyOpen, nil
	}
	u := s.users[userID]
	if u == nil || start.Sub(u.loaded) >= TTL {
		if len(s.users) >= maxUsers {
			clear(s.users)
		}
		u = &user{families: map[string]bool{}, loaded: start}
		s.users[userID] = u
	}
	u.st = st
	u.families[sessionID] = st.FamilyOpen
	return st, st.FamilyOpen, nil
}

// Watch returns a channel that receives (without blocking the sender; one pending signal at
// most) whenever the sessions of userID may have changed: the holder of a live stream then
// checks its token again. Call stop when done.
func (s *Sessions) Watch(userID string) (changed <-chan struct{}, stop func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	if s.watchers[userID] == nil {
		s.watchers[userID] = map[chan struct{}]struct{}{}
	}
	s.watchers[userID][ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.watchers[userID], ch)
		if len(s.watchers[userID]) == 0 {
			delete(s.watchers, userID)
		}
		s.mu.Unlock()
	}
}

// forget drops what is known of a user, after a notification of a change.
func (s *Sessions) forget(userID string) {
	s.mu.Lock()
	delete(s.users, userID)
	s.gen++
	poke(s.watchers[userID])
	s.mu.Unlock()
}

// reset drops everything known, when the listener starts or stops listening.
func (s *Sessions) reset(listening bool) {
	s.mu.Lock()
	clear(s.users)
	s.gen++
	s.listening = listening
	for _, ws := range s.watchers {
		poke(ws)
	}
	s.mu.Unlock()
}

func poke(ws map[chan struct{}]struct{}) {
	for ch := range ws {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Run listens for session changes until ctx ends, reconnecting after a lost connection (and
// caching nothing until it listens again).
func (s *Sessions) Run(ctx context.Context) {
	const maxBackoff = 5 * time.Second
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.store.ListenSessions(ctx, func() {
			s.reset(true)
			backoff = 100 * time.Millisecond
		}, s.forget)
		s.reset(false)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("session listener lost; every request reads the database until it is back", "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}
