package persistence

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
)

// User is a platform account.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	PasswordHash string    `json:"-"`
	Role         string    `json:"role"`
	Status       string    `json:"status"`
	WalletID     string    `json:"wallet_id"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	TokenVersion int64     `json:"-"` // bumped to end every access token of the user
	DisplayName  string    `json:"display_name"`
	Language     string    `json:"language"` // zh-TW or en; "" until chosen
}

// AuditEntry is one row of the audit log.
type AuditEntry struct {
	ID         string          `json:"id"` // "a…" for audit rows, "t…" for ledger entries
	ActorID    string          `json:"actor_id,omitempty"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type,omitempty"`
	TargetID   string          `json:"target_id,omitempty"`
	Detail     json.RawMessage `json:"detail"`
	IP         string          `json:"ip,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
}

func newUUID() string { return uuid.Must(uuid.NewV7()).String() }

// CreateUser inserts a user and its personal wallet in one transaction, with an audit row.
// Errors: conflict (code email_taken) when the email is in use, internal.
func (s *Store) CreateUser(ctx context.Context, email, passwordHash, role string, audit AuditEntry) (User, error) {
	return s.CreateUserIn(ctx, email, passwordHash, role, "", audit)
}

// CreateUserIn is CreateUser with the account's language (zh-TW or en; "" = not chosen).
func (s *Store) CreateUserIn(ctx context.Context, email, passwordHash, role, lang string, audit AuditEntry) (User, error) {
	u := User{ID: newUUID(), Email: email, PasswordHash: passwordHash, Role: role, Status: "active", WalletID: newUUID(), Language: lang}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO users (id, email, password_hash, role, language) VALUES ($1, $2, $3, $4, NULLIF($5, ''))
			RETURNING created_at, updated_at`, u.ID, email, passwordHash, role, lang).Scan(&u.CreatedAt, &u.UpdatedAt)
		if err != nil {
			if isUniqueViolation(err, "users_email_key") {
				return dw.Coded(dw.KindConflict, "email_taken", "a user with this email already exists")
			}
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO wallets (id, kind, owner_id) VALUES ($1, 'personal', $2)`, u.WalletID, u.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO wallet_members (wallet_id, user_id, role) VALUES ($1, $2, 'manager')`, u.WalletID, u.ID); err != nil {
			return err
		}
		if audit.TargetID == "" {
			audit.TargetType, audit.TargetID = "user", u.ID
		}
		if audit.ActorID == "" {
			audit.ActorID = u.ID
		}
		return insertAudit(ctx, tx, audit)
	})
	if dw.KindOf(err) == dw.KindConflict {
		return User{}, err
	}
	return u, mapError(err, "user")
}

// CreateWallet creates a shared wallet (personal wallets come with their users).
func (s *Store) CreateWallet(ctx context.Context, name string) (string, error) {
	id := newUUID()
	_, err := s.pool.Exec(ctx, `INSERT INTO wallets (id, kind, name) VALUES ($1, 'shared', $2)`, id, name)
	return id, mapError(err, "wallet")
}

// CreateWallets creates n shared wallets in one statement (benchmarks and demo data).
func (s *Store) CreateWallets(ctx context.Context, n int, name string) ([]string, error) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = newUUID()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO wallets (id, kind, name) SELECT unnest($1::uuid[]), 'shared', $2`, ids, name)
	return ids, mapError(err, "wallet")
}

func insertAudit(ctx context.Context, tx pgx.Tx, a AuditEntry) error {
	detail := a.Detail
	if len(detail) == 0 {
		detail = json.RawMessage(`{}`)
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_logs (actor_id, action, target_type, target_id, detail, ip)
		VALUES (NULLIF($1, '')::uuid, $2, $3, $4, $5, $6)`, a.ActorID, a.Action, a.TargetType, a.TargetID, detail, a.IP)
	return err
}

// Audit appends one audit row.
func (s *Store) Audit(ctx context.Context, a AuditEntry) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return insertAudit(ctx, tx, a) }), "audit entry")
}

const userColumns = `u.id::text, u.email, u.password_hash, u.role, u.status,
	COALESCE((SELECT w.id::text FROM wallets w WHERE w.owner_id = u.id AND w.kind = 'personal'), ''),
	u.created_at, u.updated_at, u.token_version, u.display_name, COALESCE(u.language, '')`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Role, &u.Status, &u.WalletID, &u.CreatedAt, &u.UpdatedAt, &u.TokenVersion, &u.DisplayName, &u.Language)
	return u, err
}

