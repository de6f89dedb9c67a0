package persistence

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	dw "github.com/divinewhispers/dw"
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
}

// AuditEntry is one row of the audit log.
type AuditEntry struct {
	ID         int64           `json:"id"`
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
	u := User{ID: newUUID(), Email: email, PasswordHash: passwordHash, Role: role, Status: "active", WalletID: newUUID()}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO users (id, email, password_hash, role) VALUES ($1, $2, $3, $4)
			RETURNING created_at, updated_at`, u.ID, email, passwordHash, role).Scan(&u.CreatedAt, &u.UpdatedAt)
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
