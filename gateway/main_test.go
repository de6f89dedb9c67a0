package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/auth"
	"github.com/divinewhispers/dw/gateway"
	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/internal/testutil"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m, pgtest.Options{Migrate: persistence.Migrate})
	if code == 0 {
		if err := goleak.Find(testutil.LeakOptions()...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

const testJWTKey = "test-key-0123456789-0123456789-0123456789"

var nodeSeq atomic.Int64

// testNode is a real node serving HTTP on a loopback port, with its own database.
type testNode struct {
	t        *testing.T
	n        *node.Node
	cfg      node.Config
	base     string
	client   *http.Client
	store    *persistence.Store // a second pool on the node's database, for set-up only
	accounts *account.Service
	admin    *user // the first admin, made through the account core
}

// user is an account with a fresh session.
type user struct {
	ID, Email, Password, Role, WalletID string
	Access, Refresh                     string
}

// tlog sends a node's logs (errors only) to the test log.
type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startNode starts a one-node cluster on loopback ports with its own database and an admin.
// The node stops and the database is dropped when t ends. Rate limits are off (TestRateLimits
// tests them on gateways of its own). set, if given, change the configuration last.
func startNode(t *testing.T, set ...func(*node.Config)) *testNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id := nodeSeq.Add(1)
	cfg := node.Defaults()
	cfg.NodeName = fmt.Sprintf("gwtest-%d", id)
	cfg.ClusterName = fmt.Sprintf("gwtest-%d-%d", os.Getpid(), id)
	cfg.DatabaseURL = pgtest.NewDB(t)
	cfg.DataDir = t.TempDir()
	cfg.HTTP, cfg.Bind, cfg.Remote = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.JWTKey = testJWTKey
	cfg.SecureCookies = false
	cfg.LogLevel = "error"
	cfg.PasswordParams = &auth.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
	testLimits(&cfg)
	cfg.RateLimit = "off"
	for _, f := range set {
		f(&cfg)
	}
	var logOut io.Writer = io.Discard
	if testing.Verbose() {
		logOut = tlog{t}
	}
	logger := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelError}))
	n, err := node.Start(ctx, cfg, logger)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		if err := n.Stop(sctx); err != nil {
			t.Errorf("stop node: %v", err)
		}
	})
	store, err := persistence.Open(ctx, cfg.DatabaseURL, 4)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(store.Close) // runs before the node stops and the database is dropped
	accounts, _, err := node.Accounts(cfg, store)
	if err != nil {
		t.Fatalf("accounts: %v", err)
	}
	tr := &http.Transport{MaxIdleConns: 300, MaxIdleConnsPerHost: 300, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	tn := &testNode{t: t, n: n, cfg: cfg, base: "http://" + n.HTTPAddr(),
		client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, store: store, accounts: accounts}

	tn.makeAdmin(fmt.Sprintf("admin-%d@example.com", id))
	return tn
}

// makeAdmin registers the node's first admin through the account core and logs it in.
func (tn *testNode) makeAdmin(email string) {
	tn.t.Helper()
	u, err := tn.accounts.Register(tn.t.Context(), account.RegisterInput{Email: email, Password: "admin-password-1", Role: account.RoleAdmin})
	if err != nil {
		tn.t.Fatalf("register the admin: %v", err)
	}
	tn.admin = &user{ID: u.ID, Email: email, Password: "admin-password-1", Role: account.RoleAdmin, WalletID: u.WalletID}
	tn.login(tn.admin)
}

// serveGateway serves srv on a loopback port until t ends (then checks it shut down cleanly)
// and returns its base URL and a client for it.
func serveGateway(t *testing.T, srv *gateway.Server) (string, *http.Client) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.App.Listener(ln) }()
	tr := &http.Transport{MaxIdleConnsPerHost: 20, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		if err := srv.App.ShutdownWithTimeout(10 * time.Second); err != nil {
			t.Errorf("shut down: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String(), &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// with returns a view of the node whose helpers report to t (a subtest).
func (tn *testNode) with(t *testing.T) *testNode {
	c := *tn
	c.t = t
	return &c
}

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) String() string {
	b := r.Body
	if len(b) > 600 {
		b = b[:600]
	}
	return fmt.Sprintf("%d %s", r.Status, b)
}

// problem is the decoded problem+json body (zero when the body is not one).
func (r response) problem() (p struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}) {
	_ = json.Unmarshal(r.Body, &p)
	return p
}

func (r response) code() string { return r.problem().Code }

// header pairs for do.
type hdr map[string]string

// do sends one request. body: nil (none), string or []byte (raw), anything else (JSON).
func (tn *testNode) do(method, path, token string, body any, h ...hdr) response {
	tn.t.Helper()
	r, err := tn.tryDo(method, path, token, body, h...)
	if err != nil {
		tn.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (tn *testNode) tryDo(method, path, token string, body any, h ...hdr) (response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, tn.base+path, rd)
	if err != nil {
		return response{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, m := range h {
		for k, v := range m {
			req.Header.Set(k, v)
		}
	}
	res, err := tn.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

// decodeInto decodes r's JSON body into v, failing the test on a wrong status or body.
func decodeInto(t *testing.T, r response, status int, v any) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status: got %s, want %d", r, status)
	}
	if v == nil {
		return
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r, err)
	}
}

// wantProblem checks that r is a problem+json document with this status and code.
func wantProblem(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: status %s, want %d %s", what, r, status, code)
		return
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/problem+json" {
		t.Errorf("%s: Content-Type %q, want application/problem+json", what, r.Header.Get("Content-Type"))
	}
	p := r.problem()
	if p.Code != code {
		t.Errorf("%s: code %q, want %q (%s)", what, p.Code, code, r)
	}
	if p.Status != status || p.Title == "" || p.Type == "" {
		t.Errorf("%s: incomplete problem document %s", what, r)
	}
}

// login opens a session for u through the API and keeps its tokens.
func (tn *testNode) login(u *user) {
	tn.t.Helper()
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	decodeInto(tn.t, tn.do("POST", "/api/v1/auth/login", "", map[string]string{"email": u.Email, "password": u.Password}), 200, &tok)
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		tn.t.Fatalf("login %s: empty tokens", u.Email)
	}
	u.Access, u.Refresh = tok.AccessToken, tok.RefreshToken
}

