package persistence

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Draw is a recorded draw of a poem.
type Draw struct {
	ID        string          `json:"id"`
	UserID    string          `json:"user_id"`
	Set       string          `json:"set"`
	Number    int             `json:"number"`
	Confirmed bool            `json:"confirmed"`
	Throws    json.RawMessage `json:"throws"`
	CreatedAt time.Time       `json:"created_at"`
}

// CreateDraw records a draw.
func (s *Store) CreateDraw(ctx context.Context, d *Draw) error {
	d.ID = newUUID()
	if len(d.Throws) == 0 {
		d.Throws = json.RawMessage(`[]`)
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO draws (id, user_id, set_slug, number, confirmed, throws)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at`, d.ID, d.UserID, d.Set, d.Number, d.Confirmed, d.Throws).Scan(&d.CreatedAt)
	return mapError(err, "draw")
}

const drawColumns = `id::text, user_id::text, set_slug, number, confirmed, throws, created_at`

func scanDraw(r pgx.Row) (Draw, error) {
	var d Draw
	err := r.Scan(&d.ID, &d.UserID, &d.Set, &d.Number, &d.Confirmed, &d.Throws, &d.CreatedAt)
	return d, err
}

// DrawOf reads a user's draw. Errors: not_found, internal.
func (s *Store) DrawOf(ctx context.Context, userID, id string) (Draw, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Draw{}, mapError(pgx.ErrNoRows, "draw")
	}
	d, err := scanDraw(s.pool.QueryRow(ctx, `SELECT `+drawColumns+` FROM draws
		WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL`, id, userID))
	return d, mapError(err, "draw")
}

// DrawFilter selects a user's draws.
type DrawFilter struct {
	UserID string
	Set    string
	Page
}

// ListDraws returns one page of a user's draws and the next cursor. Errors: invalid (bad_cursor), internal.
func (s *Store) ListDraws(ctx context.Context, f DrawFilter) ([]Draw, string, error) {
	return listByCreated(ctx, s, `SELECT `+drawColumns+` FROM draws WHERE user_id = $1 AND deleted_at IS NULL
		AND ($2 = '' OR set_slug = $2)`, []any{f.UserID, f.Set}, f.Page, "draws",
		func(r pgx.CollectableRow) (Draw, error) { return scanDraw(r) },
		func(d Draw) Cursor { return Cursor{At: d.CreatedAt, ID: d.ID} })
}

// DeleteDraw removes a draw from its owner's history. Errors: not_found, internal.
func (s *Store) DeleteDraw(ctx context.Context, userID, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return mapError(pgx.ErrNoRows, "draw")
	}
	tag, err := s.pool.Exec(ctx, `UPDATE draws SET deleted_at = now() WHERE id = $1 AND user_id = $2 AND deleted_at IS NULL`, id, userID)
	if err == nil && tag.RowsAffected() == 0 {
		err = pgx.ErrNoRows
	}
	return mapError(err, "draw")
}

func itoa(n int) string { return strconv.Itoa(n) }
