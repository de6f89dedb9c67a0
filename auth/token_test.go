package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testIssuer = "dw-test"

var testKey = []byte("0123456789abcdef0123456789abcdef") // 32 bytes

func newTestIssuer(t testing.TB) *Issuer {
	t.Helper()
	iss, err := NewIssuer(testKey, testIssuer, 15*time.Minute)
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	return iss
}

// goodClaims returns claims that Verify accepts when signed with testKey.
func goodClaims(now time.Time) Claims {
	return Claims{
		UserID:    "user-1",
		SessionID: "family-1",
		Role:      "reader",
		WalletID:  "wallet-1",
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        "jti-1",
			Issuer:    testIssuer,
			Subject:   "user-1",
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)),
		},
	}
}

func sign(t *testing.T, m jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatalf("signing with %s: %v", m.Alg(), err)
	}
	return s
}

func TestNewIssuer(t *testing.T) {
	tests := []struct {
		name   string
		key    []byte
		issuer string
		ttl    time.Duration
		ok     bool
	}{
		{"ok", testKey, "iss", time.Minute, true},
		{"short key", testKey[:31], "iss", time.Minute, false},
		{"nil key", nil, "iss", time.Minute, false},
		{"empty issuer", testKey, "", time.Minute, false},
		{"zero ttl", testKey, "iss", 0, false},
		{"negative ttl", testKey, "iss", -time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss, err := NewIssuer(tt.key, tt.issuer, tt.ttl)
			if (err == nil) != tt.ok {
				t.Fatalf("NewIssuer err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && iss == nil {
				t.Fatal("nil issuer without error")
			}
		})
	}
}

