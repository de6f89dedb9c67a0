package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic and
// never accept anything. The seeds (here and in testdata/fuzz/FuzzVerify)
// are well-formed tokens that fail for different reasons, so the fuzzer
// starts from inputs that reach signature and claims validation. None of
// them may be a currently valid token for testKey/testIssuer.
func FuzzVerify(f *testing.F) {
	past := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	seed := func(m jwt.SigningMethod, key any, c jwt.Claims) {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
	}
	expired := goodClaims(past)
	seed(jwt.SigningMethodHS256, testKey, expired)
	seed(jwt.SigningMethodHS512, testKey, expired)
	seed(jwt.SigningMethodHS256, []byte("another-32-byte-secret-key-000000"), goodClaims(time.Now()))
	seed(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, goodClaims(time.Now()))
	f.Add("")
	f.Add(".")
	f.Add("..")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")

	iss, err := NewIssuer(testKey, testIssuer, time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := iss.Verify(token)
		if err == nil {
			t.Fatalf("Verify accepted fuzzed token %q: %+v", token, c)
		}
		if c != nil {
			t.Fatalf("Verify returned claims with error %v", err)
		}
		if !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("error %v does not wrap ErrInvalidToken", err)
		}
	})
}
