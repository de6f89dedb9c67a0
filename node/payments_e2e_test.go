package node_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/payments/paytest"
	"github.com/divinewhispers/dw/persistence"
)

var buyerSeq atomic.Int64

// payCluster is two `dw serve` nodes of one cluster and the suite's view of them.
func payCluster(t *testing.T, extra ...string) (paytest.Env, string) {
	t.Helper()
	return payNodes(t, 2, func(string) []string { return extra })
}

// payNodes is n `dw serve` nodes of one cluster on a database of their own, each given the
// arguments extra returns of the first node's HTTP address (say, a --public-url they share),
// and the suite's view of them.
func payNodes(t *testing.T, n int, extra func(first string) []string) (paytest.Env, string) {
	t.Helper()
	url := pgtest.NewDB(t)
	store, err := persistence.Open(t.Context(), url, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	nodes := startNodes(t, "pay", url, n, extra)
	env := paytest.Env{Client: client, Store: store, NewBuyer: func(t testing.TB) paytest.Buyer {
		email := fmt.Sprintf("buyer-%d@e2e.test", buyerSeq.Add(1))
		base := "http://" + nodes[0].http
		u := mustCall(t.(*testing.T), 201, "POST", base+"/api/v1/auth/register", "", "", map[string]string{"email": email, "password": "buyer-pass-123"})
		tok := mustCall(t.(*testing.T), 200, "POST", base+"/api/v1/auth/login", "", "", map[string]string{"email": email, "password": "buyer-pass-123"})
		return paytest.Buyer{Token: tok["access_token"].(string), WalletID: u["wallet_id"].(string)}
	}}
	for _, p := range nodes {
		env.Bases = append(env.Bases, "http://"+p.http)
	}
	return env, url
}

// TestPaymentsTwoNodes runs the notification table against two `dw serve` nodes (concurrent
// deliveries go to both), and pays on one node a checkout made on the other.
func TestPaymentsTwoNodes(t *testing.T) {
	t.Parallel()
	env, _ := payCluster(t)
	h := paytest.Sandbox{Store: env.Store}
	paytest.RunNotifications(t, env, h)

	t.Run("page of another node", func(t *testing.T) {
		b := env.NewBuyer(t)
		c := env.StartCheckout(t, h, b) // on node 1, whose URL the sandbox notifies
		other := strings.Replace(c.RedirectURL, env.Bases[0], env.Bases[1], 1)
		noFollow := &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := noFollow.PostForm(other, url.Values{"action": {"pay"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("pay on node 2: %d", res.StatusCode)
		}
		if balance, credits := env.Ledger(t, c.WalletID, c.PaymentID); balance != c.Points || credits != 1 {
			t.Errorf("balance %d, %d credits", balance, credits)
		}
	})
}

// TestPaymentsReconcileCLI: a payment whose notification was lost is reported by `dw payments
// reconcile`, left alone without --fix, and credited once with it.
func TestPaymentsReconcileCLI(t *testing.T) {
	t.Parallel()
	env, url := payCluster(t, "--payment-reconcile-after", "24h") // the nodes' reconciler stays out of it
	h := paytest.Sandbox{Store: env.Store}
	b := env.NewBuyer(t)
	c := env.StartCheckout(t, h, b)
	h.Pay(t, c)

	out, ok := dwCLI(t, "payments", "reconcile", "--provider", "sandbox", "--since", "1h", "--database-url", url)
	if !ok || !strings.Contains(out, "1 difference(s)") || !strings.Contains(out, c.PaymentID) || !strings.Contains(out, "credit") {
		t.Fatalf("reconcile: ok %v\n%s", ok, out)
	}
	if status, _ := env.Status(t, b, c.PaymentID); status != "pending" {
		t.Fatalf("without --fix the payment became %s", status)
	}
	out, ok = dwCLI(t, "payments", "reconcile", "--provider", "sandbox", "--since", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "--fix", "--database-url", url)
	if !ok || !strings.Contains(out, "fixed") {
		t.Fatalf("reconcile --fix: ok %v\n%s", ok, out)
	}
	if status, txID := env.Status(t, b, c.PaymentID); status != "succeeded" || txID == "" {
		t.Errorf("after --fix: %s %q", status, txID)
	}
	if balance, credits := env.Ledger(t, c.WalletID, c.PaymentID); balance != c.Points || credits != 1 {
		t.Errorf("balance %d, %d credits", balance, credits)
	}
	out, ok = dwCLI(t, "payments", "reconcile", "--provider", "sandbox", "--since", "1h", "--fix", "--database-url", url)
	if !ok || !strings.Contains(out, "0 difference(s)") {
		t.Errorf("second reconcile: ok %v\n%s", ok, out)
	}
	if out, ok := dwCLI(t, "payments", "reconcile", "--provider", "sandbox", "--since", "yesterday", "--database-url", url); ok || !strings.Contains(out, "--since") {
		t.Errorf("a bad --since: ok %v\n%s", ok, out)
	}
}
