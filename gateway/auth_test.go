package gateway_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/divinewhispers/dw/auth"
)

// forge re-encodes a token's payload with change applied, keeping the original signature.
func forge(t *testing.T, token string, change func(map[string]any)) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWS", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	change(claims)
	raw, err = json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

func claimsFor(u *user, role string, now time.Time) auth.Claims {
	cur := accessClaims(u.Access)
	return auth.Claims{UserID: u.ID, Role: role, WalletID: u.WalletID, SessionID: cur.SessionID, Version: cur.Version, RegisteredClaims: jwt.RegisteredClaims{
		ID: "forged", Issuer: "dw", Subject: u.ID, IssuedAt: jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)),
	}}
}

func testJWTValidation(t *testing.T, tn *testNode) {
	u := tn.newUser("user")
	now := time.Now()

	var me struct {
		ID       string `json:"id"`
		Email    string `json:"email"`
		Role     string `json:"role"`
		WalletID string `json:"wallet_id"`
		Status   string `json:"status"`
	}
	decodeInto(t, tn.do("GET", "/api/v1/me", u.Access, nil), 200, &me)
	if me.ID != u.ID || me.Email != u.Email || me.Role != "user" || me.WalletID != u.WalletID || me.Status != "active" {
		t.Errorf("GET /me = %+v, want user %+v", me, u)
	}

	otherIssuer, err := auth.NewIssuer([]byte("another-key-0123456789-0123456789-0123"), "dw", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _, err := otherIssuer.Issue(subjectOf(u, "admin"), now)
	if err != nil {
		t.Fatal(err)
	}
	sameIssuer, err := auth.NewIssuer([]byte(testJWTKey), "dw", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := sameIssuer.Issue(subjectOf(u, "user"), now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	notYet, _, err := sameIssuer.Issue(subjectOf(u, "user"), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	wrongIssuer, err := auth.NewIssuer([]byte(testJWTKey), "someone-else", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _, err := wrongIssuer.Issue(subjectOf(u, "admin"), now)
	if err != nil {
		t.Fatal(err)
	}
	algNone, err := jwt.NewWithClaims(jwt.SigningMethodNone, claimsFor(u, "admin", now)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, claimsFor(u, "admin", now)).SignedString([]byte(testJWTKey))
	if err != nil {
		t.Fatal(err)
	}
	// Sanity: the forging itself is right, since the same claims signed HS256 pass.
	good, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claimsFor(u, "user", now)).SignedString([]byte(testJWTKey))
	if err != nil {
		t.Fatal(err)
	}
	if r := tn.do("GET", "/api/v1/me", good, nil); r.Status != 200 {
		t.Fatalf("hand-made HS256 token refused: %s", r)
	}

	parts := strings.Split(u.Access, ".")
	for name, token := range map[string]string{
		"payload role changed to admin": forge(t, u.Access, func(c map[string]any) { c["role"] = "admin" }),
		"payload uid changed":           forge(t, u.Access, func(c map[string]any) { c["uid"], c["sub"] = tn.admin.ID, tn.admin.ID }),
		"payload exp extended":          forge(t, u.Access, func(c map[string]any) { c["exp"] = now.Add(24 * time.Hour).Unix() }),
		"signed with another key":       otherKey,
		"alg none":                      algNone,
		"alg none, signature kept":      forge(t, algNone, func(map[string]any) {}) + parts[2],
		"expired":                       expired,
		"not yet valid":                 notYet,
		"another issuer":                foreign,
		"HS512 with the right key":      hs512,
		"garbage":                       "garbage",
		"three garbage segments":        "a.b.c",
		"signature removed":             parts[0] + "." + parts[1] + ".",
		"signature truncated":           u.Access[:len(u.Access)-4],
		"long garbage":                  strings.Repeat("a", 3000),
	} {
		r := tn.do("GET", "/api/v1/me", token, nil)
		wantProblem(t, name, r, http.StatusUnauthorized, "invalid_token")
		if name == "payload role changed to admin" || name == "HS512 with the right key" || name == "alg none" {
			r := tn.do("GET", "/api/v1/admin/users", token, nil)
			wantProblem(t, name+" on an admin route", r, http.StatusUnauthorized, "invalid_token")
		}
	}

	// A header beyond fasthttp's read buffer never reaches the gateway's checks; it must still be
	// refused as a problem document.
	// Sent raw: fasthttp answers 431 and closes while net/http may still be writing, which it
	// reports as a broken connection rather than the answer.
	r := tn.rawDo("GET", "/api/v1/me", hdr{"Authorization": "Bearer " + strings.Repeat("a", 9000)}, nil)
	if r.Status != http.StatusRequestHeaderFieldsTooLarge || r.problem().Status != r.Status {
		t.Errorf("oversized token: %s", r)
	}

	for name, h := range map[string]string{
		"no header":        "",
		"empty bearer":     "Bearer ",
		"basic scheme":     "Basic dXNlcjpwYXNz",
		"token, no scheme": u.Access,
	} {
		req := hdr{}
		if h != "" {
			req["Authorization"] = h
		}
		r := tn.do("GET", "/api/v1/me", "", nil, req)
		wantProblem(t, name, r, http.StatusUnauthorized, "missing_token")
	}
}

type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
}

func (tn *testNode) refresh(refreshToken string) response {
	tn.t.Helper()
	return tn.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": refreshToken})
}

func (tn *testNode) loginPair(email, password string) (tokenPair, response) {
	tn.t.Helper()
	r := tn.do("POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	var p tokenPair
	decodeInto(tn.t, r, 200, &p)
	return p, r
}

func cookie(r response, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func testRefreshRotation(t *testing.T, tn *testNode) {
	u := tn.newUser("user")

	first, loginResp := tn.loginPair(u.Email, u.Password)
	if first.TokenType != "Bearer" || first.ExpiresIn <= 0 || first.ExpiresIn > 15*60 {
		t.Errorf("login tokens %+v", first)
	}
	c := cookie(loginResp, "dw_refresh")
	switch {
	case c == nil:
		t.Fatalf("login set no dw_refresh cookie: %v", loginResp.Header.Values("Set-Cookie"))
	case c.Value != first.RefreshToken:
		t.Errorf("cookie holds %q, body refresh token %q", c.Value, first.RefreshToken)
	case !c.HttpOnly || c.SameSite != http.SameSiteStrictMode:
		t.Errorf("dw_refresh cookie not HttpOnly+SameSite=Strict: %v", loginResp.Header.Values("Set-Cookie"))
	case c.Path != "/api/v1/auth":
		t.Errorf("dw_refresh cookie path %q", c.Path)
	case c.Secure:
		t.Errorf("dw_refresh cookie is Secure though the node runs with SecureCookies=false")
	}

	// Rotation: a new pair, both tokens different, the new access token works.
	var second tokenPair
	decodeInto(t, tn.refresh(first.RefreshToken), 200, &second)
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken || second.AccessToken == "" {
		t.Errorf("refresh did not rotate: %+v then %+v", first, second)
	}
	if r := tn.do("GET", "/api/v1/me", second.AccessToken, nil); r.Status != 200 {
		t.Errorf("refreshed access token refused: %s", r)
	}

	// An independent session of the same user must survive the reuse below.
	other, _ := tn.loginPair(u.Email, u.Password)

	// Reusing the spent token revokes the family: the newer token dies too.
	wantProblem(t, "reused refresh token", tn.refresh(first.RefreshToken), http.StatusUnauthorized, "refresh_token_reused")
	wantProblem(t, "newer token of a reused family", tn.refresh(second.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	wantProblem(t, "reused again", tn.refresh(first.RefreshToken), http.StatusUnauthorized, "refresh_token_reused")
	var otherNext tokenPair
	decodeInto(t, tn.refresh(other.RefreshToken), 200, &otherNext)

	// Unknown, empty, oversized tokens.
	wantProblem(t, "unknown refresh token", tn.refresh("not-a-token"), http.StatusUnauthorized, "invalid_refresh_token")
	wantProblem(t, "no refresh token", tn.do("POST", "/api/v1/auth/refresh", "", nil), http.StatusUnauthorized, "invalid_refresh_token")
	wantProblem(t, "oversized refresh token", tn.refresh(strings.Repeat("x", 500)), http.StatusUnauthorized, "invalid_refresh_token")

	// The cookie alone refreshes, and the answer sets the next cookie.
	viaCookie, cr := tn.loginPair(u.Email, u.Password)
	r := tn.do("POST", "/api/v1/auth/refresh", "", nil, hdr{"Cookie": "dw_refresh=" + cookie(cr, "dw_refresh").Value})
	var fromCookie tokenPair
	decodeInto(t, r, 200, &fromCookie)
	if next := cookie(r, "dw_refresh"); next == nil || next.Value != fromCookie.RefreshToken || next.Value == viaCookie.RefreshToken {
		t.Errorf("refresh by cookie did not set the rotated cookie: %v", r.Header.Values("Set-Cookie"))
	}
	wantProblem(t, "spent cookie token", tn.do("POST", "/api/v1/auth/refresh", "", nil, hdr{"Cookie": "dw_refresh=" + viaCookie.RefreshToken}),
		http.StatusUnauthorized, "refresh_token_reused")

	// Logout revokes the session given in the body...
	session, _ := tn.loginPair(u.Email, u.Password)
	r = tn.do("POST", "/api/v1/auth/logout", session.AccessToken, map[string]string{"refresh_token": session.RefreshToken})
	if r.Status != http.StatusNoContent {
		t.Fatalf("logout: %s", r)
	}
	wantProblem(t, "refresh after logout", tn.refresh(session.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	// ...or in the cookie.
	session, _ = tn.loginPair(u.Email, u.Password)
	r = tn.do("POST", "/api/v1/auth/logout", session.AccessToken, nil, hdr{"Cookie": "dw_refresh=" + session.RefreshToken})
	if r.Status != http.StatusNoContent {
		t.Fatalf("logout by cookie: %s", r)
	}
	wantProblem(t, "refresh after cookie logout", tn.refresh(session.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	// The other session was not touched by either logout.
	decodeInto(t, tn.refresh(otherNext.RefreshToken), 200, &otherNext)
}

func testPasswordChange(t *testing.T, tn *testNode) {
	u := tn.newUser("user")
	s1, _ := tn.loginPair(u.Email, u.Password)
	s2, _ := tn.loginPair(u.Email, u.Password)

	change := func(current, next string) response {
		return tn.do("POST", "/api/v1/me/password", s1.AccessToken, map[string]string{"current_password": current, "new_password": next})
	}
	wantProblem(t, "wrong current password", change("wrong-password-1", "new-password-123"), http.StatusUnauthorized, "invalid_credentials")
	wantProblem(t, "weak new password", change(u.Password, "short"), http.StatusBadRequest, "invalid")
	wantProblem(t, "common new password", change(u.Password, "12345678"), http.StatusBadRequest, "weak_password")
	if d := change(u.Password, "password").problem().Detail; !strings.HasPrefix(d, "new_password: password is too easy to guess") {
		t.Errorf("weak new password: detail %q", d)
	}
	wantProblem(t, "unknown field", tn.do("POST", "/api/v1/me/password", s1.AccessToken, `{"current_password":"x","new_password":"y","extra":1}`),
		http.StatusBadRequest, "invalid_body")
	// Failed attempts ended nothing.
	decodeInto(t, tn.refresh(s2.RefreshToken), 200, &s2)

	if r := change(u.Password, "new-password-123"); r.Status != http.StatusNoContent {
		t.Fatalf("change password: %s", r)
	}
	wantProblem(t, "refresh of session 1 after password change", tn.refresh(s1.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	wantProblem(t, "refresh of session 2 after password change", tn.refresh(s2.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	wantProblem(t, "login with the old password",
		tn.do("POST", "/api/v1/auth/login", "", map[string]string{"email": u.Email, "password": u.Password}),
		http.StatusUnauthorized, "invalid_credentials")
	p, _ := tn.loginPair(u.Email, "new-password-123")
	if r := tn.do("GET", "/api/v1/me", p.AccessToken, nil); r.Status != 200 {
		t.Errorf("new session refused: %s", r)
	}
}