// UserByEmail finds a user by email, case-insensitively; a deleted user is found by none.
// Errors: not_found, internal.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE lower(u.email) = lower($1)
		AND u.status <> 'deleted'`, email))
	return u, mapError(err, "user")
}

// UserByID finds a user. Errors: not_found, internal.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id))
	return u, mapError(err, "user")
}

// UserFilter selects and orders users.
type UserFilter struct {
	Search string // substring of the email
	Role   string
	Status string
	Sort   string // created_at (default), -created_at, email, -email
	Limit  int
	Offset int
}

// ListUsers returns one page of users and the total that match. Errors: internal.
func (s *Store) ListUsers(ctx context.Context, f UserFilter) ([]User, int, error) {
	order := map[string]string{
		"": "u.created_at DESC, u.id DESC", "-created_at": "u.created_at DESC, u.id DESC",
		"created_at": "u.created_at, u.id", "email": "lower(u.email), u.id", "-email": "lower(u.email) DESC, u.id DESC",
	}[f.Sort]
	if order == "" {
		return nil, 0, dw.Errorf(dw.KindInvalid, "sort must be one of created_at, -created_at, email, -email")
	}
	where := `($1 = '' OR u.email ILIKE '%' || $1 || '%') AND ($2 = '' OR u.role = $2) AND ($3 = '' OR u.status = $3)`
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users u WHERE `+where, escapeLike(f.Search), f.Role, f.Status).Scan(&total); err != nil {
		return nil, 0, mapError(err, "users")
	}
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users u WHERE `+where+` ORDER BY `+order+` LIMIT $4 OFFSET $5`,
		escapeLike(f.Search), f.Role, f.Status, f.Limit, f.Offset)
	if err != nil {
		return nil, 0, mapError(err, "users")
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
	return users, total, mapError(err, "users")
}

func escapeLike(s string) string {
	r := make([]rune, 0, len(s))
	for _, c := range s {
		if c == '%' || c == '_' || c == '\\' {
			r = append(r, '\\')
		}
		r = append(r, c)
	}
	return string(r)
}

// UpdateUser changes a user's role and/or status (empty = unchanged) and audits it. Suspending
// a user revokes its refresh tokens; any change of role or status bumps its token version,
// which ends its access tokens on every node. A change that would leave no active admin is
// refused. Errors: not_found, invalid, conflict (last_admin), internal.
func (s *Store) UpdateUser(ctx context.Context, id, role, status string, audit AuditEntry) (User, error) {
	var u User
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A demotion or suspension first locks every active admin's row, in one order, so that
		// two concurrent ones serialize (no deadlock): the second sees the first's result (a row
		// that stopped matching is skipped once its lock is released) and counts what is left.
		var admins []string
		if (role != "" && role != "admin") || status == "suspended" {
			rows, err := tx.Query(ctx, `SELECT id::text FROM users WHERE role = 'admin' AND status = 'active' ORDER BY id FOR UPDATE`)
			if err != nil {
				return err
			}
			if admins, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
		}
		var oldRole, oldStatus string
		if err := tx.QueryRow(ctx, `SELECT role, status FROM users WHERE id = $1 FOR UPDATE`, id).Scan(&oldRole, &oldStatus); err != nil {
			return err
		}
		if oldStatus == StatusDeleted { // never brought back: its data is gone
			return pgx.ErrNoRows
		}
		if len(admins) == 1 && admins[0] == id {
			return dw.Coded(dw.KindConflict, "last_admin", "this is the last active admin: promote another admin first")
		}
		changed := (role != "" && role != oldRole) || (status != "" && status != oldStatus)
		if _, err := tx.Exec(ctx, `UPDATE users SET role = COALESCE(NULLIF($2, ''), role),
			status = COALESCE(NULLIF($3, ''), status), updated_at = now(),
			token_version = token_version + CASE WHEN $4 THEN 1 ELSE 0 END WHERE id = $1`, id, role, status, changed); err != nil {
			return err
		}
		if changed {
			if err := notifySession(ctx, tx, id); err != nil {
				return err
			}
		}
		if status == "suspended" {
			if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, id); err != nil {
				return err
			}
		}
		detail, _ := json.Marshal(map[string]string{"old_role": oldRole, "new_role": orDefault(role, oldRole),
			"old_status": oldStatus, "new_status": orDefault(status, oldStatus)})
		audit.TargetType, audit.TargetID, audit.Detail = "user", id, detail
		if err := insertAudit(ctx, tx, audit); err != nil {
			return err
		}
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id))
		return err
	})
	return u, mapError(err, "user")
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// SetPassword replaces a user's password hash, revokes its refresh tokens, bumps its token
// version (ending its access tokens on every node) and audits it. Errors: not_found, internal.
func (s *Store) SetPassword(ctx context.Context, id, hash string, audit AuditEntry) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return setPassword(ctx, tx, id, hash, audit) }), "user")
}

// setPassword is SetPassword inside tx (also a password reset's, resets.go).
func setPassword(ctx context.Context, tx pgx.Tx, id, hash string, audit AuditEntry) error {
	tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, updated_at = now(),
		token_version = token_version + 1 WHERE id = $1`, id, hash)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return pgx.ErrNoRows
	}
	if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, id); err != nil {
		return err
	}
	if err := notifySession(ctx, tx, id); err != nil {
		return err
	}
	audit.TargetType, audit.TargetID = "user", id
	return insertAudit(ctx, tx, audit)
}

