package node_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/internal/testutil"
	"github.com/divinewhispers/dw/persistence"
)

var dwBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dw-e2e-bin-")
	if err != nil {
		panic(err)
	}
	dwBinary = filepath.Join(dir, "dw")
	build := exec.Command("go", "build", "-o", dwBinary, "github.com/divinewhispers/dw/cmd/dw")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building dw:", err)
		os.Exit(1)
	}
	code := pgtest.Main(m, pgtest.Options{Migrate: persistence.Migrate})
	os.RemoveAll(dir)
	os.Exit(code)
}

const jwtKey = "e2e-key-0123456789-0123456789-0123456789"

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is one `dw serve` child process.
type proc struct {
	name, http, bind string
	args             []string
	env              []string // added to the test's environment and DW_JWT_KEY
	cmd              *exec.Cmd
	done             chan struct{} // closed when the process has exited
	log              *bytes.Buffer
	mu               sync.Mutex
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	p.cmd = exec.Command(dwBinary, p.args...)
	p.cmd.Env = append(append(os.Environ(), "DW_JWT_KEY="+jwtKey), p.env...)
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	go func() {
		s := bufio.NewScanner(pr)
		for s.Scan() {
			p.mu.Lock()
			p.log.WriteString(s.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func() { _ = p.cmd.Wait(); pw.Close(); close(p.done) }()
}

func (p *proc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
	}
}

func (p *proc) dump(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	lines := strings.Split(p.log.String(), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	t.Logf("--- last log lines of %s:\n%s", p.name, strings.Join(lines, "\n"))
}

func serveArgs(name, httpAddr, bind, remote string, extra ...string) []string {
	return append([]string{"serve", "--node-name", name, "--http", httpAddr, "--bind", bind,
		"--remote", remote, "--secure-cookies=false", "--log-level", "warn", "--rate-limit", "off",
		// The tests register many users from 127.0.0.1: no captcha for that (the limit tests
		// set their own).
		"--register-free", "100000", "--register-limit", "100000"}, extra...) // extra may turn limits on
}

// waitFor polls cond until it holds or d passes (testutil.Eventually).
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, d, func() error {
		if !cond() {
			return errors.New("still waiting for " + what)
		}
		return nil
	})
}

var client = &http.Client{Timeout: 15 * time.Second}

type apiResult struct {
	status int
	body   map[string]any
}

func call(t *testing.T, method, url, token, key string, body any) (apiResult, error) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, r)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := client.Do(req)
	if err != nil {
		return apiResult{}, err
	}
	defer resp.Body.Close()
	out := apiResult{status: resp.StatusCode}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out.body)
	return out, nil
}

func mustCall(t *testing.T, want int, method, url, token, key string, body any) map[string]any {
	t.Helper()
	r, err := call(t, method, url, token, key, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if r.status != want {
		t.Fatalf("%s %s: status %d, want %d: %v", method, url, r.status, want, r.body)
	}
	return r.body
}

func ready(base string) bool {
	resp, err := client.Get(base + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// metric reads the value of the first series of a node's /metrics that starts with prefix
// (-1 when the node does not answer, 0 when the series is absent).
func metric(base, prefix string) int {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	s := bufio.NewScanner(resp.Body)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), prefix) {
			var n int
			fmt.Sscan(s.Text()[strings.LastIndex(s.Text(), " ")+1:], &n)
			return n
		}
	}
	return 0
}

// members reads the node's dw_cluster_members gauge.
func members(base string) int { return metric(base, "dw_cluster_members{") }

// activeGrains reads how many wallet grains the node hosts.
func activeGrains(base string) int { return metric(base, `dw_active_grains{kind="wallet"`) }

// jobGrains reads how many job grains the node hosts.
func jobGrains(base string) int { return metric(base, `dw_active_grains{kind="job"`) }

// createAdmin makes an admin with the CLI and logs in through base.
func createAdmin(t *testing.T, base string, dbArgs ...string) string {
	t.Helper()
	args := append([]string{"user", "create", "--email", "admin@e2e.test", "--password", "admin-pass-123", "--role", "admin"}, dbArgs...)
	out, err := exec.Command(dwBinary, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dw user create: %v\n%s", err, out)
	}
	tok := mustCall(t, 200, "POST", base+"/api/v1/auth/login", "", "", map[string]string{"email": "admin@e2e.test", "password": "admin-pass-123"})
	return tok["access_token"].(string)
}

func ledgerCheck(t *testing.T, store *persistence.Store, walletID string) int64 {
	t.Helper()
	var balance, sum, seq, count int64
	err := store.Pool().QueryRow(context.Background(), `SELECT w.balance, w.seq,
		COALESCE((SELECT sum(balance_delta) FROM transactions WHERE wallet_id = w.id AND status = 'success'), 0),
		(SELECT count(*) FROM transactions WHERE wallet_id = w.id)
		FROM wallets w WHERE w.id = $1`, walletID).Scan(&balance, &seq, &sum, &count)
	if err != nil {
		t.Fatal(err)
	}
	if balance != sum || seq != count || balance < 0 {
		t.Fatalf("wallet %s: balance %d, ledger sum %d, seq %d, entries %d", walletID, balance, sum, seq, count)
	}
	return balance
}

