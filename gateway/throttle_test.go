package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/actors"
	"github.com/divinewhispers/dw/auth"
	"github.com/divinewhispers/dw/captcha"
	"github.com/divinewhispers/dw/gateway"
	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence"
)

// testLimits keeps the registration and login limits out of the way of scenarios that register
// many users and log in from 127.0.0.1, and makes proof-of-work captchas quick to solve. The
// login-limit scenarios run on a node of their own with the defaults (TestLoginLimits).
func testLimits(cfg *node.Config) {
	cfg.LoginLimits.RegisterFree, cfg.LoginLimits.RegisterLimit = 1_000_000, 1_000_000
	l := &cfg.LoginLimits
	l.LoginCaptchaAfter, l.AddressCaptchaAfter, l.AddressLimit = 1_000_000, 1_000_000, 1_000_000
	cfg.CaptchaPoWMax = 1000
}

var addrSeq atomic.Int64

// fromNewAddress returns a view of the node whose requests come from a loopback address no
// other scenario uses (Linux answers all of 127.0.0.0/8 on lo), the way requests of another
// client would.
func (tn *testNode) fromNewAddress() (*testNode, string) {
	n := addrSeq.Add(1)
	ip := fmt.Sprintf("127.0.%d.%d", 10+n/250, 1+n%250)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 8, IdleConnTimeout: 30 * time.Second}
	tn.t.Cleanup(tr.CloseIdleConnections)
	c := *tn
	c.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	return &c, ip
}

// challenge returns the captcha challenge of a 403 captcha_required or captcha_invalid.
func (r response) challenge() map[string]any {
	var p struct {
		Captcha map[string]any `json:"captcha"`
	}
	_ = json.Unmarshal(r.Body, &p)
	return p.Captcha
}

// solve solves r's proof-of-work challenge as the ALTCHA widget would.
func solve(t *testing.T, r response) string {
	t.Helper()
	ch := r.challenge()
	if ch["provider"] != "altcha" || ch["algorithm"] != "SHA-256" {
		t.Fatalf("no proof-of-work challenge in %s", r)
	}
	sol, ok := captcha.Solve(ch)
	if !ok {
		t.Fatalf("challenge without a solution: %v", ch)
	}
	return sol.Encode()
}

func login(email, password string, captchaSolution ...string) map[string]string {
	body := map[string]string{"email": email, "password": password}
	if len(captchaSolution) > 0 {
		body["captcha"] = captchaSolution[0]
	}
	return body
}

// testLoginThrottle: one address guessing across many accounts meets captchas and then 429;
// the owner of an attacked account, from another address, still gets in. (Before issue 9, ten
// failures locked the owner out and 270 guesses across 30 accounts never saw a 429.)
func testLoginThrottle(t *testing.T, tn *testNode) {
	attacker, _ := tn.fromNewAddress()
	owner, _ := tn.fromNewAddress()
	victims := make([]*user, 30)
	for i := range victims {
		victims[i] = tn.newUser("user")
	}
	l := account.DefaultLimits

	// 270 guesses without solving anything: the first AddressCaptchaAfter are checked, every
	// later one is asked for a captcha (and costs no password hash).
	counts := map[string]int{}
	for round := range 9 {
		for _, v := range victims {
			r := attacker.do("POST", "/api/v1/auth/login", "", login(v.Email, fmt.Sprintf("guess-%d", round)))
			counts[fmt.Sprint(r.Status, " ", r.code())]++
			if r.Status == http.StatusForbidden && r.challenge()["challenge"] == nil {
				t.Fatalf("captcha_required without a challenge: %s", r)
			}
		}
	}
	want := map[string]int{"401 invalid_credentials": l.AddressCaptchaAfter, "403 captcha_required": 270 - l.AddressCaptchaAfter}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("270 guesses: %v, want %v", counts, want)
	}

	// The owner, from another address, logs in: no captcha, no lock.
	decodeInto(t, owner.do("POST", "/api/v1/auth/login", "", login(victims[0].Email, victims[0].Password)), 200, nil)

	// Guessing on with solved captchas: checked until the address's hard limit, then 429.
	r := attacker.do("POST", "/api/v1/auth/login", "", login(victims[0].Email, "guess-x"))
	var got401 int
	for range l.AddressLimit {
		if r.Status != http.StatusForbidden {
			break
		}
		r = attacker.do("POST", "/api/v1/auth/login", "", login(victims[got401%30].Email, "guess-with-captcha", solve(t, r)))
		if r.Status == http.StatusUnauthorized {
			got401++
			r = attacker.do("POST", "/api/v1/auth/login", "", login(victims[0].Email, "guess-x")) // the next ask
		}
	}
	if got401 != l.AddressLimit-l.AddressCaptchaAfter {
		t.Errorf("guesses checked with a captcha: %d, want %d", got401, l.AddressLimit-l.AddressCaptchaAfter)
	}
	wantProblem(t, "past the address limit", r, http.StatusTooManyRequests, "rate_limited")
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > int(l.LoginWindow/time.Second) {
		t.Errorf("Retry-After %q, want 1..%d seconds", r.Header.Get("Retry-After"), int(l.LoginWindow/time.Second))
	}
	// Even the right password is refused from that address (it cannot tell the owner from
	// the guesser); from the owner's address it still works.
	wantProblem(t, "right password from the attacking address", attacker.do("POST", "/api/v1/auth/login", "", login(victims[1].Email, victims[1].Password)),
		http.StatusTooManyRequests, "rate_limited")
	decodeInto(t, owner.do("POST", "/api/v1/auth/login", "", login(victims[1].Email, victims[1].Password)), 200, nil)

	// Every ask and the limit are audited.
	for _, action := range []string{"security.captcha_required", "security.rate_limited"} {
		if rows := tn.audit(url.Values{"action": {action}, "target_id": {victims[0].ID}}, 100); len(rows) == 0 {
			t.Errorf("no %s audited for %s", action, victims[0].ID)
		}
	}
}

