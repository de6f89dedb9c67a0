package session

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/auth"
	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/persistence"
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, pgtest.Options{Migrate: persistence.Migrate}))
}

// counted is the real store, counting the session reads that reach the database.
type counted struct {
	*persistence.Store
	reads atomic.Int64
}

func (c *counted) SessionState(ctx context.Context, userID, familyID string) (persistence.SessionState, error) {
	c.reads.Add(1)
	return c.Store.SessionState(ctx, userID, familyID)
}

type bundle struct {
	store    *counted
	sessions *Sessions
	claims   *auth.Claims // of a user's open session
}

// setup starts Sessions listening on a fresh database with one user logged in once.
func setup(t testing.TB, ctx context.Context) bundle {
	t.Helper()
	st, err := persistence.Open(ctx, pgtest.NewDB(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	u, err := st.CreateUser(ctx, "s-"+uuid.NewString()+"@example.com", "x", "user", persistence.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	family := uuid.NewString()
	if err := st.CreateRefreshToken(ctx, u.ID, family, []byte(family), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	b := bundle{store: &counted{Store: st}, claims: &auth.Claims{UserID: u.ID, Role: u.Role, WalletID: u.WalletID, SessionID: family}}
	b.sessions = New(b.store, nil)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.sessions.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitUntil(t, "listening", func() bool {
		b.sessions.mu.RLock()
		defer b.sessions.mu.RUnlock()
		return b.sessions.listening
	})
	return b
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling a condition with a deadline
	}
}

// TestCheckCachesUntilTold: once read, a session is answered from memory; a change committed
// to the database is heard within a second and the next check reads it again.
func TestCheckCachesUntilTold(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := setup(t, ctx)
	for range 100 {
		if err := b.sessions.Check(ctx, b.claims); err != nil {
			t.Fatalf("open session refused: %v", err)
		}
	}
	if n := b.store.reads.Load(); n != 1 {
		t.Fatalf("%d database reads for 100 checks of one session, want 1", n)
	}
	changed, stop := b.sessions.Watch(b.claims.UserID)
	defer stop()
	if _, err := b.store.UpdateUser(ctx, b.claims.UserID, "operator", "", persistence.AuditEntry{Action: "test"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(time.Second):
		t.Fatal("no word of the role change within a second")
	}
	if err := b.sessions.Check(ctx, b.claims); dw.CodeOf(err) != "session_revoked" {
		t.Fatalf("after a role change: %v, want session_revoked", err)
	}
}

// TestCheckRefuses: table of the states a token is refused in.
func TestCheckRefuses(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := setup(t, ctx)
	with := func(mut func(c *auth.Claims)) *auth.Claims {
		c := *b.claims
		mut(&c)
		return &c
	}
	for _, tt := range []struct {
		name   string
		claims *auth.Claims
		code   string
	}{
		{"open", b.claims, ""},
		{"unknown user", with(func(c *auth.Claims) { c.UserID = uuid.NewString() }), "invalid_token"},
		{"user id not a UUID", with(func(c *auth.Claims) { c.UserID = "admin" }), "invalid_token"},
		{"unknown session", with(func(c *auth.Claims) { c.SessionID = uuid.NewString() }), "session_revoked"},
		{"session id not a UUID", with(func(c *auth.Claims) { c.SessionID = "x" }), "session_revoked"},
		{"older version", with(func(c *auth.Claims) { c.Version = -1 }), "session_revoked"},
		{"newer version", with(func(c *auth.Claims) { c.Version = 1 }), "session_revoked"},
		{"another role", with(func(c *auth.Claims) { c.Role = "admin" }), "session_revoked"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := b.sessions.Check(ctx, tt.claims); err != nil {
				got = dw.CodeOf(err)
			}
			if got != tt.code {
				t.Errorf("code %q, want %q", got, tt.code)
			}
		})
	}
}

// BenchmarkCheck is the per-request cost of checking a cached session.
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	bb := setup(b, ctx)
	if err := bb.sessions.Check(ctx, bb.claims); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := bb.sessions.Check(ctx, bb.claims); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