func TestNewIssuerCopiesKey(t *testing.T) {
	key := append([]byte(nil), testKey...)
	iss, err := NewIssuer(key, testIssuer, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := iss.Issue(Subject{UserID: "u", Role: "r", WalletID: "w", SessionID: "s"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key[0] ^= 0xff
	if _, err := iss.Verify(tok); err != nil {
		t.Fatalf("mutating caller's key slice affected issuer: %v", err)
	}
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	iss := newTestIssuer(t)
	now := time.Now()
	tok, exp, err := iss.Issue(Subject{UserID: "user-42", Role: "admin", WalletID: "wallet-7", SessionID: "family-9", Version: 3}, now)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if want := now.Add(15 * time.Minute).Truncate(time.Second); !exp.Equal(want) {
		t.Errorf("expiresAt = %v, want %v", exp, want)
	}
	c, err := iss.Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.UserID != "user-42" || c.Role != "admin" || c.WalletID != "wallet-7" || c.SessionID != "family-9" || c.Version != 3 {
		t.Errorf("custom claims = %+v", c)
	}
	if c.Subject != "user-42" || c.Issuer != testIssuer {
		t.Errorf("sub/iss = %q/%q", c.Subject, c.Issuer)
	}
	if c.ID == "" || c.IssuedAt == nil || c.NotBefore == nil || c.ExpiresAt == nil {
		t.Errorf("missing registered claims: %+v", c.RegisteredClaims)
	}
	if !c.ExpiresAt.Time.Equal(exp) {
		t.Errorf("exp claim %v != returned expiresAt %v", c.ExpiresAt.Time, exp)
	}

	// JSON field names are part of the contract with other services.
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"uid", "role", "wid", "sid", "ver", "jti", "iat", "nbf", "exp", "iss", "sub"} {
		if _, ok := m[k]; !ok {
			t.Errorf("payload lacks %q: %s", k, payload)
		}
	}
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if !strings.Contains(string(header), `"alg":"HS256"`) {
		t.Errorf("header = %s", header)
	}
}

func TestIssueUniqueJTI(t *testing.T) {
	iss := newTestIssuer(t)
	now := time.Now()
	seen := map[string]bool{}
	for range 50 {
		tok, _, err := iss.Issue(Subject{UserID: "u", Role: "r", WalletID: "w", SessionID: "s"}, now)
		if err != nil {
			t.Fatal(err)
		}
		c, err := iss.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		if seen[c.ID] {
			t.Fatalf("duplicate jti %q", c.ID)
		}
		seen[c.ID] = true
	}
}

func TestIssueRejectsEmptyUserID(t *testing.T) {
	if _, _, err := newTestIssuer(t).Issue(Subject{Role: "r", WalletID: "w", SessionID: "s"}, time.Now()); err == nil {
		t.Fatal("Issue with empty user ID succeeded")
	}
}

func TestIssueRejectsEmptySession(t *testing.T) {
	if _, _, err := newTestIssuer(t).Issue(Subject{UserID: "u", Role: "r"}, time.Now()); err == nil {
		t.Fatal("Issue accepted a token of no session")
	}
}

// TestVerifyLifetimeAtTheMaximum: a token living exactly the issuer's ttl plus the leeway is
// still accepted; the refusals just past it are in TestVerifyRejects.
func TestVerifyLifetimeAtTheMaximum(t *testing.T) {
	iss := newTestIssuer(t)
	now := time.Now()
	c := goodClaims(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(15*time.Minute + Leeway))
	if _, err := iss.Verify(sign(t, jwt.SigningMethodHS256, testKey, c)); err != nil {
		t.Fatalf("token at the maximum lifetime refused: %v", err)
	}
}

func TestVerifyWithinLeeway(t *testing.T) {
	iss := newTestIssuer(t)
	now := time.Now()

	// Expired 2s ago: still inside the 5s leeway.
	c := goodClaims(now.Add(-15*time.Minute - 2*time.Second))
	if _, err := iss.Verify(sign(t, jwt.SigningMethodHS256, testKey, c)); err != nil {
		t.Errorf("token expired within leeway rejected: %v", err)
	}

	// nbf/iat 2s in the future (clock skew): accepted.
	c = goodClaims(now.Add(2 * time.Second))
	if _, err := iss.Verify(sign(t, jwt.SigningMethodHS256, testKey, c)); err != nil {
		t.Errorf("token with nbf within leeway rejected: %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	iss := newTestIssuer(t)
	now := time.Now()
	valid := sign(t, jwt.SigningMethodHS256, testKey, goodClaims(now))
	if _, err := iss.Verify(valid); err != nil {
		t.Fatalf("baseline token rejected: %v", err)
	}
	parts := strings.Split(valid, ".")

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}

	with := func(mut func(*Claims)) Claims {
		c := goodClaims(now)
		mut(&c)
		return c
	}

	// Payload re-encoded with role escalated, original signature kept.
	tamperedPayload := func() string {
		raw, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		mod := strings.Replace(string(raw), `"role":"reader"`, `"role":"admin"`, 1)
		if mod == string(raw) {
			t.Fatal("payload replacement did not apply")
		}
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(mod)) + "." + parts[2]
	}()

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tamperedSig := parts[0] + "." + parts[1] + "." + flip(parts[2], len(parts[2])/2)

	// HS256 signature is 32 bytes = 43 base64url chars; the last char
	// carries 2 unused bits. Setting them yields the same bytes under
	// lenient decoding, so only strict decoding rejects it.
	lastSigChar := func() string {
		sig := []byte(parts[2])
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		idx := strings.IndexByte(alphabet, sig[len(sig)-1])
		sig[len(sig)-1] = alphabet[idx|1]
		if idx|1 == idx {
			sig[len(sig)-1] = alphabet[idx&^1|2]
		}
		return parts[0] + "." + parts[1] + "." + string(sig)
	}()

	// Same header/payload but an HS256 header claiming alg RS256 (alg confusion).
	rsHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))

	tests := []struct {
		name  string
		token string
		is    error // additional error expected via errors.Is, optional
	}{
		{"empty", "", jwt.ErrTokenMalformed},
		{"garbage", "not-a-token", jwt.ErrTokenMalformed},
		{"two segments", parts[0] + "." + parts[1], jwt.ErrTokenMalformed},
		{"four segments", valid + ".x", jwt.ErrTokenMalformed},
		{"too long", valid + strings.Repeat("A", maxTokenLen), nil},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, goodClaims(now)), jwt.ErrTokenSignatureInvalid},
		{"alg none empty sig of valid", parts[0] + "." + parts[1] + ".", jwt.ErrTokenSignatureInvalid},
		{"different key", sign(t, jwt.SigningMethodHS256, []byte("another-32-byte-secret-key-000000"), goodClaims(now)), jwt.ErrTokenSignatureInvalid},
		{"tampered payload", tamperedPayload, jwt.ErrTokenSignatureInvalid},
		{"tampered signature", tamperedSig, jwt.ErrTokenSignatureInvalid},
		{"non-canonical signature encoding", lastSigChar, jwt.ErrTokenMalformed},
		{"HS512 same key", sign(t, jwt.SigningMethodHS512, testKey, goodClaims(now)), jwt.ErrTokenSignatureInvalid},
		{"HS384 same key", sign(t, jwt.SigningMethodHS384, testKey, goodClaims(now)), jwt.ErrTokenSignatureInvalid},
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, goodClaims(now)), jwt.ErrTokenSignatureInvalid},
		{"RS256 header, HMAC signature", rsHeader + "." + parts[1] + "." + parts[2], jwt.ErrTokenSignatureInvalid},
		{"expired", sign(t, jwt.SigningMethodHS256, testKey, with(func(c *Claims) {
			c.IssuedAt = jwt.NewNumericDate(now.Add(-time.Hour))
			c.NotBefore = c.IssuedAt
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-10 * time.Second))
		})), jwt.ErrTokenExpired},
		{"missing exp", sign(t, jwt.SigningMethodHS256, testKey, with(func(c *Claims) { c.ExpiresAt = nil })), jwt.ErrTokenRequiredClaimMissing},
		{"nbf in future", sign(t, jwt.SigningMethodHS256, testKey, with(func(c *Claims) {
			c.NotBefore = jwt.NewNumericDate(now.Add(time.Minute))
		})), jwt.ErrTokenNotValidYet},
		{"iat in future", sign(t, jwt.SigningMethodHS256, testKey, with(func(c *Claims) {
			c.IssuedAt = jwt.NewNumericDate(now.Add(time.Minute))
		})), jwt.ErrTokenUsedBeforeIssued},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, testKey, with(func(c *Claims) { c.Issuer = "evil" })), jwt.ErrTokenInvalidIssuer},
		{"missing issuer", sign(t, jwt.SigningMethodHS256, testKey, with(func(c *Claims) { c.Issuer = "" })), jwt.ErrTokenRequiredClaimMissing},
		{"missing sub", sign(t, jwt.SigningMethodHS256, testKey, with(func(c *Claims) { c.Subject = "" })), nil},
		{"sub/uid mismatch", sign(t, jwt.SigningMethodHS256, testKey, with(func(c *Claims) { c.UserID = "someone-else" })), nil},
		{"missing session", sign(t, jwt.SigningMethodHS256, testKey, with(func(c *Claims) { c.SessionID = "" })), nil},
		{"missing iat", sign(t, jwt.SigningMethodHS256, testKey, with(func(c *Claims) { c.IssuedAt = nil })), nil},
		// Signed with the right key, but living longer than this issuer ever grants (15m).
		{"lifetime over the maximum", sign(t, jwt.SigningMethodHS256, testKey, with(func(c *Claims) {
			c.ExpiresAt = jwt.NewNumericDate(now.Add(15*time.Minute + Leeway + time.Second))
		})), nil},
		{"lifetime of a year", sign(t, jwt.SigningMethodHS256, testKey, with(func(c *Claims) {
			c.IssuedAt = jwt.NewNumericDate(now.Add(-time.Hour))
			c.ExpiresAt = jwt.NewNumericDate(now.Add(365 * 24 * time.Hour))
		})), nil},
		{"version wrong type", sign(t, jwt.SigningMethodHS256, testKey, jwt.MapClaims{
			"uid": "user-1", "sub": "user-1", "sid": "family-1", "ver": "7", "iss": testIssuer,
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		}), jwt.ErrTokenMalformed},
		{"sub wrong type", sign(t, jwt.SigningMethodHS256, testKey, jwt.MapClaims{
			"uid": "user-1", "sub": 42, "iss": testIssuer, "exp": now.Add(time.Minute).Unix(),
		}), jwt.ErrTokenMalformed},
		{"exp wrong type", sign(t, jwt.SigningMethodHS256, testKey, jwt.MapClaims{
			"uid": "user-1", "sub": "user-1", "iss": testIssuer, "exp": "tomorrow",
		}), jwt.ErrTokenMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := iss.Verify(tt.token)
			if err == nil {
				t.Fatalf("Verify accepted bad token; claims = %+v", c)
			}
			if c != nil {
				t.Errorf("Verify returned claims alongside error: %+v", c)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("error %v does not wrap ErrInvalidToken", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
		})
	}
}

