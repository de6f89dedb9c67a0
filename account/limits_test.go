package account_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/captcha"
	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/persistence"
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, pgtest.Options{Migrate: persistence.Migrate}))
}

func newService(t testing.TB) *account.Service {
	t.Helper()
	store, err := persistence.Open(context.Background(), pgtest.NewDB(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	return &account.Service{Store: store,
		Captcha: &captcha.PoW{Key: []byte("guard-test-key-0123456789-0123456789"), MaxNumber: 500, Spent: store}}
}

// resetRule is the kind of rule a password-reset request would use: a captcha after 2 requests
// of an address for one email or 4 in all, refused at 6.
var resetRule = account.Rule{Action: "auth.reset_requested", Window: time.Hour, CaptchaTarget: 2, CaptchaAddress: 4, Limit: 6}

// TestGuard: the decisions of the reusable rule, from the rows already recorded.
func TestGuard(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		sameTarget   int // rows of the address against the target
		otherTargets int // rows of the address against other targets
		otherAddress int // rows of another address against the target
		solve        bool
		ip           string
		want         string // error code, "" = go ahead
	}{
		{"free", 1, 2, 0, false, "192.0.2.1", ""},
		{"target's free rate used", 2, 0, 0, false, "192.0.2.1", "captcha_required"},
		{"target's free rate used, solved", 2, 0, 0, true, "192.0.2.1", ""},
		{"address's free rate used", 0, 4, 0, false, "192.0.2.1", "captcha_required"},
		{"address's free rate used, solved", 1, 3, 0, true, "192.0.2.1", ""},
		{"limit", 0, 6, 0, true, "192.0.2.1", "rate_limited"},
		{"other addresses do not count", 0, 0, 20, false, "192.0.2.1", ""},
		{"in-process caller", 5, 5, 0, false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newService(t)
			ctx := t.Context()
			record := func(n int, ip, target string) {
				for range n {
					if err := s.Store.Audit(ctx, persistence.AuditEntry{Action: resetRule.Action, TargetType: "email", TargetID: target, IP: ip}); err != nil {
						t.Fatal(err)
					}
				}
			}
			record(tc.sameTarget, tc.ip, "a@example.com")
			record(tc.otherTargets, tc.ip, "b@example.com")
			record(tc.otherAddress, "198.51.100.9", "a@example.com")
			a := account.Attempt{IP: tc.ip, TargetType: "email", TargetID: "a@example.com"}
			if tc.solve {
				ch, err := s.Captcha.Challenge(ctx)
				if err != nil {
					t.Fatal(err)
				}
				sol, _ := captcha.Solve(ch)
				a.Captcha = sol.Encode()
			}
			release, err := s.Guard(ctx, resetRule, a)
			defer release()
			if got := dw.CodeOf(err); err != nil && got != tc.want || err == nil && tc.want != "" {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			switch tc.want {
			case "captcha_required":
				if ext := dw.ExtensionsOf(err); ext["captcha"] == nil {
					t.Errorf("no challenge in %v", err)
				}
			case "rate_limited":
				if d := dw.RetryAfterOf(err); d < time.Second || d > resetRule.Window {
					t.Errorf("Retry-After %v", d)
				}
			}
		})
	}
}

// BenchmarkGuard measures what the limits add to a login: two counts, a reservation and its
// release, over an audit log of 100,000 rows of other addresses.
func BenchmarkGuard(b *testing.B) {
	s := newService(b)
	ctx := context.Background()
	if _, err := s.Store.Pool().Exec(ctx, `INSERT INTO audit_logs (action, target_id, ip)
		SELECT 'auth.login_failed', 'user-' || (i % 5000), '10.' || (i % 200) || '.' || (i / 200 % 250) || '.1'
		FROM generate_series(1, 100000) AS i; ANALYZE audit_logs`); err != nil {
		b.Fatal(err)
	}
	rule := account.Rule{Action: "auth.login_failed", Window: 15 * time.Minute, CaptchaTarget: 3, CaptchaAddress: 10, Limit: 50}
	b.ResetTimer()
	for i := range b.N {
		release, err := s.Guard(ctx, rule, account.Attempt{IP: fmt.Sprintf("192.0.%d.%d", i/250%250, i%250), TargetType: "user", TargetID: "user-1"})
		if err != nil {
			b.Fatal(err)
		}
		release()
	}
}
