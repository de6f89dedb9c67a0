package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// refreshTokenBytes is the amount of randomness in a refresh token.
const refreshTokenBytes = 32

// NewRefreshToken returns a new opaque refresh token (32 random bytes,
// unpadded base64url) and its SHA-256 digest. Hand the token to the client
// and store only the hash.
func NewRefreshToken() (token string, hash []byte, err error) {
	b := make([]byte, refreshTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("auth: generating refresh token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashRefreshToken(token), nil
}

// HashRefreshToken returns sha256(token), the form in which refresh tokens
// are stored and looked up.
func HashRefreshToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}
