//go:build !race

// These tests start nodes of their own (as reset_test.go's do): several protoactor nodes in one
// process race inside protoactor-go and grpc under -race, so they run in make test's pass
// without -race.

package gateway_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/divinewhispers/dw/interpret/llmtest"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence"
)

// TestDeleteAccount: deleting an account keeps every balance equal to its ledger and the audit
// trail readable. A user with a deposit, a service's hold, a completed paid job, an open job, a
// draw and a reset mail in the outbox deletes itself: the open job is cancelled and its hold
// released, the personal data is gone (email anonymised, questions and results erased, draws,
// mails and tokens deleted), the ledger and the audit log stay and point at the anonymised id;
// the old tokens and the old password are refused, and the email registers again.
func TestDeleteAccount(t *testing.T) {
	t.Parallel()
	llm := llmtest.NewServer(t)
	tn := startNode(t, func(c *node.Config) {
		c.LLMBaseURL, c.LLMModel, c.LLMAPIKey = llm.URL(), "test-model", "sk-test"
		c.PriceInterpretation = 10
	})
	ctx := t.Context()
	svc, u, other := tn.newUser("service"), tn.newUser("user"), tn.newUser("user")
	w := "/api/v1/wallets/" + u.WalletID
	tn.mustMove(svc.Access, w+"/deposits", map[string]any{"amount": 100})
	tn.mustMove(svc.Access, "/api/v1/wallets/"+other.WalletID+"/deposits", map[string]any{"amount": 50})
	tn.mustMove(svc.Access, w+"/holds", map[string]any{"amount": 7, "expires_in_seconds": 3600})

	var sets struct {
		Items []struct{ Slug string } `json:"items"`
	}
	decodeInto(t, tn.do("GET", "/api/v1/poem-sets", "", nil), 200, &sets)
	slug := sets.Items[0].Slug
	var draw struct{ ID string }
	decodeInto(t, tn.do("POST", "/api/v1/draws", u.Access, map[string]any{"set": slug}), 201, &draw)

	job := func(key string) string {
		var a struct {
			JobID string `json:"job_id"`
		}
		decodeInto(t, tn.do("POST", "/api/v1/jobs", u.Access, map[string]any{"type": "interpretation", "draw_id": draw.ID,
			"question": "will my secret plan work?", "context": "my private story"}, hdr{"Idempotency-Key": key}), 202, &a)
		return a.JobID
	}
	jobStatus := func(id string) (status, settlement string) {
		_ = tn.store.Pool().QueryRow(ctx, `SELECT status, settlement FROM jobs WHERE id = $1`, id).Scan(&status, &settlement)
		return
	}
	done := job("done-1")
	waitUntil(t, "the first job completed and captured", 30*time.Second, func() bool {
		s, st := jobStatus(done)
		return s == "completed" && st == "captured"
	})
	llm.Enqueue(llmtest.Hang)
	open := job("open-1")
	waitUntil(t, "the second job running", 30*time.Second, func() bool { s, _ := jobStatus(open); return s == "running" })
	decodeInto(t, tn.do("POST", "/api/v1/auth/password/reset-request", "", map[string]any{"email": u.Email}), 202, nil)
	if len(outboxTo(t, tn.store, u.Email)) != 1 {
		t.Fatal("no reset mail in the outbox")
	}
	if got := tn.wallet(admin(tn), u.WalletID); got.Balance != 90 || got.Held != 17 {
		t.Fatalf("before: %+v, want balance 90 held 17", got)
	}

	wantProblem(t, "wrong password", tn.do("DELETE", "/api/v1/me", u.Access, map[string]any{"password": "not-the-password"}), 403, "invalid_credentials")
	wantProblem(t, "no body", tn.do("DELETE", "/api/v1/me", u.Access, nil), 400, "invalid_body")
	if r := tn.do("DELETE", "/api/v1/me", u.Access, map[string]any{"password": u.Password}); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %s", r)
	}

	// The open job was cancelled and its hold released; the service's hold stays.
	if s, st := jobStatus(open); s != "cancelled" {
		t.Fatalf("open job after the deletion: %s %s", s, st)
	}
	waitUntil(t, "the open job's hold released", 15*time.Second, func() bool {
		_, st := jobStatus(open)
		return st == "released"
	})
	got, txs := tn.checkLedger(admin(tn), u.WalletID)
	if got.Balance != 90 || got.Held != 7 {
		t.Fatalf("after: %+v, want balance 90 held 7", got)
	}
	if len(txs) != 6 { // deposit, hold, job hold, capture, job hold, release
		t.Errorf("ledger of %d entries, want 6: %+v", len(txs), txs)
	}
	tn.checkLedger(admin(tn), other.WalletID)
	everyWalletMatchesLedger(t, tn.store)

	// Personal data: gone or anonymised.
	var email, hash, name, status string
	var deletedAt *time.Time
	if err := tn.store.Pool().QueryRow(ctx, `SELECT email, password_hash, display_name, status, deleted_at FROM users WHERE id = $1`,
		u.ID).Scan(&email, &hash, &name, &status, &deletedAt); err != nil {
		t.Fatal(err)
	}
	if email != persistence.DeletedEmail(u.ID) || hash != "" || name != "" || status != "deleted" || deletedAt == nil {
		t.Errorf("user row: %q %q %q %q %v", email, hash, name, status, deletedAt)
	}
	for what, q := range map[string]string{
		"draws":                `SELECT count(*) FROM draws WHERE user_id = $1 AND $2::text IS NOT NULL`,
		"refresh tokens":       `SELECT count(*) FROM refresh_tokens WHERE user_id = $1 AND $2::text IS NOT NULL`,
		"reset tokens":         `SELECT count(*) FROM password_reset_tokens WHERE user_id = $1 AND $2::text IS NOT NULL`,
		"results":              `SELECT count(*) FROM job_results r JOIN jobs j ON j.id = r.job_id WHERE j.user_id = $1 AND $2::text IS NOT NULL`,
		"questions":            `SELECT count(*) FROM jobs WHERE user_id = $1 AND (params->>'question' <> '' OR params->>'context' <> '') AND $2::text IS NOT NULL`,
		"wallet members":       `SELECT count(*) FROM wallet_members WHERE user_id = $1 AND $2::text IS NOT NULL`,
		"jobs kept":            `SELECT 2 - count(*) FROM jobs WHERE user_id = $1 AND $2::text IS NOT NULL`,
		"audit by email":       `SELECT count(*) FROM audit_logs WHERE target_id = lower($2) AND $1::uuid IS NOT NULL`,
		"mails to email":       `SELECT count(*) FROM mail_outbox WHERE lower(recipient) = lower($2) AND $1::uuid IS NOT NULL`,
		"personal wallet kept": `SELECT 1 - count(*) FROM wallets WHERE owner_id = $1 AND kind = 'personal' AND $2::text IS NOT NULL`,
	} {
		var n int
		if err := tn.store.Pool().QueryRow(ctx, q, u.ID, u.Email).Scan(&n); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n != 0 {
			t.Errorf("%s: %d left", what, n)
		}
	}

	// The audit trail reads, pointing at the anonymised user.
	var page struct {
		Items []persistence.AuditEntry `json:"items"`
	}
	decodeInto(t, tn.do("GET", "/api/v1/admin/audit-logs?action=user.deleted&target_id="+u.ID, admin(tn), nil), 200, &page)
	if len(page.Items) != 1 || page.Items[0].ActorID != u.ID {
		t.Fatalf("user.deleted rows: %+v", page.Items)
	}
	var detail map[string]int
	_ = json.Unmarshal(page.Items[0].Detail, &detail)
	if detail["draws_deleted"] != 1 || detail["jobs_erased"] != 2 || detail["mails_deleted"] != 1 {
		t.Errorf("user.deleted detail: %s", page.Items[0].Detail)
	}
	decodeInto(t, tn.do("GET", "/api/v1/admin/audit-logs?actor_id="+u.ID+"&page_size=100", admin(tn), nil), 200, &page)
	actions := map[string]bool{}
	for _, a := range page.Items {
		actions[a.Action] = true
	}
	for _, a := range []string{"auth.login", "user.deleted", "user.delete_refused"} {
		if !actions[a] {
			t.Errorf("the audit log of the deleted user lacks %s: %v", a, actions)
		}
	}
	decodeInto(t, tn.do("GET", "/api/v1/admin/audit-logs?target_id="+persistence.DeletedEmail(u.ID), admin(tn), nil), 200, &page)
	if len(page.Items) != 1 || page.Items[0].Action != "auth.reset_requested" {
		t.Errorf("the reset request's row, by the anonymised email: %+v", page.Items)
	}

	// The old session, its tokens and the old password are refused.
	wantProblem(t, "old access token", tn.do("GET", "/api/v1/me", u.Access, nil), 401, "session_revoked")
	wantProblem(t, "old access token spends", tn.do("POST", "/api/v1/jobs", u.Access, map[string]any{"type": "interpretation",
		"set": slug, "number": 1, "question": "q"}), 401, "session_revoked")
	wantProblem(t, "old refresh token", tn.do("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": u.Refresh}), 401, "invalid_refresh_token")
	wantProblem(t, "old password", tn.do("POST", "/api/v1/auth/login", "", map[string]any{"email": u.Email, "password": u.Password}), 401, "invalid_credentials")
	wantProblem(t, "the anonymised address", tn.do("POST", "/api/v1/auth/login", "", map[string]any{"email": persistence.DeletedEmail(u.ID), "password": ""}), 401, "invalid_credentials")
	wantProblem(t, "deleted again", tn.do("DELETE", "/api/v1/admin/users/"+u.ID, admin(tn), nil), 404, "not_found")
	wantProblem(t, "brought back", tn.do("PATCH", "/api/v1/admin/users/"+u.ID, admin(tn), map[string]any{"status": "active"}), 404, "not_found")

	// The email is free again: a new account, with a new id and wallet.
	again := &user{Email: u.Email, Password: "a-new-password-1"}
	var created persistence.User
	decodeInto(t, tn.do("POST", "/api/v1/auth/register", "", map[string]string{"email": again.Email, "password": again.Password}), 201, &created)
	if created.ID == u.ID || created.WalletID == u.WalletID {
		t.Fatalf("re-registered: %+v", created)
	}
	tn.login(again)
	if w := tn.wallet(again.Access, created.WalletID); w.Balance != 0 {
		t.Fatalf("the new account's wallet: %+v", w)
	}
	wantProblem(t, "the old wallet", tn.do("GET", w, again.Access, nil), 404, "not_found")
}

