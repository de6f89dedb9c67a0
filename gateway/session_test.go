package gateway_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/divinewhispers/dw/auth"
	"github.com/divinewhispers/dw/gateway"
)

// accessClaims decodes an access token's payload without checking it (test set-up only).
func accessClaims(token string) auth.Claims {
	var c auth.Claims
	if parts := strings.Split(token, "."); len(parts) == 3 {
		b, _ := base64.RawURLEncoding.DecodeString(parts[1])
		_ = json.Unmarshal(b, &c)
	}
	return c
}

// subjectOf is u's current session, with role.
func subjectOf(u *user, role string) auth.Subject {
	c := accessClaims(u.Access)
	return auth.Subject{UserID: u.ID, Role: role, WalletID: u.WalletID, SessionID: c.SessionID, Version: c.Version}
}

// testSessionTokens: tokens signed with the right key are still refused when their user does
// not exist, their session is someone else's or revoked, their version is not the user's, or
// their lifetime is longer than the node grants (issue 9, finding 4). Sessions ending on every
// node of a cluster, and live streams closing, are shown in node/session_e2e_test.go.
func testSessionTokens(t *testing.T, tn *testNode) {
	u, other := tn.newUser("user"), tn.newUser("user")
	now := time.Now()
	iss, err := auth.NewIssuer([]byte(testJWTKey), "dw", tn.cfg.AccessTTL)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(s auth.Subject) string {
		tok, _, err := iss.Issue(s, now)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	signed := func(mut func(*auth.Claims)) string {
		c := claimsFor(u, "user", now)
		mut(&c)
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(testJWTKey))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// Sanity: a token made this way for u's session is accepted.
	wantStatus(t, tn.do("GET", "/api/v1/me", issue(subjectOf(u, "user")), nil), 200)

	ghost := auth.Subject{UserID: uuid.NewString(), Role: "admin", WalletID: uuid.NewString(), SessionID: uuid.NewString()}
	ver := subjectOf(u, "user")
	ver.Version++
	for _, tt := range []struct {
		name, token, code string
	}{
		{"user that does not exist", issue(ghost), "invalid_token"},
		{"user id that is no UUID", issue(auth.Subject{UserID: "root", Role: "admin", SessionID: "x"}), "invalid_token"},
		{"another user's session", issue(auth.Subject{UserID: u.ID, Role: "user", WalletID: u.WalletID, SessionID: accessClaims(other.Access).SessionID}), "session_revoked"},
		{"a session that never was", issue(auth.Subject{UserID: u.ID, Role: "user", WalletID: u.WalletID, SessionID: uuid.NewString()}), "session_revoked"},
		{"a version ahead of the user's", issue(ver), "session_revoked"},
		{"a role the user does not have", issue(subjectOf(u, "admin")), "session_revoked"},
		{"a lifetime of a day", signed(func(c *auth.Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(24 * time.Hour)) }), "invalid_token"},
		{"a lifetime just past the maximum", signed(func(c *auth.Claims) {
			c.ExpiresAt = jwt.NewNumericDate(now.Add(tn.cfg.AccessTTL + auth.Leeway + time.Second))
		}), "invalid_token"},
		{"no session", signed(func(c *auth.Claims) { c.SessionID = "" }), "invalid_token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, tt.name, tn.with(t).do("GET", "/api/v1/me", tt.token, nil), http.StatusUnauthorized, tt.code)
			wantProblem(t, tt.name+" on an admin route", tn.with(t).do("GET", "/api/v1/admin/users", tt.token, nil), http.StatusUnauthorized, tt.code)
			ws := "ws" + strings.TrimPrefix(tn.base, "http") + "/api/v1/ws?access_token=" + url.QueryEscape(tt.token)
			if _, resp, err := websocket.DefaultDialer.Dial(ws, nil); err == nil || resp == nil || resp.StatusCode != 401 {
				t.Errorf("WebSocket: %v %v", err, resp)
			}
		})
	}
}

func wantStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status: got %s, want %d", r, status)
	}
}

