package gateway_test

import (
	"testing"
)

// testLoginThrottle: ten failed logins lock an account out for the window, even with the right
// password; other accounts are not affected.
func testLoginThrottle(t *testing.T, tn *testNode) {
	u := tn.newUser("user")
	other := tn.newUser("user")
	for i := range 10 {
		r := tn.do("POST", "/api/v1/auth/login", "", map[string]string{"email": u.Email, "password": "wrong-password"})
		if r.Status != 401 || r.code() != "invalid_credentials" {
			t.Fatalf("failure %d: %s", i+1, r)
		}
	}
	r := tn.do("POST", "/api/v1/auth/login", "", map[string]string{"email": u.Email, "password": u.Password})
	if r.Status != 429 || r.code() != "rate_limited" {
		t.Fatalf("login after 10 failures: %s", r)
	}
	if r := tn.do("POST", "/api/v1/auth/login", "", map[string]string{"email": other.Email, "password": other.Password}); r.Status != 200 {
		t.Fatalf("another account was locked out too: %s", r)
	}
	// Unknown emails are throttled the same way (no hint whether the account exists).
	for range 10 {
		tn.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "nobody-" + u.Email, "password": "x-password"})
	}
	if r := tn.do("POST", "/api/v1/auth/login", "", map[string]string{"email": "nobody-" + u.Email, "password": "x-password"}); r.Status != 429 {
		t.Fatalf("unknown email after 10 failures: %s", r)
	}
}
