package captcha_test

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/captcha"
	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/persistence"
)

// newPoW returns a verifier whose spent solutions are kept in a database of the test's own.
func newPoW(t *testing.T, key string) *captcha.PoW {
	t.Helper()
	store, err := persistence.Open(t.Context(), pgtest.NewDB(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	return &captcha.PoW{Key: []byte(key), MaxNumber: 5000, Spent: store}
}

// A vector from altcha-lib-go's tests (sha256("salt123")), and one computed with Python's
// hashlib/hmac: salt "0123456789abcdef01234567?expires=4102444800&", number 4242, key 32 × "k".
func TestKnownVectors(t *testing.T) {
	t.Parallel()
	if sol, ok := captcha.Solve(map[string]any{"salt": "salt", "maxnumber": float64(100000),
		"challenge": "c2fc6c6adf8ba0f575a35f48df52c0968a3dcd3c577c2769dc2f1035943b975e"}); !ok || sol.Number != 123 {
		t.Errorf("altcha-lib-go vector: got %+v %v, want number 123", sol, ok)
	}
	p := newPoW(t, strings.Repeat("k", 32))
	sol := captcha.Solution{Algorithm: "SHA-256", Number: 4242,
		Salt:      "0123456789abcdef01234567?expires=4102444800&",
		Challenge: "697d7c8e1eaefd6d0388e94dfb640e4d049b1d34609c142f8303b8899362b9eb",
		Signature: "10598b59527a58320f5f9d2913ea83a124ea7500c359ad5c9708fb61cef7b340"}
	if err := p.Verify(t.Context(), sol.Encode(), ""); err != nil {
		t.Fatalf("python vector refused: %v", err)
	}
	if err := p.Verify(t.Context(), sol.Encode(), ""); dw.CodeOf(err) != "captcha_invalid" {
		t.Fatalf("python vector replayed: %v, want captcha_invalid", err)
	}
}

func TestPoWVerify(t *testing.T) {
	t.Parallel()
	const key = "pow-test-key-0123456789-0123456789"
	p := newPoW(t, key)
	other := &captcha.PoW{Key: []byte("another-key-0123456789-0123456789"), MaxNumber: 5000, Spent: p.Spent}
	solved := func(p *captcha.PoW) captcha.Solution {
		t.Helper()
		ch, err := p.Challenge(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if ch["algorithm"] != "SHA-256" || ch["maxnumber"] != int64(5000) || !strings.Contains(ch["salt"].(string), "?expires=") {
			t.Fatalf("challenge %v", ch)
		}
		sol, ok := captcha.Solve(ch)
		if !ok {
			t.Fatalf("challenge %v has no solution", ch)
		}
		return sol
	}
	good := solved(p)
	wrongNumber := solved(p)
	wrongNumber.Number++
	tamperedSalt := solved(p)
	tamperedSalt.Salt = strings.Replace(tamperedSalt.Salt, "expires=", "expires=9", 1)
	fromOtherKey := solved(other)
	late := &captcha.PoW{Key: []byte(key), Spent: p.Spent, Now: func() time.Time { return time.Now().Add(captcha.DefaultPoWTTL + time.Second) }}
	expired := solved(p)
	unpadded := solved(p)
	withTook := solved(p)

	for _, tc := range []struct {
		name     string
		p        *captcha.PoW
		solution string
		ok       bool
	}{
		{"good", p, good.Encode(), true},
		{"replayed", p, good.Encode(), false},
		{"wrong number", p, wrongNumber.Encode(), false},
		{"salt changed", p, tamperedSalt.Encode(), false},
		{"signed by another key", p, fromOtherKey.Encode(), false},
		{"expired", late, expired.Encode(), false},
		{"unpadded base64", p, strings.TrimRight(unpadded.Encode(), "="), true},
		{"widget's extra members", p, base64.StdEncoding.EncodeToString([]byte(`{"algorithm":"SHA-256","challenge":"` + withTook.Challenge +
			`","number":` + strconv.FormatInt(withTook.Number, 10) + `,"salt":"` + withTook.Salt + `","signature":"` + withTook.Signature + `","took":412}`)), true},
		{"empty", p, "", false},
		{"not base64", p, "%%%", false},
		{"not JSON", p, base64.StdEncoding.EncodeToString([]byte("hello")), false},
	} {
		// Sequential: "replayed" follows "good".
		err := tc.p.Verify(t.Context(), tc.solution, "127.0.0.1")
		if tc.ok && err != nil {
			t.Errorf("%s: refused: %v", tc.name, err)
		}
		if !tc.ok && dw.CodeOf(err) != "captcha_invalid" {
			t.Errorf("%s: got %v, want captcha_invalid", tc.name, err)
		}
	}
}

// A solution is spent for the whole cluster: a second verifier on the same database (another
// node) refuses it too.
func TestPoWSpentAcrossNodes(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDB(t)
	open := func() *captcha.PoW {
		s, err := persistence.Open(context.Background(), url, 2)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return &captcha.PoW{Key: []byte("shared-key-0123456789-0123456789"), MaxNumber: 2000, Spent: s}
	}
	a, b := open(), open()
	ch, err := a.Challenge(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sol, _ := captcha.Solve(ch)
	if err := b.Verify(t.Context(), sol.Encode(), ""); err != nil {
		t.Fatalf("node b: %v", err)
	}
	if err := a.Verify(t.Context(), sol.Encode(), ""); dw.CodeOf(err) != "captcha_invalid" {
		t.Fatalf("node a after b: %v, want captcha_invalid", err)
	}
}
