package persistence

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
)

// Writes of ingest sources, each with its audit row in the same transaction.

// AddSource stores a new source (the caller validates it) with an audit row, and returns it
// with its id. Errors: conflict (code source_name_taken) when the name is taken.
func (s *Store) AddSource(ctx context.Context, src IngestSource, audit AuditEntry) (IngestSource, error) {
	if src.ID == "" {
		src.ID = newUUID()
	}
	if src.Glob == "" {
		src.Glob = "*"
	}
	if src.Timezone == "" {
		src.Timezone = "UTC"
	}
	var out IngestSource
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if src.Columns == nil {
			src.Columns = []string{}
		}
		out, err = scanSource(tx.QueryRow(ctx, `INSERT INTO ingest_sources (id, name, dir, glob, format, cluster, interval_seconds, timezone, enabled, columns)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING `+sourceColumns,
			src.ID, src.Name, src.Dir, src.Glob, src.Format, src.Cluster, int(src.Interval/time.Second), src.Timezone, src.Enabled, src.Columns))
		if isUniqueViolation(err, "") {
			return dw.Coded(dw.KindConflict, "source_name_taken", "a source named %q already exists", src.Name)
		}
		if err != nil {
			return err
		}
		audit.Action, audit.TargetType, audit.TargetID = "accounting.source.create", "ingest_source", out.ID
		audit.Detail, _ = json.Marshal(sourceDetail(out))
		return insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return IngestSource{}, mapError(err, "ingest source")
	}
	return out, nil
}

// SourcePatch is accounting.SourcePatch.
type SourcePatch = accounting.SourcePatch

// UpdateSource applies a validated patch to a source, with an audit row holding the settings
// before and after. Errors: not_found.
func (s *Store) UpdateSource(ctx context.Context, id string, p SourcePatch, audit AuditEntry) (IngestSource, error) {
	var secs *int
	if p.Interval != nil {
		v := int(*p.Interval / time.Second)
		secs = &v
	}
	var out IngestSource
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		before, err := scanSource(tx.QueryRow(ctx, `SELECT `+sourceColumns+` FROM ingest_sources WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		out, err = scanSource(tx.QueryRow(ctx, `UPDATE ingest_sources SET dir = COALESCE($2, dir), glob = COALESCE($3, glob),
				timezone = COALESCE($4, timezone), interval_seconds = COALESCE($5, interval_seconds), enabled = COALESCE($6, enabled),
				columns = COALESCE($7, columns)
			WHERE id = $1 RETURNING `+sourceColumns, id, p.Dir, p.Glob, p.Timezone, secs, p.Enabled, p.Columns))
		if err != nil {
			return err
		}
		audit.Action, audit.TargetType, audit.TargetID = "accounting.source.update", "ingest_source", id
		audit.Detail, _ = json.Marshal(map[string]any{"before": sourceDetail(before), "after": sourceDetail(out)})
		return insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return IngestSource{}, mapError(err, "ingest source")
	}
	return out, nil
}

// RemoveSourceByID deletes a source with its processed-file and error rows, with an audit row;
// the usage records it read are kept. Errors: not_found.
func (s *Store) RemoveSourceByID(ctx context.Context, id string, audit AuditEntry) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		src, err := scanSource(tx.QueryRow(ctx, `DELETE FROM ingest_sources WHERE id = $1 RETURNING `+sourceColumns, id))
		if err != nil {
			return err
		}
		audit.Action, audit.TargetType, audit.TargetID = "accounting.source.remove", "ingest_source", id
		audit.Detail, _ = json.Marshal(sourceDetail(src))
		return insertAudit(ctx, tx, audit)
	}), "ingest source")
}

// sourceDetail is a source as the audit log shows it (the interval in seconds, not
// nanoseconds).
func sourceDetail(src IngestSource) map[string]any {
	return map[string]any{"name": src.Name, "dir": src.Dir, "glob": src.Glob, "format": src.Format, "cluster": src.Cluster,
		"interval_seconds": int64(src.Interval / time.Second), "timezone": src.Timezone, "enabled": src.Enabled, "columns": src.Columns}
}

// RefuseScan records a scan of a source that was refused (its directory no longer lies inside
// an ingest root): an ingest error of line 0 on its directory, and the audit row, in one
// transaction. Errors: database errors.
func (s *Store) RefuseScan(ctx context.Context, sourceID, dir, message string, audit AuditEntry, now time.Time) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO ingest_errors (source_id, file, line, message, created_at) VALUES ($1, $2, 0, $3, $4)`,
			sourceID, dir, message, now); err != nil {
			return err
		}
		return insertAudit(ctx, tx, audit)
	}), "ingest error")
}
