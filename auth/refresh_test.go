package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"
)

func TestNewRefreshToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, hash, err := NewRefreshToken()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
		if err != nil {
			t.Fatalf("token %q is not raw base64url: %v", tok, err)
		}
		if len(raw) != 32 || len(tok) != 43 {
			t.Fatalf("token %q decodes to %d bytes", tok, len(raw))
		}
		sum := sha256.Sum256([]byte(tok))
		if !bytes.Equal(hash, sum[:]) {
			t.Fatal("hash != sha256(token)")
		}
		if !bytes.Equal(hash, HashRefreshToken(tok)) {
			t.Fatal("hash != HashRefreshToken(token)")
		}
		if seen[tok] {
			t.Fatal("duplicate refresh token")
		}
		seen[tok] = true
	}
}

func TestHashRefreshToken(t *testing.T) {
	// sha256("abc")
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := hex.EncodeToString(HashRefreshToken("abc")); got != want {
		t.Fatalf("HashRefreshToken(abc) = %s", got)
	}
	if bytes.Equal(HashRefreshToken("a"), HashRefreshToken("b")) {
		t.Fatal("different tokens hash equal")
	}
}