// TestAdminDeletesUser: an admin deletes a user; others may not; the last admin can be deleted
// neither by another route nor by itself.
func TestAdminDeletesUser(t *testing.T) {
	t.Parallel()
	tn := startNode(t)
	u, op := tn.newUser("user"), tn.newUser("operator")
	wantProblem(t, "operator", tn.do("DELETE", "/api/v1/admin/users/"+u.ID, op.Access, nil), 403, "forbidden")
	wantProblem(t, "unknown", tn.do("DELETE", "/api/v1/admin/users/not-a-uuid", tn.admin.Access, nil), 404, "not_found")
	if r := tn.do("DELETE", "/api/v1/admin/users/"+u.ID, tn.admin.Access, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %s", r)
	}
	wantProblem(t, "deleted user's token", tn.do("GET", "/api/v1/me", u.Access, nil), 401, "session_revoked")
	var page struct {
		Items []persistence.User `json:"items"`
	}
	decodeInto(t, tn.do("GET", "/api/v1/admin/users?status=deleted", tn.admin.Access, nil), 200, &page)
	if len(page.Items) != 1 || page.Items[0].Status != "deleted" || page.Items[0].Email != persistence.DeletedEmail(u.ID) {
		t.Fatalf("the deleted user as admins see it: %+v", page.Items)
	}

	wantProblem(t, "last admin by an admin", tn.do("DELETE", "/api/v1/admin/users/"+tn.admin.ID, tn.admin.Access, nil), 409, "last_admin")
	wantProblem(t, "last admin by itself", tn.do("DELETE", "/api/v1/me", tn.admin.Access, map[string]any{"password": tn.admin.Password}), 409, "last_admin")
	// With a second admin, the first may go.
	second := tn.newUser("admin")
	if r := tn.do("DELETE", "/api/v1/me", tn.admin.Access, map[string]any{"password": tn.admin.Password}); r.Status != http.StatusNoContent {
		t.Fatalf("an admin deletes itself: %s", r)
	}
	wantProblem(t, "now the last", tn.do("DELETE", "/api/v1/admin/users/"+second.ID, second.Access, nil), 409, "last_admin")
}

func admin(tn *testNode) string { return tn.admin.Access }

// everyWalletMatchesLedger checks, in the database, that every wallet's balance and holds
// equal the sums of its successful ledger entries, and its seq their count.
func everyWalletMatchesLedger(t *testing.T, store *persistence.Store) {
	t.Helper()
	rows, err := store.Pool().Query(t.Context(), `SELECT w.id::text, w.balance, w.held, w.seq,
		COALESCE(sum(x.balance_delta) FILTER (WHERE x.status = 'success'), 0),
		COALESCE(sum(x.held_delta) FILTER (WHERE x.status = 'success'), 0), count(x.id)
		FROM wallets w LEFT JOIN transactions x ON x.wallet_id = w.id GROUP BY w.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var balance, held, seq, sum, heldSum, n int64
		if err := rows.Scan(&id, &balance, &held, &seq, &sum, &heldSum, &n); err != nil {
			t.Fatal(err)
		}
		if balance != sum || held != heldSum || seq != n {
			t.Errorf("wallet %s: balance %d held %d seq %d; ledger %d held %d entries %d", id, balance, held, seq, sum, heldSum, n)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}