// testLoginCaptcha: a few failures of one address against one account (case variants of the
// email count as one) ask that address for a captcha on that account; a solved captcha lets
// one request through, a replayed one is refused; the owner elsewhere is not asked.
func testLoginCaptcha(t *testing.T, tn *testNode) {
	guesser, _ := tn.fromNewAddress()
	owner, _ := tn.fromNewAddress()
	u := tn.newUser("user")
	other := tn.newUser("user")
	variants := []string{strings.ToUpper(u.Email), " " + u.Email + " ", strings.ToUpper(u.Email[:1]) + u.Email[1:]}
	for _, e := range variants {
		wantProblem(t, "wrong password as "+e, guesser.do("POST", "/api/v1/auth/login", "", login(e, "wrong-password")), http.StatusUnauthorized, "invalid_credentials")
	}
	ask := guesser.do("POST", "/api/v1/auth/login", "", login(u.Email, u.Password))
	wantProblem(t, "after 3 failures as case variants", ask, http.StatusForbidden, "captcha_required")
	if ch := ask.challenge(); ch["maxnumber"] != float64(1000) || !strings.Contains(fmt.Sprint(ch["salt"]), "?expires=") || len(fmt.Sprint(ch["signature"])) != 64 {
		t.Errorf("challenge %v", ch)
	}
	// Another account from the same address is not asked; the owner elsewhere is not asked.
	decodeInto(t, guesser.do("POST", "/api/v1/auth/login", "", login(other.Email, other.Password)), 200, nil)
	decodeInto(t, owner.do("POST", "/api/v1/auth/login", "", login(u.Email, u.Password)), 200, nil)

	sol := solve(t, ask)
	decodeInto(t, guesser.do("POST", "/api/v1/auth/login", "", login(u.Email, u.Password, sol)), 200, nil)
	replay := guesser.do("POST", "/api/v1/auth/login", "", login(u.Email, u.Password, sol))
	wantProblem(t, "replayed solution", replay, http.StatusForbidden, "captcha_invalid")
	if replay.challenge()["challenge"] == nil {
		t.Errorf("a refused solution comes without a new challenge: %s", replay)
	}
	// The header carries a solution as well as the body.
	decodeInto(t, guesser.do("POST", "/api/v1/auth/login", "", login(u.Email, u.Password), hdr{"X-Captcha": solve(t, replay)}), 200, nil)
	garbage := guesser.do("POST", "/api/v1/auth/login", "", login(u.Email, u.Password, "bm90IGEgc29sdXRpb24="))
	wantProblem(t, "garbage solution", garbage, http.StatusForbidden, "captcha_invalid")

	// Unknown emails: case variants count as one too (no hint whether the account exists).
	nobody := "Nobody-" + u.Email
	for _, e := range []string{nobody, strings.ToLower(nobody), strings.ToUpper(nobody)} {
		wantProblem(t, "unknown "+e, guesser.do("POST", "/api/v1/auth/login", "", login(e, "x-password")), http.StatusUnauthorized, "invalid_credentials")
	}
	wantProblem(t, "unknown email after 3 failures", guesser.do("POST", "/api/v1/auth/login", "", login(nobody, "x-password")), http.StatusForbidden, "captcha_required")
	if rows := tn.audit(url.Values{"action": {"security.captcha_refused"}, "target_id": {u.ID}}, 10); len(rows) < 2 {
		t.Errorf("refused solutions audited %d times, want 2", len(rows))
	}
}

