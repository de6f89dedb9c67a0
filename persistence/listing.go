package persistence

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/wallet"
)

var errBadCursor = dw.Coded(dw.KindInvalid, "bad_cursor", "cursor is not one this server gave out; start again without it")

// Cursor marks where a page of a (created_at, id)-ordered listing ended. It travels as an
// opaque string.
type Cursor struct {
	At time.Time `json:"t"`
	ID string    `json:"i"`
}

// Encode returns the cursor's opaque form.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses an opaque cursor ("" = the first page). Errors: invalid (code bad_cursor).
func DecodeCursor(s string) (*Cursor, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 200 {
		return nil, errBadCursor
	}
	var c Cursor
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || c.At.IsZero() || c.ID == "" || len(c.ID) > 40 {
		return nil, errBadCursor
	}
	return &c, nil
}

// Page is the window of a listing: created_at in [From, To) (zero = open), oldest first when
// Asc (default newest first), at most Limit rows, after the cursor where the last page ended.
type Page struct {
	From, To time.Time
	Asc      bool
	Limit    int
	After    *Cursor
}

// listByCreated pages through rows ordered by (created_at, id uuid). query selects the rows
// ("SELECT … FROM t WHERE conditions" using $1..$len(args)); the time range, the cursor, the
// order and the limit are added here. Errors: invalid (bad_cursor), internal.
func listByCreated[T any](ctx context.Context, s *Store, query string, args []any, p Page, what string,
	scan func(pgx.CollectableRow) (T, error), cursorOf func(T) Cursor) ([]T, string, error) {
	cmp, order := "<", "DESC"
	if p.Asc {
		cmp, order = ">", "ASC"
	}
	n := len(args)
	args = append(args, nullTime(p.From), nullTime(p.To), p.Limit+1)
	query += fmt.Sprintf(` AND ($%[1]d::timestamptz IS NULL OR created_at >= $%[1]d)
		AND ($%[2]d::timestamptz IS NULL OR created_at < $%[2]d)`, n+1, n+2)
	if p.After != nil {
		if _, err := uuid.Parse(p.After.ID); err != nil {
			return nil, "", errBadCursor
		}
		query += fmt.Sprintf(` AND (created_at, id) %s ($%d, $%d::uuid)`, cmp, n+4, n+5)
		args = append(args, p.After.At, p.After.ID)
	}
	query += fmt.Sprintf(` ORDER BY created_at %s, id %s LIMIT $%d`, order, order, n+3)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, "", mapError(err, what)
	}
	out, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, "", mapError(err, what)
	}
	next := ""
	if len(out) > p.Limit {
		out = out[:p.Limit]
		next = cursorOf(out[len(out)-1]).Encode()
	}
	return out, next, nil
}

// TxFilter selects ledger entries of one wallet.
type TxFilter struct {
	WalletID string
	Type     string
	Status   string
	Page
}

// ListTransactions returns one page of a wallet's ledger in sequence order (newest first unless
// Asc) and the cursor of the next page ("" at the end). Errors: invalid (bad_cursor), internal.
func (s *Store) ListTransactions(ctx context.Context, f TxFilter) ([]wallet.Entry, string, error) {
	cmp, order := "<", "DESC"
	if f.Asc {
		cmp, order = ">", "ASC"
	}
	args := []any{f.WalletID, f.Type, f.Status, nullTime(f.From), nullTime(f.To), f.Limit + 1}
	q := `SELECT ` + entryColumns + ` FROM transactions WHERE wallet_id = $1
		AND ($2 = '' OR type = $2) AND ($3 = '' OR status = $3)
		AND ($4::timestamptz IS NULL OR created_at >= $4) AND ($5::timestamptz IS NULL OR created_at < $5)`
	if f.After != nil {
		seq, err := strconv.ParseInt(f.After.ID, 10, 64)
		if err != nil || seq < 0 {
			return nil, "", errBadCursor
		}
		q += ` AND seq ` + cmp + ` $7`
		args = append(args, seq)
	}
	q += ` ORDER BY seq ` + order + ` LIMIT $6`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", mapError(err, "transactions")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.Entry, error) { return scanEntry(r) })
	if err != nil {
		return nil, "", mapError(err, "transactions")
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = Cursor{At: last.CreatedAt, ID: strconv.FormatInt(last.Seq, 10)}.Encode()
	}
	return out, next, nil
}

// AuditFilter selects audit rows.
type AuditFilter struct {
	ActorID  string
	Action   string // exact, or a prefix ending in '.' or '*' ("wallet.")
	TargetID string
	From, To time.Time
	Limit    int
	After    *Cursor // ID holds the row id
}

// ListAudit returns one page of the audit log, newest first, and the next cursor. Errors: internal.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, string, error) {
	action, prefix := f.Action, ""
	if strings.HasSuffix(action, "*") || strings.HasSuffix(action, ".") {
		prefix, action = strings.TrimSuffix(action, "*"), ""
	}
	args := []any{f.ActorID, action, escapeLike(prefix), f.TargetID, nullTime(f.From), nullTime(f.To), f.Limit + 1}
	q := `SELECT id, COALESCE(actor_id::text, ''), action, target_type, target_id, detail, ip, created_at
		FROM audit_events WHERE ($1 = '' OR actor_id::text = $1) AND ($2 = '' OR action = $2)
		AND ($3 = '' OR action LIKE $3 || '%') AND ($4 = '' OR target_id = $4)
		AND ($5::timestamptz IS NULL OR created_at >= $5) AND ($6::timestamptz IS NULL OR created_at < $6)`
	if f.After != nil {
		if !validAuditID(f.After.ID) {
			return nil, "", errBadCursor
		}
		q += ` AND (created_at, id) < ($8, $9)`
		args = append(args, f.After.At, f.After.ID)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT $7`
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", mapError(err, "audit log")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var a AuditEntry
		err := r.Scan(&a.ID, &a.ActorID, &a.Action, &a.TargetType, &a.TargetID, &a.Detail, &a.IP, &a.CreatedAt)
		return a, err
	})
	if err != nil {
		return nil, "", mapError(err, "audit log")
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = Cursor{At: last.CreatedAt, ID: last.ID}.Encode()
	}
	return out, next, nil
}

// validAuditID accepts the ids of audit_events: "a" and a row number, or "t" and a uuid.
func validAuditID(id string) bool {
	switch {
	case strings.HasPrefix(id, "a"):
		n, err := strconv.ParseInt(id[1:], 10, 64)
		return err == nil && n > 0 && strconv.FormatInt(n, 10) == id[1:]
	case strings.HasPrefix(id, "t"):
		u, err := uuid.Parse(id[1:])
		return err == nil && u.String() == id[1:]
	}
	return false
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