// CanReadWallet says whether a user owns or is a member of a wallet.
func (s *Store) CanReadWallet(ctx context.Context, userID, walletID string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM wallet_members WHERE wallet_id = $1 AND user_id = $2)
		OR EXISTS (SELECT 1 FROM wallets WHERE id = $1 AND owner_id = $2)`, walletID, userID).Scan(&ok)
	if err != nil {
		return false, mapError(err, "wallet")
	}
	return ok, nil
}

// MemberWallets lists the wallets a user is a member of (not the personal one).
func (s *Store) MemberWallets(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT wallet_id::text FROM wallet_members WHERE user_id = $1 ORDER BY wallet_id LIMIT 1000`, userID)
	if err != nil {
		return nil, mapError(err, "wallet")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, mapError(err, "wallet")
}

// HoldWallet returns the wallet a hold belongs to. Errors: not_found, internal.
func (s *Store) HoldWallet(ctx context.Context, holdID string) (string, error) {
	var w string
	err := s.pool.QueryRow(ctx, `SELECT wallet_id::text FROM transactions WHERE id = $1 AND type = 'hold'`, holdID).Scan(&w)
	return w, mapError(err, "hold")
}

// WalletRef is accounting.WalletRef.
type WalletRef = accounting.WalletRef

// CreateSharedWallet creates a shared wallet (the wallet a group or project charges to) with an
// audit row; the name is valid (accounting.CheckWalletName). Errors: conflict (code
// wallet_name_taken) when a shared wallet has this name.
func (s *Store) CreateSharedWallet(ctx context.Context, name string, audit AuditEntry) (WalletRef, error) {
	w := WalletRef{ID: newUUID(), Kind: "shared", Name: strings.TrimSpace(name)}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Names are unique among shared wallets (benchmark wallets share names, so no index).
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('shared-wallet-name'))`); err != nil {
			return err
		}
		var taken bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM wallets WHERE kind = 'shared' AND lower(name) = lower($1))`,
			w.Name).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return dw.Coded(dw.KindConflict, "wallet_name_taken", "a shared wallet named %q exists", w.Name)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO wallets (id, kind, name) VALUES ($1, 'shared', $2)`, w.ID, w.Name); err != nil {
			return err
		}
		audit.Action, audit.TargetType, audit.TargetID = "wallet.create", "wallet", w.ID
		audit.Detail, _ = json.Marshal(w)
		return insertAudit(ctx, tx, audit)
	})
	return w, mapError(err, "wallet")
}

// WalletByRef finds a wallet by id, or a shared wallet by name (case-insensitive).
// Errors: not_found; invalid when several shared wallets have the name (give the id).
func (s *Store) WalletByRef(ctx context.Context, ref string) (WalletRef, error) {
	rows, err := s.pool.Query(ctx, `SELECT id::text, kind, name FROM wallets
		WHERE id::text = lower($1) OR (kind = 'shared' AND lower(name) = lower($1)) ORDER BY (id::text = lower($1)) DESC LIMIT 2`, ref)
	if err != nil {
		return WalletRef{}, mapError(err, "wallet")
	}
	ws, err := pgx.CollectRows(rows, pgx.RowToStructByPos[WalletRef])
	switch {
	case err != nil:
		return WalletRef{}, mapError(err, "wallet")
	case len(ws) == 0:
		return WalletRef{}, dw.Coded(dw.KindNotFound, "wallet_not_found", "no wallet has the id or shared-wallet name %q", ref)
	case len(ws) == 2 && ws[0].ID != ref:
		return WalletRef{}, dw.Errorf(dw.KindInvalid, "several shared wallets are named %q: give the wallet id", ref)
	}
	return ws[0], nil
}

// RecentAuditsFromIP counts the audit rows of an action from a client address since a time,
// with the oldest one's time (zero when there is none). Errors: internal.
func (s *Store) RecentAuditsFromIP(ctx context.Context, action, ip string, since time.Time) (int, time.Time, error) {
	var (
		n      int
		oldest *time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT count(*), min(created_at) FROM audit_logs
		WHERE action = $1 AND ip = $2 AND created_at >= $3`, action, ip, since).Scan(&n, &oldest)
	if err != nil || oldest == nil {
		return n, time.Time{}, mapError(err, "audit log")
	}
	return n, *oldest, nil
}