var userSeq atomic.Int64

// newUser registers a user through the API, gives it role (through the admin's PATCH) and logs
// it in.
func (tn *testNode) newUser(role string) *user {
	tn.t.Helper()
	u := &user{Email: fmt.Sprintf("%s-%d@example.com", role, userSeq.Add(1)), Password: "password-" + role + "-1", Role: role}
	var created persistence.User
	decodeInto(tn.t, tn.do("POST", "/api/v1/auth/register", "", map[string]string{"email": u.Email, "password": u.Password}), 201, &created)
	if created.ID == "" || created.WalletID == "" || created.Role != account.RoleUser {
		tn.t.Fatalf("register: got %+v", created)
	}
	u.ID, u.WalletID = created.ID, created.WalletID
	if role != account.RoleUser {
		var patched persistence.User
		decodeInto(tn.t, tn.do("PATCH", "/api/v1/admin/users/"+u.ID, tn.admin.Access, map[string]string{"role": role}), 200, &patched)
		if patched.Role != role {
			tn.t.Fatalf("promote to %s: got %+v", role, patched)
		}
	}
	tn.login(u)
	return u
}

// walletView is GET /api/v1/wallets/{id}.
type walletView struct {
	ID        string `json:"id"`
	Balance   int64  `json:"balance"`
	Held      int64  `json:"held"`
	Available int64  `json:"available"`
	Seq       int64  `json:"seq"`
}

type txView struct {
	ID           string `json:"id"`
	WalletID     string `json:"wallet_id"`
	Seq          int64  `json:"seq"`
	Type         string `json:"type"`
	Status       string `json:"status"`
	Amount       int64  `json:"amount"`
	BalanceDelta int64  `json:"balance_delta"`
	HeldDelta    int64  `json:"held_delta"`
	BalanceAfter int64  `json:"balance_after"`
	HeldAfter    int64  `json:"held_after"`
	ReferenceID  string `json:"reference_id"`
	HoldID       string `json:"hold_id"`
	RefundOf     string `json:"refund_of"`
	Reason       string `json:"reason"`
}

func (tn *testNode) wallet(token, id string) walletView {
	tn.t.Helper()
	var w walletView
	decodeInto(tn.t, tn.do("GET", "/api/v1/wallets/"+id, token, nil), 200, &w)
	return w
}

// transactions pages through a wallet's whole ledger, pageSize at a time.
func (tn *testNode) transactions(token, id string, pageSize int) []txView {
	tn.t.Helper()
	var all []txView
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10000 {
			tn.t.Fatal("transactions: the cursor never ends")
		}
		var page struct {
			Items      []txView `json:"items"`
			NextCursor string   `json:"next_cursor"`
		}
		path := fmt.Sprintf("/api/v1/wallets/%s/transactions?page_size=%d", id, pageSize)
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		decodeInto(tn.t, tn.do("GET", path, token, nil), 200, &page)
		if len(page.Items) > pageSize {
			tn.t.Fatalf("page of %d items, page_size %d", len(page.Items), pageSize)
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

// checkLedger asserts that the wallet's balance and held amount equal the sums of its
// successful ledger entries, that the ledger's sequence numbers are 1..seq without gaps or
// repeats, and returns the wallet.
func (tn *testNode) checkLedger(token, id string) (walletView, []txView) {
	tn.t.Helper()
	w := tn.wallet(token, id)
	txs := tn.transactions(token, id, 7)
	var balance, held int64
	seen := map[int64]bool{}
	ids := map[string]bool{}
	for _, tx := range txs {
		if tx.WalletID != id {
			tn.t.Errorf("ledger of %s holds entry of wallet %s", id, tx.WalletID)
		}
		if ids[tx.ID] {
			tn.t.Errorf("entry %s listed twice while paging", tx.ID)
		}
		ids[tx.ID] = true
		if seen[tx.Seq] {
			tn.t.Errorf("seq %d appears twice", tx.Seq)
		}
		seen[tx.Seq] = true
		if tx.Status == "success" {
			balance += tx.BalanceDelta
			held += tx.HeldDelta
		}
	}
	if int64(len(txs)) != w.Seq {
		tn.t.Errorf("wallet %s: seq %d but %d ledger entries", id, w.Seq, len(txs))
	}
	for s := int64(1); s <= w.Seq; s++ {
		if !seen[s] {
			tn.t.Errorf("wallet %s: seq %d missing from the ledger", id, s)
		}
	}
	if balance != w.Balance || held != w.Held || w.Available != w.Balance-w.Held {
		tn.t.Errorf("wallet %s: balance %d held %d available %d; ledger sums balance %d held %d",
			id, w.Balance, w.Held, w.Available, balance, held)
	}
	if w.Balance < 0 || w.Held < 0 || w.Available < 0 {
		tn.t.Errorf("wallet %s went negative: %+v", id, w)
	}
	return w, txs
}
