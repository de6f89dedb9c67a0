package captcha

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"

	dw "github.com/divinewhispers/dw"
)

// The proof of work follows the ALTCHA protocol (v1, https://altcha.org/docs/server-integration),
// so that the web app can use the `altcha` widget from npm:
//
//	challenge = {algorithm: "SHA-256", challenge: hex(sha256(salt + number)), maxnumber, salt,
//	             signature: hex(hmac_sha256(key, challenge))}
//
// with salt = hex(12 random bytes) + "?expires=<unix seconds>&" and number a secret random
// integer in [0, maxnumber]. The client finds number by trying 0, 1, 2, ... and sends
// base64(JSON{algorithm, challenge, number, salt, signature}). The signature proves the
// challenge is ours, the hash proves the work, the salt's expiry (inside the hashed and
// signed text) bounds its life, and Spent makes each solution good once across the cluster.
// (altcha-org/altcha-lib-go is not served by the module proxy here, so the protocol, a few
// dozen lines, is written out and tested against the library's vectors.)

// Algorithm is the only hash this verifier accepts.
const Algorithm = "SHA-256"

// Defaults of PoW.
const (
	DefaultPoWMax = 100_000 // a phone solves it in well under a second on average
	DefaultPoWTTL = 10 * time.Minute
	maxSolution   = 2048 // bytes of base64 accepted; a real solution is about 300
)

// Spender records a solution as spent until it expires, answering false when it was spent
// before (persistence.Store implements it over PostgreSQL).
type Spender interface {
	SpendCaptcha(ctx context.Context, id string, expires time.Time) (bool, error)
}

// PoW is the self-hosted proof-of-work provider.
type PoW struct {
	Key       []byte // HMAC key, the same on every node
	MaxNumber int64  // 0 = DefaultPoWMax
	TTL       time.Duration
	Spent     Spender
	Now       func() time.Time
}

func (p *PoW) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *PoW) max() int64 {
	if p.MaxNumber > 0 {
		return p.MaxNumber
	}
	return DefaultPoWMax
}

func (p *PoW) ttl() time.Duration {
	if p.TTL > 0 {
		return p.TTL
	}
	return DefaultPoWTTL
}

// Challenge makes a new challenge. Errors: internal (no randomness).
func (p *PoW) Challenge(context.Context) (map[string]any, error) {
	var raw [12]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, dw.Internal(err)
	}
	n, err := rand.Int(rand.Reader, big.NewInt(p.max()+1))
	if err != nil {
		return nil, dw.Internal(err)
	}
	salt := hex.EncodeToString(raw[:]) + "?expires=" + strconv.FormatInt(p.now().Add(p.ttl()).Unix(), 10) + "&"
	challenge := hashHex(salt, n.Int64())
	return map[string]any{
		"provider":  "altcha",
		"algorithm": Algorithm,
		"challenge": challenge,
		"maxnumber": p.max(),
		"salt":      salt,
		"signature": p.sign(challenge),
	}, nil
}

func hashHex(salt string, number int64) string {
	sum := sha256.Sum256([]byte(salt + strconv.FormatInt(number, 10)))
	return hex.EncodeToString(sum[:])
}

func (p *PoW) sign(challenge string) string {
	m := hmac.New(sha256.New, p.Key)
	m.Write([]byte(challenge))
	return hex.EncodeToString(m.Sum(nil))
}

// Solution is a decoded ALTCHA payload.
type Solution struct {
	Algorithm string `json:"algorithm"`
	Challenge string `json:"challenge"`
	Number    int64  `json:"number"`
	Salt      string `json:"salt"`
	Signature string `json:"signature"`
}

// Encode returns the solution as the widget sends it: base64 of its JSON.
func (s Solution) Encode() string {
	b, _ := json.Marshal(s)
	return base64.StdEncoding.EncodeToString(b)
}

// ParseSolution decodes a solution sent by a client (base64 of JSON, padded or not; the
// widget's extra members such as "took" are ignored) and checks its shape, not its truth.
// Errors: forbidden (captcha_invalid).
func ParseSolution(s string) (Solution, error) {
	if s == "" || len(s) > maxSolution {
		return Solution{}, refused("it is empty or too long")
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return Solution{}, refused("it is not base64")
		}
	}
	var sol Solution
	if err := json.Unmarshal(raw, &sol); err != nil {
		return Solution{}, refused("it is not the JSON of a solution")
	}
	switch {
	case sol.Algorithm != Algorithm:
		return Solution{}, refused("the algorithm must be " + Algorithm)
	case sol.Number < 0:
		return Solution{}, refused("the number is negative")
	case len(sol.Challenge) != 64 || len(sol.Signature) != 64:
		return Solution{}, refused("the challenge or signature is malformed")
	case len(sol.Salt) > 200 || !strings.Contains(sol.Salt, "?"):
		return Solution{}, refused("the salt is malformed")
	}
	if _, err := hex.DecodeString(sol.Challenge); err != nil {
		return Solution{}, refused("the challenge is not hex")
	}
	if _, err := hex.DecodeString(sol.Signature); err != nil {
		return Solution{}, refused("the signature is not hex")
	}
	return sol, nil
}

// Expires returns the expiry carried in the salt. Errors: when there is none.
func (s Solution) Expires() (time.Time, error) {
	_, query, _ := strings.Cut(s.Salt, "?")
	v, err := url.ParseQuery(query)
	if err != nil {
		return time.Time{}, err
	}
	sec, err := strconv.ParseInt(v.Get("expires"), 10, 64)
	if err != nil {
		return time.Time{}, errors.New("no expires in the salt")
	}
	return time.Unix(sec, 0), nil
}

// Verify checks a solution: signed by us, the work done, not expired, not used before (on any
// node). remoteIP is not used: the work is the proof. Errors: forbidden (captcha_invalid),
// unavailable or internal from the record of spent solutions.
func (p *PoW) Verify(ctx context.Context, solution, _ string) error {
	sol, err := ParseSolution(solution)
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(p.sign(sol.Challenge)), []byte(sol.Signature)) {
		return refused("it was not issued by this service")
	}
	if subtle.ConstantTimeCompare([]byte(hashHex(sol.Salt, sol.Number)), []byte(sol.Challenge)) != 1 {
		return refused("the number does not solve the challenge")
	}
	exp, err := sol.Expires()
	if err != nil {
		return refused("the challenge carries no expiry")
	}
	if !p.now().Before(exp) {
		return refused("the challenge has expired; solve the new one")
	}
	fresh, err := p.Spent.SpendCaptcha(ctx, sol.Challenge, exp)
	if err != nil {
		return err
	}
	if !fresh {
		return refused("it was used before; solve the new one")
	}
	return nil
}

// Solve finds the number of a challenge as the widget does, trying 0..max in order; ok is
// false when there is none. Tests and command-line clients use it.
func Solve(challenge map[string]any) (Solution, bool) {
	str := func(k string) string { s, _ := challenge[k].(string); return s }
	var max int64
	switch m := challenge["maxnumber"].(type) {
	case float64:
		max = int64(m)
	case int64:
		max = m
	case json.Number:
		max, _ = m.Int64()
	}
	salt, want := str("salt"), str("challenge")
	for n := int64(0); n <= max; n++ {
		if hashHex(salt, n) == want {
			return Solution{Algorithm: str("algorithm"), Challenge: want, Number: n, Salt: salt, Signature: str("signature")}, true
		}
	}
	return Solution{}, false
}
