package persistence

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	dw "github.com/divinewhispers/dw"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the database behind every node.
type Store struct {
	pool *pgxpool.Pool
	// seenUsers holds the cluster users ([2]string{cluster, login}) known to be stored, so
	// that ingest does not send them again with every file.
	seenUsers sync.Map

	jobsOnce    sync.Once
	jobs        *jobBatcher  // the grouped job writes; started by the first
	jobGroupMax atomic.Int32 // 0 = jobBatchMax
	jobObserver atomic.Pointer[JobWriteObserver]
}

// Open connects to url with a pool of at most maxConns connections (0 = pgx's default).
// Errors: unavailable when the server cannot be reached.
func Open(ctx context.Context, url string, maxConns int32) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, dw.Errorf(dw.KindInvalid, "bad database URL: %v", redact(err))
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, &dw.Error{Kind: dw.KindUnavailable, Code: "database_unavailable", Message: "cannot connect to the database", Err: err}
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, &dw.Error{Kind: dw.KindUnavailable, Code: "database_unavailable", Message: "cannot connect to the database", Err: err}
	}
	return &Store{pool: pool}, nil
}

// Close answers the job writes still queued with an error and closes the pool.
func (s *Store) Close() {
	s.jobsOnce.Do(func() {}) // no batcher starts after this
	if s.jobs != nil {
		s.jobs.close()
	}
	s.pool.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Pool exposes the pool to benchmarks that measure a plain-SQL baseline.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

func migrator(ctx context.Context, conn *pgx.Conn) (*migrate.Migrator, error) {
	m, err := migrate.NewMigrator(ctx, conn, "schema_version")
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return nil, err
	}
	return m, nil
}

// Migrate applies every migration not yet applied. Concurrent callers are serialised by an
// advisory lock, so every node may call it at start.
func Migrate(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return &dw.Error{Kind: dw.KindUnavailable, Code: "database_unavailable", Message: "cannot connect to the database", Err: err}
	}
	defer conn.Close(context.Background())
	m, err := migrator(ctx, conn)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// MigrationState says which migrations exist and which version the database is at.
type MigrationState struct {
	Current int32
	Names   []string // index i holds migration i+1
}

// MigrationStatus reads the database's schema version.
func MigrationStatus(ctx context.Context, url string) (MigrationState, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return MigrationState{}, &dw.Error{Kind: dw.KindUnavailable, Code: "database_unavailable", Message: "cannot connect to the database", Err: err}
	}
	defer conn.Close(context.Background())
	m, err := migrator(ctx, conn)
	if err != nil {
		return MigrationState{}, err
	}
	v, err := m.GetCurrentVersion(ctx)
	if err != nil {
		return MigrationState{}, err
	}
	st := MigrationState{Current: v}
	for _, mg := range m.Migrations {
		st.Names = append(st.Names, mg.Name)
	}
	return st, nil
}

// mapError turns driver errors into the error taxonomy.
func mapError(err error, what string) error {
	if err == nil {
		return nil
	}
	var de *dw.Error
	if errors.As(err, &de) {
		return de // already said in the taxonomy, e.g. returned from inside a transaction
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return dw.Errorf(dw.KindNotFound, "%s not found", what)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return &dw.Error{Kind: dw.KindConflict, Code: "conflict", Message: what + " already exists", Err: err}
		case "22P02": // invalid_text_representation, e.g. a malformed uuid
			return dw.Errorf(dw.KindNotFound, "%s not found", what)
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &dw.Error{Kind: dw.KindUnavailable, Code: "unavailable", Message: "the database did not answer in time", Err: err}
	}
	return dw.Internal(err)
}

func isUniqueViolation(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && (constraint == "" || pe.ConstraintName == constraint)
}

// redact keeps a password out of a connection-string parse error.
func redact(err error) string {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return "cannot parse the connection string"
	}
	return err.Error()
}

func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// querier is what a pool and a transaction have in common for reading.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// IsRetryable reports whether err is a deadlock or serialization failure that PostgreSQL
// resolved by cancelling this transaction: running it again is safe and will likely succeed.
func IsRetryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// genericPlans, sent first in a batch (one implicit transaction), makes the batch's statements
// use their prepared statement's generic plan. The group-write statements take arrays of any
// length: PostgreSQL, seeing that a custom plan for the arrays at hand always looks cheaper than
// the generic one (estimated for 10 elements), plans them anew at every call — about 0.2 ms of
// CPU for a ledger commit, as much as writing it (BenchmarkCommit). The ledger commit keeps hash
// joins (it matches entries to the wallets it updated); a plan made while wallets was small is
// made again when autovacuum's ANALYZE sees the table grow.
const genericPlans = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`

// genericKeyPlans is genericPlans for statements that join their arrays to a table's primary
// key and nothing else: the generic plan is made once per connection, and must stay an index
// lookup per element even if it was made while the table was still small (a hash join over a
// table that has since grown would read all of it at every call).
const genericKeyPlans = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
	set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
	set_config('enable_mergejoin', 'off', true)`

// uuidArray turns ids into the binary form of a uuid[] parameter. pgx would take the strings,
// but only after failing to encode them as binary uuids and building an error to say so, at
// every call; an id that does not parse is sent as the zero uuid, which matches no row.
func uuidArray(ids []string) [][16]byte {
	out := make([][16]byte, len(ids))
	for i, id := range ids {
		out[i], _ = uuid.Parse(id)
	}
	return out
}