// authGateway serves a gateway (no cluster: the account routes need none) over a fresh
// database, configured by set, for the limits and captcha providers that the shared node of
// TestGateway does not run with.
func authGateway(t *testing.T, set func(*node.Config)) *testNode {
	t.Helper()
	cfg := node.Defaults()
	cfg.JWTKey = testJWTKey
	cfg.PasswordParams = &auth.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
	cfg.CaptchaPoWMax = 1000
	cfg.DatabaseURL = pgtest.NewDB(t)
	set(&cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	store, err := persistence.Open(t.Context(), cfg.DatabaseURL, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	accounts, issuer, err := node.Accounts(cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	srv := gateway.New(gateway.Config{Accounts: accounts, Issuer: issuer, Store: store, Charger: &actors.Charger{},
		Registry: prometheus.NewRegistry(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	base, client := serveGateway(t, srv)
	return &testNode{t: t, cfg: cfg, base: base, client: client, store: store, accounts: accounts}
}

func register(email, password string, captchaSolution ...string) map[string]string {
	return login(email, password, captchaSolution...)
}

// TestRegistrationLimits: beyond a free rate of registrations per address a captcha is asked,
// beyond the hard limit 429; another address registers freely; an admin is not limited.
func TestRegistrationLimits(t *testing.T) {
	t.Parallel()
	tn := authGateway(t, func(c *node.Config) { c.LoginLimits.RegisterFree, c.LoginLimits.RegisterLimit = 2, 4 })
	a, _ := tn.fromNewAddress()
	b, _ := tn.fromNewAddress()
	email := func() string { return fmt.Sprintf("reg-%d@example.com", userSeq.Add(1)) }
	for range 2 {
		decodeInto(t, a.do("POST", "/api/v1/auth/register", "", register(email(), "amber-quartz-reg-1")), 201, nil)
	}
	ask := a.do("POST", "/api/v1/auth/register", "", register(email(), "amber-quartz-reg-1"))
	wantProblem(t, "third registration", ask, http.StatusForbidden, "captcha_required")
	decodeInto(t, b.do("POST", "/api/v1/auth/register", "", register(email(), "amber-quartz-reg-1")), 201, nil)
	for range 2 {
		decodeInto(t, a.do("POST", "/api/v1/auth/register", "", register(email(), "amber-quartz-reg-1", solve(t, ask))), 201, nil)
		ask = a.do("POST", "/api/v1/auth/register", "", register(email(), "amber-quartz-reg-1"))
	}
	wantProblem(t, "past the registration limit", ask, http.StatusTooManyRequests, "rate_limited")
	if ask.Header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After: %v", ask.Header)
	}
	if _, err := tn.accounts.Register(t.Context(), account.RegisterInput{Email: email(), Password: "amber-quartz-reg-1",
		IP: "127.0.0.1", ActorID: "00000000-0000-0000-0000-000000000000", Role: account.RoleUser}); err != nil {
		t.Errorf("an admin's registration was limited: %v", err)
	}
}

// siteverify is a Turnstile/hCaptcha verification server of the test's own, on 127.0.0.1:
// each token it issued is good once, for the address it was issued to.
type siteverify struct {
	URL    string
	mu     sync.Mutex
	tokens map[string]string // token → the client address it was issued to
}

func newSiteverify(t *testing.T, secret string) *siteverify {
	sv := &siteverify{tokens: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		sv.mu.Lock()
		defer sv.mu.Unlock()
		reply := map[string]any{"success": false, "error-codes": []string{"invalid-input-response"}}
		if ip, ok := sv.tokens[r.PostForm.Get("response")]; ok && r.PostForm.Get("secret") == secret && ip == r.PostForm.Get("remoteip") {
			delete(sv.tokens, r.PostForm.Get("response"))
			reply = map[string]any{"success": true}
		}
		_ = json.NewEncoder(w).Encode(reply)
	}))
	t.Cleanup(srv.Close)
	sv.URL = srv.URL + "/siteverify"
	return sv
}

// issue makes token good once for a client at ip, as the widget's provider would.
func (sv *siteverify) issue(token, ip string) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	sv.tokens[token] = ip
}

// TestRemoteCaptcha: with --captcha turnstile or hcaptcha the challenge names the widget and
// its site key, and the node verifies tokens with the provider's siteverify (here a server of
// the test's own): a good token passes once, a bad or replayed one is refused.
func TestRemoteCaptcha(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{captcha.KindTurnstile, captcha.KindHCaptcha} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			sv := newSiteverify(t, "sv-secret")
			tn := authGateway(t, func(c *node.Config) {
				c.Captcha, c.CaptchaSecret, c.CaptchaSiteKey, c.CaptchaVerifyURL = kind, "sv-secret", "site-key-1", sv.URL
				c.LoginLimits.RegisterFree = 1
			})
			a, ip := tn.fromNewAddress()
			decodeInto(t, a.do("POST", "/api/v1/auth/register", "", register(fmt.Sprintf("rc-%d@example.com", userSeq.Add(1)), "amber-quartz-rc-1")), 201, nil)
			ask := a.do("POST", "/api/v1/auth/register", "", register(fmt.Sprintf("rc-%d@example.com", userSeq.Add(1)), "amber-quartz-rc-1"))
			wantProblem(t, "second registration", ask, http.StatusForbidden, "captcha_required")
			if ch := ask.challenge(); ch["provider"] != kind || ch["site_key"] != "site-key-1" || strings.Contains(string(ask.Body), "sv-secret") {
				t.Errorf("challenge %s", ask)
			}
			sv.issue("token-good", ip)
			sv.issue("token-elsewhere", "203.0.113.9")
			decodeInto(t, a.do("POST", "/api/v1/auth/register", "", register(fmt.Sprintf("rc-%d@example.com", userSeq.Add(1)), "amber-quartz-rc-1", "token-good")), 201, nil)
			for _, token := range []string{"token-good", "token-elsewhere", "forged"} {
				wantProblem(t, "token "+token, a.do("POST", "/api/v1/auth/register", "", register(fmt.Sprintf("rc-%d@example.com", userSeq.Add(1)), "amber-quartz-rc-1", token)),
					http.StatusForbidden, "captcha_invalid")
			}
		})
	}
}