func TestVerifyOtherIssuerInstance(t *testing.T) {
	a := newTestIssuer(t)
	b, err := NewIssuer(testKey, "other-service", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := b.Issue(Subject{UserID: "u", Role: "r", WalletID: "w", SessionID: "s"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(tok); !errors.Is(err, ErrInvalidToken) || !errors.Is(err, jwt.ErrTokenInvalidIssuer) {
		t.Fatalf("token of another issuer: err = %v", err)
	}
}

func TestIssuerConcurrent(t *testing.T) {
	iss := newTestIssuer(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				tok, _, err := iss.Issue(Subject{UserID: "u", Role: "r", WalletID: "w", SessionID: "s"}, time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := iss.Verify(tok); err != nil {
					t.Error(err)
					return
				}
				if _, err := iss.Verify(tok + "x"); err == nil {
					t.Error("tampered token verified")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestGenerateKey(t *testing.T) {
	k1, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 || len(k2) != 32 {
		t.Fatalf("key lengths %d, %d", len(k1), len(k2))
	}
	if string(k1) == string(k2) {
		t.Fatal("two generated keys are equal")
	}
	if _, err := NewIssuer(k1, "x", time.Minute); err != nil {
		t.Fatalf("generated key rejected by NewIssuer: %v", err)
	}
}

// TestKeyRotation: a node given a new key and the old one as previous accepts the tokens the old
// key signed (until they expire) and signs only with the new one; a node that dropped the old
// key refuses them; a token naming an unknown key is refused.
func TestKeyRotation(t *testing.T) {
	oldKey := testKey
	newKey := []byte("fedcba9876543210fedcba9876543210")
	sub := Subject{UserID: "user-1", Role: "user", WalletID: "w", SessionID: "s"}
	now := time.Now()

	before := newTestIssuer(t)
	oldTok, _, err := before.Issue(sub, now)
	if err != nil {
		t.Fatal(err)
	}
	during, err := NewIssuer(newKey, testIssuer, 15*time.Minute, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := during.Verify(oldTok); err != nil {
		t.Fatalf("a token of the previous key was refused during the rotation: %v", err)
	}
	newTok, _, err := during.Issue(sub, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := before.Verify(newTok); err == nil {
		t.Fatal("a token of the new key verified with the old key alone")
	}
	after, err := NewIssuer(newKey, testIssuer, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := after.Verify(newTok); err != nil {
		t.Fatalf("new token after the rotation: %v", err)
	}
	if _, err := after.Verify(oldTok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a token of the dropped key was accepted: %v", err)
	}
	// A kid that names no key this issuer has is refused, even if the signature is right for
	// the current key.
	c := goodClaims(now)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = "0000000000000000"
	s, err := tok.SignedString(newKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := after.Verify(s); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a token naming an unknown key was accepted: %v", err)
	}
	if _, err := NewIssuer(newKey, testIssuer, time.Minute, []byte("short")); err == nil {
		t.Fatal("a short previous key was accepted")
	}
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(newTok, ".")[0])
	if strings.Contains(string(header), string(newKey)) || !strings.Contains(string(header), `"kid":"`+keyID(newKey)+`"`) {
		t.Fatalf("header = %s", header)
	}
}
