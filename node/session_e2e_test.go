package node_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/persistence"
)

// session is one login: its tokens and the user's wallet.
type session struct {
	userID, wallet, access, refresh string
}

func loginSession(t *testing.T, base, email, password string) session {
	t.Helper()
	tok := mustCall(t, 200, "POST", base+"/api/v1/auth/login", "", "", map[string]string{"email": email, "password": password})
	s := session{access: tok["access_token"].(string), refresh: tok["refresh_token"].(string)}
	me := mustCall(t, 200, "GET", base+"/api/v1/me", s.access, "", nil)
	s.userID, s.wallet = me["id"].(string), me["wallet_id"].(string)
	return s
}

// refusedWithin polls GET /api/v1/wallets/{wallet} with s's access token on base until it is
// refused 401 session_revoked, failing at deadline.
func refusedWithin(t *testing.T, what, base string, s session, deadline time.Time) {
	t.Helper()
	for {
		r, err := call(t, "GET", base+"/api/v1/wallets/"+s.wallet, s.access, "", nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if r.status == 401 {
			if r.body["code"] != "session_revoked" {
				t.Fatalf("%s: refused with %v, want session_revoked", what, r.body)
			}
			return
		}
		if r.status != 200 {
			t.Fatalf("%s: status %d %v", what, r.status, r.body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the token is still accepted a second after its session ended", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition with a deadline
	}
}

// hangingLLM is a model API that answers nothing until the test ends: jobs stay running, and
// their event streams open.
func hangingLLM(t *testing.T) string {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
		http.Error(w, "test over", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: the handlers return, then the server closes
	return srv.URL
}

// TestSessionsEndOnEveryNode: on a cluster of three `dw serve` processes, a logout, a password
// change, a suspension and a role change made through one node end the old access tokens on
// every node within a second (issue 9, finding 4); so does a change written to the database by
// another process (as the CLI does), also after the nodes lost their listening connections. A
// WebSocket on one node and an SSE stream on another are closed when the user is suspended.
func TestSessionsEndOnEveryNode(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDB(t)
	nodes := startCluster(t, "sess", dbURL, "--llm-base-url", hangingLLM(t), "--price-interpretation", "10")
	bases := make([]string, len(nodes))
	for i, p := range nodes {
		bases[i] = "http://" + p.http
	}
	a := bases[0]
	admin := createAdmin(t, a, "--database-url", dbURL)
	store, err := persistence.Open(t.Context(), dbURL, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)

	seq := 0
	newUser := func(t *testing.T) (email string, s session) {
		seq++
		email = fmt.Sprintf("sess-%d@e2e.test", seq)
		mustCall(t, 201, "POST", a+"/api/v1/auth/register", "", "", map[string]string{"email": email, "password": "user-pass-123"})
		return email, loginSession(t, a, email, "user-pass-123")
	}
	// everywhereEnded checks that s is refused on every node within a second of now.
	everywhereEnded := func(t *testing.T, what string, s session) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for i, base := range bases {
			refusedWithin(t, fmt.Sprintf("%s, node %d", what, i+1), base, s, deadline)
		}
	}
	everywhereOpen := func(t *testing.T, s session) {
		t.Helper()
		for _, base := range bases {
			mustCall(t, 200, "GET", base+"/api/v1/wallets/"+s.wallet, s.access, "", nil)
		}
	}

	for _, tt := range []struct {
		name      string
		end       func(t *testing.T, s session)
		otherEnds bool
	}{
		{"logout", func(t *testing.T, s session) {
			mustCall(t, 204, "POST", bases[1]+"/api/v1/auth/logout", s.access, "", map[string]string{"refresh_token": s.refresh})
		}, false},
		{"password change", func(t *testing.T, s session) {
			mustCall(t, 204, "POST", bases[1]+"/api/v1/me/password", s.access, "",
				map[string]string{"current_password": "user-pass-123", "new_password": "user-pass-456"})
		}, true},
		{"suspension", func(t *testing.T, s session) {
			mustCall(t, 200, "PATCH", bases[2]+"/api/v1/admin/users/"+s.userID, admin, "", map[string]string{"status": "suspended"})
		}, true},
		{"role change", func(t *testing.T, s session) {
			mustCall(t, 200, "PATCH", bases[2]+"/api/v1/admin/users/"+s.userID, admin, "", map[string]string{"role": "operator"})
		}, true},
		{"suspension written by another process", func(t *testing.T, s session) {
			if _, err := store.UpdateUser(t.Context(), s.userID, "", "suspended", persistence.AuditEntry{Action: "user.update"}); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			email, s := newUser(t)
			other := loginSession(t, bases[2], email, "user-pass-123")
			everywhereOpen(t, s)
			everywhereOpen(t, other)
			tt.end(t, s)
			everywhereEnded(t, tt.name, s)
			if tt.otherEnds {
				everywhereEnded(t, tt.name+", other session", other)
			} else {
				everywhereOpen(t, other)
			}
		})
	}

	t.Run("after the listeners lost their connections", func(t *testing.T) {
		_, s := newUser(t)
		everywhereOpen(t, s) // cached on every node
		var n int
		if err := store.Pool().QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN `+persistence.SessionChannel+`'`).Scan(&n); err != nil || n != len(nodes) {
			t.Fatalf("terminated %d listeners (%v), want %d", n, err, len(nodes))
		}
		if _, err := store.UpdateUser(t.Context(), s.userID, "", "suspended", persistence.AuditEntry{Action: "user.update"}); err != nil {
			t.Fatal(err)
		}
		everywhereEnded(t, "suspension while reconnecting", s)
		// The nodes listen again: a later change reaches them too.
		waitFor(t, 10*time.Second, "the listeners to reconnect", func() bool {
			var n int
			_ = store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND query = 'LISTEN `+persistence.SessionChannel+`'`).Scan(&n)
			return n == len(nodes)
		})
		_, s2 := newUser(t)
		everywhereOpen(t, s2)
		mustCall(t, 200, "PATCH", a+"/api/v1/admin/users/"+s2.userID, admin, "", map[string]string{"role": "service"})
		everywhereEnded(t, "role change after reconnecting", s2)
	})

	t.Run("live streams close on suspension", func(t *testing.T) {
		_, s := newUser(t)
		mustCall(t, 201, "POST", a+"/api/v1/wallets/"+s.wallet+"/deposits", admin, "sess-topup", map[string]any{"amount": 100})
		sets := mustCall(t, 200, "GET", a+"/api/v1/poem-sets", "", "", nil)
		slug := sets["items"].([]any)[0].(map[string]any)["slug"].(string)
		job := mustCall(t, 202, "POST", a+"/api/v1/jobs", s.access, "sess-job", map[string]any{"type": "interpretation",
			"set": slug, "number": 7, "question": "Will this session end?", "topic": "career"})["job_id"].(string)

		ws := dialSessionWS(t, bases[1], s.access)
		sse := openSSE(t, bases[2], s.access, "/api/v1/jobs/"+job+"/events")
		mustCall(t, 200, "PATCH", a+"/api/v1/admin/users/"+s.userID, admin, "", map[string]string{"status": "suspended"})
		deadline := time.Now().Add(time.Second)

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
			break
		}
		select {
		case events := <-sse:
			if len(events) == 0 || events[len(events)-1] != "session_revoked" {
				t.Fatalf("SSE events %v, want the last to be session_revoked", events)
			}
		case <-time.After(time.Until(deadline)):
			t.Fatal("the SSE stream is still open a second after the suspension")
		}
	})
}

// dialSessionWS opens the live WebSocket of token on base and waits for its hello.
func dialSessionWS(t *testing.T, base, token string) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/ws?access_token=" + url.QueryEscape(token)
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

// openSSE opens an event stream and waits for its first event; the channel receives the types
// of all its events once the stream ends.
func openSSE(t *testing.T, base, token, path string) <-chan []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		res.Body.Close()
		t.Fatalf("SSE %s: status %d", path, res.StatusCode)
	}
	lines := make(chan string)
	out := make(chan []string, 1)
	go func() {
		defer res.Body.Close()
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// Wait for the first event, then collect the rest in the background.
	var events []string
	timeout := time.After(10 * time.Second)
	for len(events) == 0 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("SSE: the stream ended before its first event")
			}
			if typ, ok := strings.CutPrefix(line, "event: "); ok {
				events = append(events, typ)
			}
		case <-timeout:
			t.Fatal("SSE: no first event")
		}
	}
	go func() {
		for line := range lines {
			if typ, ok := strings.CutPrefix(line, "event: "); ok {
				events = append(events, typ)
			}
		}
		out <- events
	}()
	return out
}
