package node_test

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/internal/testcert"
	"github.com/divinewhispers/dw/persistence"
)

const hstsValue = "max-age=63072000; includeSubDomains"

// logs returns what the process wrote so far.
func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// startProc starts one `dw serve` with extra arguments; it is killed when the test ends (its
// last log lines printed if the test failed).
func startProc(t *testing.T, name, url string, extra ...string) *proc {
	t.Helper()
	p := &proc{name: name, http: freePort(t), bind: freePort(t), log: &bytes.Buffer{}}
	args := append([]string{"--database-url", url, "--data-dir", t.TempDir()}, extra...)
	p.args = serveArgs(p.name, p.http, p.bind, freePort(t), args...)
	p.start(t)
	t.Cleanup(func() {
		if t.Failed() {
			p.dump(t)
		}
		p.kill()
	})
	return p
}

func certPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("no certificate in %s", file)
	}
	return pool
}

// TestHTTPS: with --tls-cert and --tls-key the gateway answers over TLS with HSTS, and refuses
// TLS 1.1 and plain HTTP.
func TestHTTPS(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDB(t)
	ca := testcert.NewCA(t, t.TempDir(), "web-ca")
	web := ca.Issue(t, "web")
	p := startProc(t, "tls1", url, "--tls-cert", web.CertFile, "--tls-key", web.KeyFile)
	roots := certPool(t, ca.CertFile)
	httpsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	base := "https://" + p.http
	waitFor(t, 30*time.Second, "the node to answer over HTTPS", func() bool {
		resp, err := httpsClient.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	for _, path := range []string{"/healthz", "/metrics", "/api/v1/no/such/route"} {
		resp, err := httpsClient.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Strict-Transport-Security"); got != hstsValue {
			t.Errorf("GET %s: Strict-Transport-Security %q, want %q", path, got, hstsValue)
		}
		if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			t.Errorf("GET %s: TLS state %+v", path, resp.TLS)
		}
		if want := map[string]int{"/healthz": 200, "/metrics": 200, "/api/v1/no/such/route": 404}[path]; resp.StatusCode != want {
			t.Errorf("GET %s: status %d, want %d (metrics stay on the gateway without --metrics-addr)", path, resp.StatusCode, want)
		}
	}

	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a TLS 1.1 client was served")
	} else if !strings.Contains(err.Error(), "remote error: tls: protocol version not supported") {
		t.Fatalf("TLS 1.1: %v, want the server's protocol_version alert", err)
	}
	if resp, err := client.Get("http://" + p.http + "/healthz"); err == nil && resp.StatusCode == 200 {
		resp.Body.Close()
		t.Fatal("plain HTTP served on the HTTPS port")
	}
	if strings.Contains(p.logs(), "plain HTTP") {
		t.Error("an HTTPS node says it serves plain HTTP")
	}
}

// TestMetricsAddr: with --metrics-addr /metrics is served there and not on the gateway; a
// node without --tls-cert says once that it serves plain HTTP, and sends no HSTS.
func TestMetricsAddr(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDB(t)
	metricsAddr := freePort(t)
	p := startProc(t, "met1", url, "--metrics-addr", metricsAddr)
	base := "http://" + p.http
	waitFor(t, 30*time.Second, p.name+" ready", func() bool { return ready(base) })

	r, err := call(t, "GET", base+"/metrics", "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != 404 || r.body["code"] != "route_not_found" {
		t.Errorf("gateway /metrics: %d %v, want 404 route_not_found", r.status, r.body)
	}
	if got := members("http://" + metricsAddr); got != 1 {
		t.Errorf("dw_cluster_members on --metrics-addr = %d, want 1", got)
	}
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := resp.Header.Get("Strict-Transport-Security"); h != "" {
		t.Errorf("plain HTTP response carries Strict-Transport-Security %q", h)
	}
	if n := strings.Count(p.logs(), "gateway serves plain HTTP"); n != 1 {
		t.Errorf("the plain-HTTP notice was logged %d times, want once", n)
	}
}

