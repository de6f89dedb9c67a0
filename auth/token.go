package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

const (
	// MinKeyLen is the minimum HMAC key length accepted by NewIssuer.
	MinKeyLen = 32
	// Leeway is the clock skew tolerated when checking exp, nbf and iat.
	Leeway = 5 * time.Second
	// maxTokenLen bounds the input Verify is willing to parse.
	maxTokenLen = 8 << 10
)

// ErrInvalidToken is wrapped by every error returned from Issuer.Verify.
// The underlying jwt error (for example jwt.ErrTokenExpired) is wrapped as
// well, so errors.Is works for both.
var ErrInvalidToken = errors.New("auth: invalid token")

// Claims are the claims carried by an access token. Subject always equals
// UserID. SessionID and Version tie the token to the session state its holder
// checks on every request (see package session): the token ends when its
// session (refresh-token family) is revoked or the user's token version moves.
type Claims struct {
	UserID    string `json:"uid"`
	Role      string `json:"role"`
	WalletID  string `json:"wid"`
	SessionID string `json:"sid"`
	Version   int64  `json:"ver"`
	jwt.RegisteredClaims
}

// Subject is whom an access token speaks for: a user, in one session, at one
// token version.
type Subject struct {
	UserID, Role, WalletID string
	SessionID              string // the refresh-token family of the login
	Version                int64  // the user's token version when the token is issued
}

// Issuer issues and verifies HS256 access tokens. It is safe for
// concurrent use.
type Issuer struct {
	key      []byte
	kid      string            // names key in the token header, so a rotated key is found
	previous map[string][]byte // kid → a former key: its tokens are still accepted, none are signed
	issuer   string
	ttl      time.Duration
	parser   *jwt.Parser

	// verified caches tokens that passed Verify: a client presents the same access token on
	// every request of its life, and parsing its claims is most of the cost of checking it.
	// Entries are checked against exp and nbf on every hit, and keyed by the whole token, so a
	// cached token is exactly one this issuer signed and accepted.
	verified      sync.Map // token → *Claims
	verifiedCount atomic.Int64
}

// maxVerified bounds the verified-token cache; past it the cache starts over.
const maxVerified = 100_000

// NewIssuer returns an Issuer signing with key (at least MinKeyLen bytes,
// copied), stamping iss=issuer and a lifetime of ttl. Verify refuses tokens
// whose lifetime (exp − iat) exceeds ttl + Leeway. Tokens signed with one of
// the previous keys are still accepted (a key rotation: keep the old key
// there for one access-token lifetime, then drop it).
func NewIssuer(key []byte, issuer string, ttl time.Duration, previous ...[]byte) (*Issuer, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("auth: signing key must be at least %d bytes, got %d", MinKeyLen, len(key))
	}
	prev := make(map[string][]byte, len(previous))
	for n, k := range previous {
		if len(k) < MinKeyLen {
			return nil, fmt.Errorf("auth: previous key %d must be at least %d bytes, got %d", n+1, MinKeyLen, len(k))
		}
		prev[keyID(k)] = append([]byte(nil), k...)
	}
	if issuer == "" {
		return nil, errors.New("auth: issuer must not be empty")
	}
	if ttl <= 0 {
		return nil, errors.New("auth: token ttl must be positive")
	}
	delete(prev, keyID(key))
	return &Issuer{
		key:      append([]byte(nil), key...),
		kid:      keyID(key),
		previous: prev,
		issuer:   issuer,
		ttl:      ttl,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(issuer),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
			jwt.WithStrictDecoding(),
		),
	}, nil
}

// Issue creates a signed access token for sub valid from now until now+ttl.
// The returned expiresAt is the exp claim as encoded (truncated to whole
// seconds). sub needs a user ID and a session ID.
func (i *Issuer) Issue(sub Subject, now time.Time) (token string, expiresAt time.Time, err error) {
	if sub.UserID == "" {
		return "", time.Time{}, errors.New("auth: user ID must not be empty")
	}
	if sub.SessionID == "" {
		return "", time.Time{}, errors.New("auth: session ID must not be empty")
	}
	jti, err := uuid.NewRandom()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: generating token ID: %w", err)
	}
	claims := Claims{
		UserID:    sub.UserID,
		Role:      sub.Role,
		WalletID:  sub.WalletID,
		SessionID: sub.SessionID,
		Version:   sub.Version,
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        jti.String(),
			Issuer:    i.issuer,
			Subject:   sub.UserID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(i.ttl)),
		},
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	t.Header["kid"] = i.kid
	token, err = t.SignedString(i.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: signing token: %w", err)
	}
	return token, claims.ExpiresAt.Time, nil
}

// Verify parses and validates token. Only HS256 signatures made with the
// issuer's key are accepted; the token must carry the issuer's iss, an exp
// in the future, an iat and no nbf/iat in the future (each with Leeway
// tolerance), a lifetime exp − iat of at most the issuer's ttl + Leeway, a
// non-empty sub equal to uid and a session ID. Every failure returns an
// error wrapping ErrInvalidToken. Whether the session is still open is not
// Verify's to say (see package session).
func (i *Issuer) Verify(token string) (*Claims, error) {
	if len(token) > maxTokenLen {
		return nil, invalid(errors.New("token too long"))
	}
	if v, ok := i.verified.Load(token); ok {
		c := v.(*Claims)
		now := time.Now()
		if now.Before(c.ExpiresAt.Add(Leeway)) && !now.Before(c.NotBefore.Add(-Leeway)) {
			cp := *c
			return &cp, nil
		}
		i.verified.Delete(token) // expired: the full check below refuses it
	}
	claims := new(Claims)
	_, err := i.parser.ParseWithClaims(token, claims, i.keyFunc)
	if err != nil {
		return nil, invalid(err)
	}
	if claims.Subject == "" {
		return nil, invalid(errors.New("missing subject"))
	}
	if claims.UserID != claims.Subject {
		return nil, invalid(errors.New("uid does not match subject"))
	}
	if claims.SessionID == "" {
		return nil, invalid(errors.New("missing session"))
	}
	if claims.IssuedAt == nil {
		return nil, invalid(errors.New("missing iat"))
	}
	// A token living longer than this issuer would ever grant was not made by its rules (a
	// leaked key, or a node configured otherwise): refuse it rather than honour it for days.
	if claims.ExpiresAt.Sub(claims.IssuedAt.Time) > i.ttl+Leeway {
		return nil, invalid(errors.New("lifetime exceeds the maximum"))
	}
	if claims.ExpiresAt != nil && claims.NotBefore != nil {
		if i.verifiedCount.Add(1) > maxVerified {
			i.verified.Clear()
			i.verifiedCount.Store(1)
		}
		cp := *claims
		i.verified.Store(token, &cp)
	}
	return claims, nil
}

func (i *Issuer) keyFunc(t *jwt.Token) (any, error) {
	// Redundant with WithValidMethods, kept as defence in depth.
	if t.Method != jwt.SigningMethodHS256 {
		return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" || kid == i.kid {
		return i.key, nil // tokens made before key ids were stamped carry none
	}
	if k, ok := i.previous[kid]; ok {
		return k, nil
	}
	return nil, errors.New("signed with an unknown key")
}

// keyID names a key without revealing it: the first 8 bytes of its SHA-256, in hex.
func keyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

func invalid(reason error) error {
	return fmt.Errorf("%w: %w", ErrInvalidToken, reason)
}

// GenerateKey returns 32 random bytes suitable as an HS256 signing key.
func GenerateKey() ([]byte, error) {
	key := make([]byte, MinKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("auth: generating key: %w", err)
	}
	return key, nil
}