// testLoginBurst: guesses sent at once from one address do not slip past the count while the
// first of them are being checked: at most the free rate of them is checked, the rest are
// asked for a captcha. (Counting before recording let 37 of 48 through.)
func testLoginBurst(t *testing.T, tn *testNode) {
	attacker, _ := tn.fromNewAddress()
	victims := []*user{tn.newUser("user"), tn.newUser("user"), tn.newUser("user"), tn.newUser("user")}
	const burst = 48
	answers := make(chan string, burst)
	var wg sync.WaitGroup
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := attacker.tryDo("POST", "/api/v1/auth/login", "", login(victims[i%len(victims)].Email, fmt.Sprint("burst-", i)))
			if err != nil {
				answers <- err.Error()
				return
			}
			answers <- fmt.Sprint(r.Status, " ", r.code())
		}()
	}
	wg.Wait()
	close(answers)
	counts := map[string]int{}
	for a := range answers {
		counts[a]++
	}
	// Attempts that all reserve before any counts may all be asked: 0 checked is right too.
	checked := counts["401 invalid_credentials"]
	t.Logf("a burst of %d guesses from one address: %v", burst, counts)
	if checked > account.DefaultLimits.AddressCaptchaAfter || checked+counts["403 captcha_required"] != burst {
		t.Errorf("a burst of %d guesses: %v; want at most %d checked, the rest asked for a captcha", burst, counts, account.DefaultLimits.AddressCaptchaAfter)
	}
}