// waitRefused polls GET path with token on tn until it is refused 401 with code, failing at the
// deadline.
func waitRefused(t *testing.T, tn *testNode, what, path, token, code string, deadline time.Time) {
	t.Helper()
	for {
		r := tn.with(t).do("GET", path, token, nil)
		if r.Status == http.StatusUnauthorized {
			wantProblem(t, what, r, http.StatusUnauthorized, code)
			return
		}
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %s", what, r)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: token still accepted a second after the change", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}

// testSessionsEnd: logout, a password change, a suspension and a role change end the access
// tokens they should within a second (issue 9, finding 4); a logout with another user's refresh
// token ends only the caller's own session (finding 6); the WebSocket of a suspended user is
// closed.
func testSessionsEnd(t *testing.T, tn *testNode) {
	walletPath := func(u *user) string { return "/api/v1/wallets/" + u.WalletID }
	tests := []struct {
		name      string
		end       func(t *testing.T, u *user)
		otherEnds bool // the user's other session ends too
		refresh   int  // status of a refresh with the session's refresh token afterwards
	}{
		{"logout", func(t *testing.T, u *user) {
			wantStatus(t, tn.with(t).do("POST", "/api/v1/auth/logout", u.Access, map[string]string{"refresh_token": u.Refresh}), 204)
		}, false, 401},
		{"logout with the access token only", func(t *testing.T, u *user) {
			wantStatus(t, tn.with(t).do("POST", "/api/v1/auth/logout", u.Access, nil), 204)
		}, false, 401},
		{"password change", func(t *testing.T, u *user) {
			wantStatus(t, tn.with(t).do("POST", "/api/v1/me/password", u.Access,
				map[string]string{"current_password": u.Password, "new_password": "another-password-2"}), 204)
		}, true, 401},
		{"suspension", func(t *testing.T, u *user) {
			wantStatus(t, tn.with(t).do("PATCH", "/api/v1/admin/users/"+u.ID, tn.admin.Access, map[string]string{"status": "suspended"}), 200)
		}, true, 401},
		{"role change", func(t *testing.T, u *user) {
			wantStatus(t, tn.with(t).do("PATCH", "/api/v1/admin/users/"+u.ID, tn.admin.Access, map[string]string{"role": "operator"}), 200)
		}, true, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tn := tn.with(t)
			u := tn.newUser("user")
			other := *u
			tn.login(&other) // a second session of the same user
			wantStatus(t, tn.do("GET", walletPath(u), u.Access, nil), 200)
			wantStatus(t, tn.do("GET", walletPath(u), other.Access, nil), 200)
			tt.end(t, u)
			deadline := time.Now().Add(time.Second)
			waitRefused(t, tn, tt.name, walletPath(u), u.Access, "session_revoked", deadline)
			if tt.otherEnds {
				waitRefused(t, tn, tt.name+", other session", walletPath(u), other.Access, "session_revoked", deadline)
			} else {
				wantStatus(t, tn.do("GET", walletPath(u), other.Access, nil), 200)
			}
			r := tn.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": u.Refresh})
			wantStatus(t, r, tt.refresh)
			if r.Status == 200 { // a role change: the session goes on with tokens of the new role
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				decodeInto(t, r, 200, &tok)
				if c := accessClaims(tok.AccessToken); c.Role != "operator" {
					t.Errorf("refreshed token has role %q, want operator", c.Role)
				}
				wantStatus(t, tn.do("GET", "/api/v1/accounting/sources", tok.AccessToken, nil), 200)
			}
		})
	}

	t.Run("logout with someone else's refresh token", func(t *testing.T) {
		t.Parallel()
		tn := tn.with(t)
		victim, attacker := tn.newUser("user"), tn.newUser("user")
		wantStatus(t, tn.do("POST", "/api/v1/auth/logout", attacker.Access, map[string]string{"refresh_token": victim.Refresh}), 204)
		// The attacker's own session ends (it logged out), which also shows the node heard of it...
		waitRefused(t, tn, "attacker", walletPath(attacker), attacker.Access, "session_revoked", time.Now().Add(time.Second))
		// ...while the victim's goes on: its access token and its refresh token still work.
		wantStatus(t, tn.do("GET", walletPath(victim), victim.Access, nil), 200)
		wantStatus(t, tn.do("POST", "/api/v1/auth/refresh", "", map[string]string{"refresh_token": victim.Refresh}), 200)
	})

	t.Run("WebSocket closes on suspension", func(t *testing.T) {
		t.Parallel()
		tn := tn.with(t)
		u := tn.newUser("user")
		ws := dialWS(t, tn, u.Access)
		wantStatus(t, tn.do("PATCH", "/api/v1/admin/users/"+u.ID, tn.admin.Access, map[string]string{"status": "suspended"}), 200)
		wantWSClosed(t, ws, time.Now().Add(time.Second))
		wsURL := "ws" + strings.TrimPrefix(tn.base, "http") + "/api/v1/ws?access_token=" + url.QueryEscape(u.Access)
		if _, resp, err := websocket.DefaultDialer.Dial(wsURL, nil); err == nil || resp == nil || resp.StatusCode != 401 {
			t.Errorf("a new WebSocket of a suspended user: %v %v", err, resp)
		}
	})
}

// dialWS opens the live WebSocket of token on tn and waits for its hello.
func dialWS(t *testing.T, tn *testNode, token string) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(tn.base, "http") + "/api/v1/ws?access_token=" + url.QueryEscape(token)
	conn, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatalf("websocket dial: %v (%v)", err, resp)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hello map[string]any
	if err := conn.ReadJSON(&hello); err != nil || hello["type"] != "hello" {
		t.Fatalf("websocket hello: %v %v", hello, err)
	}
	return conn
}

// wantWSClosed reads ws until the server closes it, which must happen before deadline with a
// close frame 1008 session_revoked.
func wantWSClosed(t *testing.T, ws *websocket.Conn, deadline time.Time) {
	t.Helper()
	if err := ws.SetReadDeadline(deadline); err != nil {
		t.Fatal(err)
	}
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue // events sent before the end
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != "session_revoked" {
			t.Fatalf("WebSocket: got %v, want a close frame 1008 session_revoked within a second", err)
		}
		return
	}
}

// testWebSocketsPerUser: one user holds at most MaxStreamsPerUser (16) WebSockets open on a
// node; the next upgrade answers 429 too_many_streams; another user is not affected; closing
// one makes room again.
func testWebSocketsPerUser(t *testing.T, tn *testNode) {
	u := tn.newUser("user")
	open := make([]*websocket.Conn, 0, 16)
	for range 16 {
		open = append(open, dialWS(t, tn, u.Access))
	}
	wsURL := "ws" + strings.TrimPrefix(tn.base, "http") + "/api/v1/ws?access_token=" + url.QueryEscape(u.Access)
	_, resp, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err == nil || resp == nil || resp.StatusCode != 429 {
		t.Fatalf("17th WebSocket: %v %v, want 429", err, resp)
	}
	var p gateway.Problem
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || p.Code != "too_many_streams" {
		t.Fatalf("17th WebSocket: %+v %v, want code too_many_streams", p, err)
	}
	dialWS(t, tn, tn.newUser("user").Access) // another user
	open[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no room after closing a WebSocket: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
