package persistence

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	dw "github.com/divinewhispers/dw"
)

// StatusDeleted is the status of a deleted user: its row stays (the ledger, the jobs and the
// audit log point at its id) with its personal data removed.
const StatusDeleted = "deleted"

// DeletedEmail is the address a deleted user's email is replaced with: unique, and one that
// can never receive mail (.invalid, RFC 2606).
func DeletedEmail(userID string) string { return "deleted-" + userID + "@invalid" }

// UpdateProfile sets a user's display name and/or language (nil = unchanged; the values are
// already validated) and audits the change (user.profile_updated, with the fields changed but
// not their values). Errors: not_found (also for a deleted user), internal.
func (s *Store) UpdateProfile(ctx context.Context, id string, displayName, language *string, audit AuditEntry) (User, error) {
	if _, err := uuid.Parse(id); err != nil {
		return User{}, dw.Errorf(dw.KindNotFound, "user not found")
	}
	var u User
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET display_name = COALESCE($2, display_name),
			language = COALESCE($3, language), updated_at = now() WHERE id = $1 AND status <> 'deleted'`, id, displayName, language)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		var fields []string
		if displayName != nil {
			fields = append(fields, "display_name")
		}
		if language != nil {
			fields = append(fields, "language")
		}
		audit.Action, audit.TargetType, audit.TargetID = "user.profile_updated", "user", id
		audit.Detail, _ = json.Marshal(map[string]any{"fields": fields})
		if err := insertAudit(ctx, tx, audit); err != nil {
			return err
		}
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id))
		return err
	})
	return u, mapError(err, "user")
}

// OpenJobsOf lists the ids of a user's jobs that have not finished (pending or running).
// Errors: internal.
func (s *Store) OpenJobsOf(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id::text FROM jobs WHERE user_id = $1 AND status IN ('pending', 'running')
		ORDER BY created_at`, userID)
	if err != nil {
		return nil, mapError(err, "jobs")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, mapError(err, "jobs")
}