// TestThreeNodeCluster forms a cluster of three `dw serve` processes through memberlist, works
// on the same wallets through every node, kills one, and checks the others take over.
func TestThreeNodeCluster(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDB(t)
	store, err := persistence.Open(t.Context(), url, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	nodes := startCluster(t, "n", url)
	base := func(i int) string { return "http://" + nodes[i].http }
	admin := createAdmin(t, base(0), "--database-url", url)

	// Twelve wallets, so that every node hosts some of them.
	var wallets []string
	for range 12 {
		id, err := store.CreateWallet(t.Context(), "e2e")
		if err != nil {
			t.Fatal(err)
		}
		wallets = append(wallets, id)
	}
	for wi, w := range wallets {
		for i := range 3 { // each node deposits; every node sees the sum
			mustCall(t, 201, "POST", base(i)+"/api/v1/wallets/"+w+"/deposits", admin, fmt.Sprint("dep-", wi, "-", i), map[string]any{"amount": 10})
		}
		mustCall(t, 201, "POST", base(1)+"/api/v1/wallets/"+w+"/spends", admin, fmt.Sprint("spend-", wi), map[string]any{"amount": 5})
		for i := range 3 {
			got := mustCall(t, 200, "GET", base(i)+"/api/v1/wallets/"+w, admin, "", nil)
			if got["balance"].(float64) != 25 || got["seq"].(float64) != 4 {
				t.Fatalf("node %d sees wallet %s as %v", i, w, got)
			}
		}
	}
	activations := map[string]int{}
	for _, p := range nodes {
		activations[p.name] = activeGrains("http://" + p.http)
	}
	t.Logf("wallet activations per node: %v", activations)
	if activations["n3"] == 0 {
		t.Log("node 3 hosted no wallet; the failover check still exercises re-activation")
	}

	// Kill node 3 without warning: its wallets are re-activated on the others from Postgres.
	nodes[2].kill()
	for i := range 2 {
		waitFor(t, 20*time.Second, nodes[i].name+" sees 2 members", func() bool { return members(base(i)) == 2 })
	}
	for wi, w := range wallets {
		i := wi % 2
		waitFor(t, 20*time.Second, "wallet "+w+" served after failover", func() bool {
			r, err := call(t, "POST", base(i)+"/api/v1/wallets/"+w+"/deposits", admin, fmt.Sprint("after-", wi), map[string]any{"amount": 1})
			if err != nil || r.status != 201 {
				t.Logf("%s: %v %d %v", time.Now().Format("15:04:05.000"), err, r.status, r.body)
			}
			return err == nil && r.status == 201
		})
		got := mustCall(t, 200, "GET", base(1-i)+"/api/v1/wallets/"+w, admin, "", nil)
		if got["balance"].(float64) != 26 {
			t.Fatalf("after failover wallet %s is %v, want balance 26", w, got)
		}
		if b := ledgerCheck(t, store, w); b != 26 {
			t.Fatalf("ledger balance %d", b)
		}
	}
}

// startCluster starts three `dw serve` processes on the database at url, the second and third
// joining the first through memberlist, and returns once each sees three members.
func startCluster(t *testing.T, prefix, url string, extra ...string) []*proc {
	t.Helper()
	return startNodes(t, prefix, url, 3, func(string) []string { return extra })
}

// startNodes starts n `dw serve` processes of one cluster on the database at url, each given the
// arguments extra returns of the first node's HTTP address (say, a --public-url they share), and
// returns once each sees n members. When the test ends they are killed, and the test fails if a
// node logged the value of a secret flag; their last log lines are printed if it failed.
func startNodes(t *testing.T, prefix, url string, n int, extra func(first string) []string) []*proc {
	t.Helper()
	var nodes []*proc
	var seed, first string
	for i := range n {
		p := &proc{name: fmt.Sprint(prefix, i+1), http: freePort(t), bind: freePort(t), log: &bytes.Buffer{}}
		if first == "" {
			first = p.http
		}
		args := append([]string{"--database-url", url, "--data-dir", t.TempDir()}, extra(first)...)
		if seed != "" {
			args = append(args, "--join", seed)
		} else {
			seed = p.bind
		}
		p.args = serveArgs(p.name, p.http, p.bind, freePort(t), args...)
		p.start(t)
		nodes = append(nodes, p)
		secrets := secretArgs(p.args)
		t.Cleanup(func() {
			p.kill()
			p.mu.Lock()
			log := p.log.String()
			p.mu.Unlock()
			for _, s := range secrets {
				if strings.Contains(log, s) {
					t.Errorf("%s logged the value of a secret flag", p.name)
					return // and no dump: it would show it
				}
			}
			if t.Failed() {
				p.dump(t)
			}
		})
		waitFor(t, 30*time.Second, p.name+" ready", func() bool { return ready("http://" + p.http) })
	}
	for _, p := range nodes {
		waitFor(t, 20*time.Second, fmt.Sprint(p.name, " sees ", n, " members"), func() bool { return members("http://"+p.http) == n })
	}
	return nodes
}

// secretArgs are the values of the secret flags in args (never to be logged).
func secretArgs(args []string) []string {
	var out []string
	for i, a := range args[:len(args)-1] {
		switch a {
		case "--jwt-key", "--gossip-key", "--smtp-password", "--captcha-secret", "--vapid-private-key",
			"--stripe-secret-key", "--stripe-webhook-secret", "--ecpay-hash-key", "--ecpay-hash-iv":
			out = append(out, args[i+1])
		}
	}
	return out
}
