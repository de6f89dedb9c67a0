package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestVerifiedCacheHonoursExpiry: a token verified once is answered from the cache, but a
// cached token past its expiry is refused like any expired token.
func TestVerifiedCacheHonoursExpiry(t *testing.T) {
	t.Parallel()
	iss, err := NewIssuer([]byte("0123456789abcdef0123456789abcdef"), "dw", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := iss.Issue(Subject{UserID: "u1", Role: "user", WalletID: "w1", SessionID: "s1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c, err := iss.Verify(tok)
		if err != nil || c.UserID != "u1" {
			t.Fatalf("verify: %+v %v", c, err)
		}
	}
	if _, ok := iss.verified.Load(tok); !ok {
		t.Fatal("a verified token was not cached")
	}
	// Age the cached entry past its expiry (and the leeway).
	v, _ := iss.verified.Load(tok)
	old := *v.(*Claims)
	old.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-Leeway - time.Second))
	iss.verified.Store(tok, &old)
	// The cache drops it; the full check then accepts the real token again (its real exp is in
	// the future), which shows the stale entry was not trusted as it was.
	c, err := iss.Verify(tok)
	if err != nil || !c.ExpiresAt.After(time.Now()) {
		t.Fatalf("after the stale entry: %+v %v", c, err)
	}
	// A different (tampered) token is never answered from the cache.
	if _, err := iss.Verify(tok + "x"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("tampered token: %v", err)
	}
}