// ActiveAdmins counts the active admins. Errors: internal.
func (s *Store) ActiveAdmins(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE role = 'admin' AND status = 'active'`).Scan(&n)
	return n, mapError(err, "users")
}

// DeletedUser is what DeleteUser removed, for the caller's record.
type DeletedUser struct {
	ID            string
	JobsCancelled int64 // jobs still open at the deletion, cancelled by it (settled by recovery)
	JobsErased    int64 // jobs whose question and context were erased
	Draws         int64
	Mails         int64
}

// DeleteUser deletes a user in one transaction, keeping what others' records need:
//   - the row stays, as status deleted (deleted_at set), with the email replaced by
//     DeletedEmail (so the address is free to register again), the password hash and the
//     display name cleared, and the token version bumped: every access token ends on every
//     node (NOTIFY, as for a suspension) and every refresh token is deleted;
//   - the user's draws, password-reset tokens and mails in the outbox (to its old address)
//     are deleted; its cluster-login links and wallet memberships removed;
//   - its jobs stay (their ledger entries reference them) with the question and the context
//     (the person's own words, personal data) erased and the results (an interpretation of
//     them) deleted; a job still open is cancelled here, and the node's recovery releases its
//     hold (callers cancel open jobs through the job grains first, which releases at once);
//   - the ledger, the wallets (the personal one too: its ledger is history) and the audit log
//     stay; audit rows about the old address (failed logins of an unknown email, reset
//     requests) name DeletedEmail instead.
//
// The last active admin cannot be deleted. A user already deleted is not found. The deletion
// is audited with audit (action user.deleted). Errors: not_found, conflict (last_admin),
// internal.
func (s *Store) DeleteUser(ctx context.Context, id string, audit AuditEntry) (DeletedUser, error) {
	d := DeletedUser{ID: id}
	if _, err := uuid.Parse(id); err != nil {
		return d, dw.Errorf(dw.KindNotFound, "user not found")
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// As UpdateUser: every active admin's row locked in one order, so that concurrent
		// demotions, suspensions and deletions see each other's results.
		rows, err := tx.Query(ctx, `SELECT id::text FROM users WHERE role = 'admin' AND status = 'active' ORDER BY id FOR UPDATE`)
		if err != nil {
			return err
		}
		admins, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		var email, status string
		if err := tx.QueryRow(ctx, `SELECT email, status FROM users WHERE id = $1 FOR UPDATE`, id).Scan(&email, &status); err != nil {
			return err
		}
		if status == StatusDeleted {
			return pgx.ErrNoRows
		}
		if len(admins) == 1 && admins[0] == id {
			return dw.Coded(dw.KindConflict, "last_admin", "this is the last active admin: promote another admin first")
		}
		anon := DeletedEmail(id)
		if _, err := tx.Exec(ctx, `UPDATE users SET email = $2, password_hash = '', display_name = '', status = 'deleted',
			deleted_at = now(), updated_at = now(), token_version = token_version + 1 WHERE id = $1`, id, anon); err != nil {
			return err
		}
		if err := notifySession(ctx, tx, id); err != nil {
			return err
		}
		steps := []struct {
			sql  string
			args []any
			n    *int64
		}{
			{`DELETE FROM refresh_tokens WHERE user_id = $1`, []any{id}, nil},
			{`DELETE FROM password_reset_tokens WHERE user_id = $1`, []any{id}, nil},
			{`DELETE FROM draws WHERE user_id = $1`, []any{id}, &d.Draws},
			{`DELETE FROM mail_outbox WHERE lower(recipient) = lower($1)`, []any{email}, &d.Mails},
			{`UPDATE cluster_users SET user_id = NULL WHERE user_id = $1`, []any{id}, nil},
			{`DELETE FROM wallet_members WHERE user_id = $1`, []any{id}, nil},
			{`UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now(), lease_until = NULL,
				next_attempt_at = NULL, error_code = 'cancelled' WHERE user_id = $1 AND status IN ('pending', 'running')`, []any{id}, &d.JobsCancelled},
			{`DELETE FROM job_results WHERE job_id IN (SELECT id FROM jobs WHERE user_id = $1)`, []any{id}, nil},
			{`UPDATE jobs SET params = params || '{"question": "", "context": ""}'::jsonb, updated_at = now()
				WHERE user_id = $1`, []any{id}, &d.JobsErased},
			{`UPDATE audit_logs SET target_id = $2 WHERE target_type = 'email' AND target_id = lower($1)`, []any{email, anon}, nil},
		}
		for _, st := range steps {
			tag, err := tx.Exec(ctx, st.sql, st.args...)
			if err != nil {
				return err
			}
			if st.n != nil {
				*st.n = tag.RowsAffected()
			}
		}
		audit.Action, audit.TargetType, audit.TargetID = "user.deleted", "user", id
		audit.Detail, _ = json.Marshal(map[string]any{"jobs_cancelled": d.JobsCancelled, "jobs_erased": d.JobsErased,
			"draws_deleted": d.Draws, "mails_deleted": d.Mails})
		return insertAudit(ctx, tx, audit)
	})
	return d, mapError(err, "user")
}

// SweepDeleted erases what reached the users deleted within the last `within` after their
// deletion's transaction: a job or a draw whose request passed the session check just before
// the deletion and was stored just after it. Their open jobs are cancelled (the nodes'
// recovery releases the holds), the questions, contexts and results of their jobs erased and
// their draws deleted, as DeleteUser does. It returns how many rows it changed. Errors:
// unavailable, internal.
func (s *Store) SweepDeleted(ctx context.Context, within time.Duration) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		const recent = `SELECT id FROM users WHERE status = 'deleted' AND deleted_at > now() - $1 * interval '1 millisecond'`
		for _, q := range []string{
			`UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now(), lease_until = NULL,
				next_attempt_at = NULL, error_code = 'cancelled' WHERE user_id IN (` + recent + `) AND status IN ('pending', 'running')`,
			`DELETE FROM job_results WHERE job_id IN (SELECT id FROM jobs WHERE user_id IN (` + recent + `))`,
			`UPDATE jobs SET params = params || '{"question": "", "context": ""}'::jsonb, updated_at = now()
				WHERE user_id IN (` + recent + `) AND (params->>'question' <> '' OR COALESCE(params->>'context', '') <> '')`,
			`DELETE FROM draws WHERE user_id IN (` + recent + `)`,
		} {
			tag, err := tx.Exec(ctx, q, within.Milliseconds())
			if err != nil {
				return err
			}
			n += tag.RowsAffected()
		}
		return nil
	})
	return n, mapError(err, "deleted users")
}