// TestClusterTransportSecurity: two nodes with the gossip key and certificates of the cluster
// CA form a cluster and move money through each other's wallet grains; a node whose
// certificate another CA signed, and a node with another gossip key, never become members.
func TestClusterTransportSecurity(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDB(t)
	store, err := persistence.Open(t.Context(), url, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	dir := t.TempDir()
	ca, otherCA := testcert.NewCA(t, dir, "cluster-ca"), testcert.NewCA(t, dir, "other-ca")
	newKey := func() string {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(k)
	}
	key, otherKey := newKey(), newKey()
	secure := func(ca *testcert.CA, name, key string) []string {
		c := ca.Issue(t, name)
		return []string{"--gossip-key", key, "--cluster-tls-cert", c.CertFile, "--cluster-tls-key", c.KeyFile, "--cluster-tls-ca", ca.CertFile}
	}

	n1 := startProc(t, "sec1", url, secure(ca, "sec1", key)...)
	waitFor(t, 30*time.Second, "sec1 ready", func() bool { return ready("http://" + n1.http) })
	n2 := startProc(t, "sec2", url, append(secure(ca, "sec2", key), "--join", n1.bind)...)
	good := []*proc{n1, n2}
	for _, p := range good {
		waitFor(t, 30*time.Second, p.name+" ready with 2 members", func() bool {
			return ready("http://"+p.http) && members("http://"+p.http) == 2
		})
	}
	base := func(i int) string { return "http://" + good[i].http }
	admin := createAdmin(t, base(0), "--database-url", url)

	// Twelve wallets, deposits through both nodes: each node calls grains living on the other.
	var wallets []string
	for range 12 {
		id, err := store.CreateWallet(t.Context(), "e2e")
		if err != nil {
			t.Fatal(err)
		}
		wallets = append(wallets, id)
	}
	deposit := func(round string) {
		t.Helper()
		for wi, w := range wallets {
			for i := range good {
				mustCall(t, 201, "POST", base(i)+"/api/v1/wallets/"+w+"/deposits", admin, fmt.Sprint(round, "-", wi, "-", i), map[string]any{"amount": 10})
			}
		}
	}
	deposit("a")
	for i := range good {
		if n := activeGrains(base(i)); n == 0 {
			t.Fatalf("%s hosts no wallet grain: the other node's deposits did not cross the cluster", good[i].name)
		}
	}

	// An intruder with the gossip key but a certificate of another CA joins memberlist; both
	// good nodes refuse it as a member.
	bad := startProc(t, "intruder-ca", url, append(secure(otherCA, "intruder-ca", key), "--join", n1.bind)...)
	for _, p := range good {
		waitFor(t, 30*time.Second, p.name+" to refuse the intruder", func() bool { return strings.Contains(p.logs(), "member refused") })
	}
	// An intruder with the right certificate but another gossip key cannot even join.
	wrongKey := startProc(t, "intruder-key", url, append(secure(ca, "intruder-key", otherKey), "--join", n1.bind)...)
	waitFor(t, 30*time.Second, "the intruder's join to fail", func() bool { return strings.Contains(wrongKey.logs(), "join failed") })

	deposit("b")
	for i, p := range good {
		if got := members(base(i)); got != 2 {
			t.Errorf("%s: dw_cluster_members = %d, want 2", p.name, got)
		}
	}
	if ready("http://" + wrongKey.http) {
		t.Error("the node with another gossip key is ready")
	}
	for _, w := range wallets {
		if b := ledgerCheck(t, store, w); b != 40 {
			t.Fatalf("wallet %s: balance %d, want 40", w, b)
		}
	}
	for _, p := range []*proc{n1, n2, bad, wrongKey} {
		if l := p.logs(); strings.Contains(l, key) || strings.Contains(l, otherKey) {
			t.Errorf("%s logged a gossip key", p.name)
		}
	}
}

// TestTransportConfigErrors: halves of a pair, and bad gossip keys, stop `dw serve` at once with
// a message naming the flags (and never echoing the key).
func TestTransportConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"cert without key", []string{"--tls-cert", "a.pem"}, []string{"--tls-cert", "--tls-key"}},
		{"key without cert", []string{"--tls-key", "a.pem"}, []string{"--tls-cert", "--tls-key"}},
		{"cluster cert without CA", []string{"--cluster-tls-cert", "a", "--cluster-tls-key", "b"}, []string{"--cluster-tls-cert", "--cluster-tls-key", "--cluster-tls-ca"}},
		{"gossip key not base64", []string{"--gossip-key", "not*base64*secret"}, []string{"--gossip-key"}},
		{"gossip key of 20 bytes", []string{"--gossip-key", base64.StdEncoding.EncodeToString([]byte("twenty-bytes-secret!"))}, []string{"--gossip-key"}},
		{"metrics address", []string{"--metrics-addr", "nope"}, []string{"--metrics-addr"}},
		{"missing certificate file", []string{"--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem", "--database-url", "postgres://127.0.0.1:1/x"}, []string{"--tls-cert"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"serve", "--data-dir", t.TempDir(), "--http", "127.0.0.1:0"}, tc.args...)
			cmd := exec.Command(dwBinary, args...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("dw serve %v succeeded", tc.args)
			}
			for _, w := range tc.want {
				if !bytes.Contains(out, []byte(w)) {
					t.Errorf("output lacks %s:\n%s", w, out)
				}
			}
			if bytes.Contains(out, []byte("secret")) {
				t.Errorf("output echoes the gossip key:\n%s", out)
			}
		})
	}
}

// TestServeFailsCleanly: a node that cannot start (here: its HTTP address is taken) stops what
// it had started and says why, naming the flag, rather than panicking on the way out.
func TestServeFailsCleanly(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cmd := exec.Command(dwBinary, serveArgs("taken", taken.Addr().String(), freePort(t), freePort(t),
		"--data-dir", t.TempDir(), "--database-url", pgtest.NewDB(t))...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("dw serve on a taken address succeeded:\n%s", out)
	}
	if bytes.Contains(out, []byte("panic")) || !bytes.Contains(out, []byte("--http")) {
		t.Fatalf("want an error naming --http, no panic:\n%s", out)
	}
}
