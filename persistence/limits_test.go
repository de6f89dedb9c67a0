package persistence

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/divinewhispers/dw/internal/pgtest"
)

// TestCountAudit: the limits' count reads one index however large the audit log grows, counts
// only the address's rows of the action within the window, and stays fast (the time of one
// count over 300,000 rows is logged; run with -v).
func TestCountAudit(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, pgtest.NewDB(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// 300,000 rows of other addresses and actions, some of them old; then the address under
	// test: 7 failures against one target and 5 against another within the window, 4 old ones,
	// and 3 registrations.
	if _, err := s.pool.Exec(ctx, `INSERT INTO audit_logs (action, target_id, ip, created_at)
		SELECT (ARRAY['auth.login_failed', 'auth.login', 'user.register'])[1 + i % 3], 'user-' || (i % 5000),
		       '10.' || (i % 200) || '.' || (i / 200 % 250) || '.1', now() - (i % 1800) * interval '1 second'
		FROM generate_series(1, 300000) AS i`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO audit_logs (action, target_id, ip, created_at)
		SELECT 'auth.login_failed', CASE WHEN i <= 7 THEN 'victim' ELSE 'other' END, '192.0.2.7', now() - i * interval '1 second'
		FROM generate_series(1, 12) AS i
		UNION ALL SELECT 'auth.login_failed', 'victim', '192.0.2.7', now() - interval '20 minutes' FROM generate_series(1, 4)
		UNION ALL SELECT 'user.register', '', '192.0.2.7', now() FROM generate_series(1, 3);
		ANALYZE audit_logs`); err != nil {
		t.Fatal(err)
	}
	c, err := s.CountAudit(ctx, "auth.login_failed", "192.0.2.7", "victim", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c.All != 12 || c.Target != 7 || c.OldestAll.After(c.OldestTarget) || c.Now.Sub(c.OldestAll) < 12*time.Second || c.Now.Sub(c.OldestAll) > time.Minute {
		t.Errorf("count %+v, want 12 in all, 7 against victim, the oldest 12 s ago", c)
	}
	if c, err := s.CountAudit(ctx, "auth.login_failed", "198.51.100.1", "victim", 15*time.Minute); err != nil || c.All != 0 || !c.OldestAll.IsZero() {
		t.Errorf("unknown address: %+v %v", c, err)
	}

	var plan []string
	rows, err := s.pool.Query(ctx, `EXPLAIN SELECT count(*) FROM audit_logs
		WHERE action = $1 AND ip_key = address_key($2) AND created_at >= now() - $3::interval`,
		"auth.login_failed", "192.0.2.7", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if rows.Err() != nil || !slices.ContainsFunc(plan, func(l string) bool { return strings.Contains(l, "audit_logs_action_ip") }) {
		t.Errorf("the count does not read audit_logs_action_ip:\n%s", strings.Join(plan, "\n"))
	}

	const n = 200
	start := time.Now()
	for range n {
		if _, err := s.CountAudit(ctx, "auth.login_failed", "192.0.2.7", "victim", 15*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	per := time.Since(start) / n
	t.Logf("CountAudit over %d audit rows: %v per count", 300019, per)
	if per > 20*time.Millisecond {
		t.Errorf("CountAudit takes %v, want well under 20ms", per)
	}
}

// TestAddressKey: IPv6 addresses count by their /64, everything else by itself.
func TestAddressKey(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), pgtest.NewDB(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct{ ip, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", "2001:db8:1:2::/64"},
		{"::ffff:203.0.113.7", "::ffff:203.0.113.7"},
		{"", ""},
		{":::", ":::"},
		{"not-an-address", "not-an-address"},
	} {
		var got string
		if err := s.pool.QueryRow(t.Context(), `SELECT address_key($1)`, tc.ip).Scan(&got); err != nil || got != tc.want {
			t.Errorf("address_key(%q) = %q, %v; want %q", tc.ip, got, err, tc.want)
		}
	}
	// Two addresses of one /64 share a count.
	for _, ip := range []string{"2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:3::a"} {
		if err := s.Audit(t.Context(), AuditEntry{Action: "auth.login_failed", TargetID: "x", IP: ip}); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := s.CountAudit(t.Context(), "auth.login_failed", "2001:db8:1:2::c", "x", time.Minute); err != nil || c.All != 2 || c.Target != 2 {
		t.Errorf("count of the /64: %+v %v, want 2", c, err)
	}
}

// TestReserve: an attempt in flight counts with the audit rows until it is released.
func TestReserve(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), pgtest.NewDB(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Audit(t.Context(), AuditEntry{Action: "auth.login_failed", TargetID: "x", IP: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	id, err := s.Reserve(t.Context(), "auth.login_failed", "192.0.2.1", "y")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := s.CountAudit(t.Context(), "auth.login_failed", "192.0.2.1", "y", time.Minute); err != nil || c.All != 2 || c.Target != 1 {
		t.Errorf("with a reservation: %+v %v, want 2 in all, 1 against y", c, err)
	}
	if err := s.Release(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if c, err := s.CountAudit(t.Context(), "auth.login_failed", "192.0.2.1", "y", time.Minute); err != nil || c.All != 1 || c.Target != 0 {
		t.Errorf("released: %+v %v, want 1 in all, 0 against y", c, err)
	}
}
