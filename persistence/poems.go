package persistence

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/fortune"
)

// SetInfo describes a poem set without its poems.
type SetInfo struct {
	Slug        string    `json:"slug"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Language    string    `json:"language"`
	Poems       int       `json:"poems"`
	Bundled     bool      `json:"bundled"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// SaveSet creates or replaces a poem set and all its poems in one transaction: a set is never
// half imported. The caller validates it first. Errors: internal.
func (s *Store) SaveSet(ctx context.Context, set *fortune.Set, bundled bool, audit AuditEntry) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO poem_sets (slug, name, description, language, bundled)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (slug) DO UPDATE SET name = $2, description = $3, language = $4, updated_at = now()`,
			set.Slug, set.Name, set.Description, set.Language, bundled); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM poems WHERE set_slug = $1`, set.Slug); err != nil {
			return err
		}
		rows := make([][]any, len(set.Poems))
		for i, p := range set.Poems {
			meanings, _ := json.Marshal(p.Meanings)
			rows[i] = []any{set.Slug, p.Number, p.Title, p.Lines, p.Level, meanings, p.Story, p.Uncertain, p.Note}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"poems"},
			[]string{"set_slug", "number", "title", "lines", "level", "meanings", "story", "uncertain", "note"},
			pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		if audit.Action != "" {
			audit.TargetType, audit.TargetID = "poem_set", set.Slug
			return insertAudit(ctx, tx, audit)
		}
		return nil
	}), "poem set")
}

// EnsureSet stores a bundled set unless a set with its slug exists (an operator's edits win).
func (s *Store) EnsureSet(ctx context.Context, set *fortune.Set) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM poem_sets WHERE slug = $1)`, set.Slug).Scan(&exists); err != nil {
		return mapError(err, "poem set")
	}
	if exists {
		return nil
	}
	err := s.SaveSet(ctx, set, true, AuditEntry{})
	if dw.KindOf(err) == dw.KindConflict { // another node stored it first
		return nil
	}
	return err
}

// ListSets lists the poem sets. Errors: internal.
func (s *Store) ListSets(ctx context.Context) ([]SetInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT s.slug, s.name, s.description, s.language,
		(SELECT count(*) FROM poems p WHERE p.set_slug = s.slug), s.bundled, s.updated_at
		FROM poem_sets s ORDER BY s.bundled DESC, s.slug`)
	if err != nil {
		return nil, mapError(err, "poem sets")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SetInfo, error) {
		var i SetInfo
		err := r.Scan(&i.Slug, &i.Name, &i.Description, &i.Language, &i.Poems, &i.Bundled, &i.UpdatedAt)
		return i, err
	})
	return out, mapError(err, "poem sets")
}

// Set reads a whole set. Errors: not_found, internal.
func (s *Store) Set(ctx context.Context, slug string) (*fortune.Set, error) {
	set := &fortune.Set{}
	err := s.pool.QueryRow(ctx, `SELECT slug, name, description, language FROM poem_sets WHERE slug = $1`, slug).
		Scan(&set.Slug, &set.Name, &set.Description, &set.Language)
	if err != nil {
		return nil, mapError(err, "poem set")
	}
	rows, err := s.pool.Query(ctx, `SELECT `+poemColumns+` FROM poems WHERE set_slug = $1 ORDER BY number`, slug)
	if err != nil {
		return nil, mapError(err, "poems")
	}
	set.Poems, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (fortune.Poem, error) { return scanPoem(r) })
	return set, mapError(err, "poems")
}

const poemColumns = `number, title, lines, level, meanings, story, uncertain, note`

func scanPoem(r pgx.Row) (fortune.Poem, error) {
	var p fortune.Poem
	var meanings []byte
	err := r.Scan(&p.Number, &p.Title, &p.Lines, &p.Level, &meanings, &p.Story, &p.Uncertain, &p.Note)
	if err == nil {
		err = json.Unmarshal(meanings, &p.Meanings)
	}
	return p, err
}

// Poem reads one poem of a set. Errors: not_found, internal.
func (s *Store) Poem(ctx context.Context, slug string, number int) (fortune.Poem, string, error) {
	var setName string
	row := s.pool.QueryRow(ctx, `SELECT `+poemColumns+`, (SELECT name FROM poem_sets WHERE slug = $1)
		FROM poems WHERE set_slug = $1 AND number = $2`, slug, number)
	var p fortune.Poem
	var meanings []byte
	err := row.Scan(&p.Number, &p.Title, &p.Lines, &p.Level, &meanings, &p.Story, &p.Uncertain, &p.Note, &setName)
	if err == nil {
		err = json.Unmarshal(meanings, &p.Meanings)
	}
	return p, setName, mapError(err, "poem")
}

// SavePoem replaces one poem of an existing set. Errors: not_found, internal.
func (s *Store) SavePoem(ctx context.Context, slug string, p fortune.Poem, audit AuditEntry) error {
	meanings, _ := json.Marshal(p.Meanings)
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE poems SET title = $3, lines = $4, level = $5, meanings = $6, story = $7,
			uncertain = $8, note = $9 WHERE set_slug = $1 AND number = $2`,
			slug, p.Number, p.Title, p.Lines, p.Level, meanings, p.Story, p.Uncertain, p.Note)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		if _, err := tx.Exec(ctx, `UPDATE poem_sets SET updated_at = now() WHERE slug = $1`, slug); err != nil {
			return err
		}
		audit.TargetType, audit.TargetID = "poem", slug+"/"+itoa(p.Number)
		return insertAudit(ctx, tx, audit)
	}), "poem")
}

// DeleteSet removes a set and its poems. Errors: not_found, internal.
func (s *Store) DeleteSet(ctx context.Context, slug string, audit AuditEntry) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM poem_sets WHERE slug = $1`, slug)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		audit.TargetType, audit.TargetID = "poem_set", slug
		return insertAudit(ctx, tx, audit)
	}), "poem set")
}
