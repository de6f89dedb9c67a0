package persistence

import (
	"fmt"
	"sync"
	"testing"

	dw "github.com/divinewhispers/dw"
)

// TestUpdateUserKeepsAnAdmin has every active admin demote or suspend itself at the same time,
// round after round: all but one succeed, the last is refused (last_admin), and one active admin
// is always left. Other changes (a non-admin suspended, an admin promoted) are not held back.
func TestUpdateUserKeepsAnAdmin(t *testing.T) {
	t.Parallel()
	s, plain := newTestStore(t)
	const n = 4
	admins := make([]string, n)
	for i := range admins {
		u, err := s.CreateUser(t.Context(), fmt.Sprintf("admin-%d@example.com", i), "not-a-hash", "admin", AuditEntry{Action: "test"})
		if err != nil {
			t.Fatal(err)
		}
		admins[i] = u.ID
	}
	active := func() int {
		var c int
		if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM users WHERE role = 'admin' AND status = 'active'`).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	changes := [][2]string{{"user", ""}, {"", "suspended"}, {"operator", "suspended"}}
	for round := range 15 {
		for _, id := range admins {
			if _, err := s.UpdateUser(t.Context(), id, "admin", "active", AuditEntry{Action: "test"}); err != nil {
				t.Fatal(err)
			}
		}
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, id := range admins {
			c := changes[(round+i)%len(changes)]
			wg.Go(func() { _, errs[i] = s.UpdateUser(t.Context(), id, c[0], c[1], AuditEntry{Action: "test"}) })
		}
		wg.Wait()
		refused := 0
		for i, err := range errs {
			switch {
			case err == nil:
			case dw.CodeOf(err) == "last_admin" && dw.KindOf(err) == dw.KindConflict:
				refused++
			default:
				t.Fatalf("round %d, admin %d: %v", round, i, err)
			}
		}
		if refused != 1 || active() != 1 {
			t.Fatalf("round %d: %d refused, %d active admins left; want 1 and 1", round, refused, active())
		}
	}
	// With one active admin left, others are still managed freely.
	if _, err := s.UpdateUser(t.Context(), plain.ID, "", "suspended", AuditEntry{Action: "test"}); err != nil {
		t.Fatalf("suspending a user while one admin is left: %v", err)
	}
	if _, err := s.UpdateUser(t.Context(), plain.ID, "admin", "active", AuditEntry{Action: "test"}); err != nil {
		t.Fatalf("promoting a user: %v", err)
	}
	if active() != 2 {
		t.Fatalf("%d active admins after a promotion, want 2", active())
	}
}
