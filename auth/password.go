package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id cost parameters. Memory is in KiB.
type Params struct {
	Memory  uint32
	Time    uint32
	Threads uint8
	KeyLen  uint32
	SaltLen uint32
}

// DefaultParams are the parameters used for new password hashes:
// 64 MiB, 2 passes, 2 lanes, 16-byte salt, 32-byte key.
var DefaultParams = Params{Memory: 64 * 1024, Time: 2, Threads: 2, KeyLen: 32, SaltLen: 16}

// Bounds applied both when hashing and when parsing an encoded hash, so a
// corrupted or hostile encoded string cannot make VerifyPassword allocate
// unbounded memory or spin for a very long time.
const (
	minSaltLen = 8
	maxSaltLen = 1024
	minKeyLen  = 16
	maxKeyLen  = 1024
	maxMemory  = 1 << 20 // KiB, i.e. 1 GiB
	maxTime    = 64
)

// Password policy limits, counted in runes.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
)

var (
	// ErrMalformedHash is wrapped by errors about encoded password hashes
	// that cannot be parsed.
	ErrMalformedHash = errors.New("auth: malformed password hash")
	// ErrInvalidParams is returned by HashPassword for unusable parameters.
	ErrInvalidParams = errors.New("auth: invalid argon2id parameters")
	// ErrInvalidPassword is wrapped by the errors of ValidatePassword.
	ErrInvalidPassword = errors.New("invalid password")
)

const (
	phcPrefix  = "$argon2id$"
	phcVersion = "v=19" // argon2.Version
)

var b64 = base64.RawStdEncoding.Strict()

// problem describes why p is unusable, or returns "" when p is acceptable.
func (p Params) problem() string {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Sprintf("time must be in 1..%d", maxTime)
	case p.Threads < 1:
		return "threads must be at least 1"
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Sprintf("memory must be in 8*threads..%d KiB", maxMemory)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Sprintf("key length must be in %d..%d bytes", minKeyLen, maxKeyLen)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Sprintf("salt length must be in %d..%d bytes", minSaltLen, maxSaltLen)
	}
	return ""
}

// HashPassword hashes pw with argon2id using p and a fresh random salt and
// returns the PHC-encoded result. It does not apply the password policy;
// call ValidatePassword first where appropriate.
func HashPassword(pw string, p Params) (string, error) {
	if msg := p.problem(); msg != "" {
		return "", fmt.Errorf("%w: %s", ErrInvalidParams, msg)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: reading salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encodeHash(p, salt, key), nil
}

func encodeHash(p Params, salt, key []byte) string {
	return fmt.Sprintf("%s%s$m=%d,t=%d,p=%d$%s$%s",
		phcPrefix, phcVersion, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// VerifyPassword reports whether pw matches the PHC-encoded argon2id hash.
// A mismatch yields (false, nil); an encoded string that cannot be parsed
// yields (false, err) with err wrapping ErrMalformedHash. The derived key is
// compared in constant time.
func VerifyPassword(pw, encoded string) (bool, error) {
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NeedsRehash reports whether encoded was produced with parameters other
// than p (memory, time, threads, key length or salt length), or cannot be
// parsed at all. Callers typically rehash after a successful login.
func NeedsRehash(encoded string, p Params) bool {
	got, _, _, err := decodeHash(encoded)
	if err != nil {
		return true
	}
	return got != p
}

func malformed(reason string) error {
	return fmt.Errorf("%w: %s", ErrMalformedHash, reason)
}

// decodeHash parses "$argon2id$v=19$m=..,t=..,p=..$salt$hash" strictly.
func decodeHash(encoded string) (Params, []byte, []byte, error) {
	var p Params
	rest, ok := strings.CutPrefix(encoded, phcPrefix)
	if !ok {
		return p, nil, nil, malformed("not an argon2id hash")
	}
	parts := strings.Split(rest, "$")
	if len(parts) != 4 {
		return p, nil, nil, malformed("wrong number of fields")
	}
	if parts[0] != phcVersion {
		return p, nil, nil, malformed("unsupported version")
	}
	if err := parseParams(parts[1], &p); err != nil {
		return p, nil, nil, err
	}
	salt, ok := decodeB64(parts[2])
	if !ok {
		return p, nil, nil, malformed("bad salt encoding")
	}
	key, ok := decodeB64(parts[3])
	if !ok {
		return p, nil, nil, malformed("bad hash encoding")
	}
	p.SaltLen = uint32(len(salt))
	p.KeyLen = uint32(len(key))
	if msg := p.problem(); msg != "" {
		return p, nil, nil, malformed(msg)
	}
	return p, salt, key, nil
}

// decodeB64 decodes unpadded standard base64 and insists on the canonical
// form: the decoder on its own skips '\r' and '\n', which would let distinct
// strings decode to the same bytes.
func decodeB64(s string) ([]byte, bool) {
	b, err := b64.DecodeString(s)
	if err != nil || b64.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

func parseParams(s string, p *Params) error {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return malformed("parameters must be m,t,p")
	}
	names := [3]string{"m", "t", "p"}
	bits := [3]int{32, 32, 8}
	var vals [3]uint64
	for i, f := range fields {
		v, ok := strings.CutPrefix(f, names[i]+"=")
		if !ok {
			return malformed("parameters must be m,t,p")
		}
		// ParseUint accepts no sign; reject leading zeros so the encoding is canonical.
		if len(v) > 1 && v[0] == '0' {
			return malformed("non-canonical parameter " + names[i])
		}
		n, err := strconv.ParseUint(v, 10, bits[i])
		if err != nil {
			return malformed("bad parameter " + names[i])
		}
		vals[i] = n
	}
	p.Memory, p.Time, p.Threads = uint32(vals[0]), uint32(vals[1]), uint8(vals[2])
	return nil
}

// ValidatePassword applies the password policy: the password must be valid
// UTF-8, between MinPasswordLen and MaxPasswordLen characters (runes)
// long, and must not consist only of whitespace. Errors wrap
// ErrInvalidPassword and state the rule that was broken.
func ValidatePassword(pw string) error {
	if !utf8.ValidString(pw) {
		return fmt.Errorf("%w: password must be valid UTF-8 text", ErrInvalidPassword)
	}
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen {
		return fmt.Errorf("%w: password must be at least %d characters long", ErrInvalidPassword, MinPasswordLen)
	}
	if n > MaxPasswordLen {
		return fmt.Errorf("%w: password must be at most %d characters long", ErrInvalidPassword, MaxPasswordLen)
	}
	if strings.TrimSpace(pw) == "" {
		return fmt.Errorf("%w: password must not consist only of whitespace", ErrInvalidPassword)
	}
	return nil
}
