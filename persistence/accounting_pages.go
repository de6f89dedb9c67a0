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

	"github.com/divinewhispers/dw/accounting"
)

// The pages of compute accounting's lists (accounting.Store's List methods). Each list is
// ordered by a unique key of its rows, and a page ends with a KeyCursor holding that key of its
// last row: the next page starts strictly after it (keyset pagination, as listByCreated), so a
// row is shown once however many rows are added or removed meanwhile.

// KeyCursor marks where a page of a listing ordered by a unique key ended: the key's values as
// text (a name, a path, a time in RFC 3339, an id). It travels as an opaque string, encoded
// as Cursor is.
type KeyCursor struct {
	Keys []string `json:"k"`
}

// maxKeyCursor bounds an encoded KeyCursor: it travels in a query string, within the 4 KB the
// gateway reads of a request's head. A file's path may be in it: a page that ends on a path of
// more than about 1,400 bytes gives a cursor the next request cannot use (bad_cursor).
const maxKeyCursor = 2000

// Encode returns the cursor's opaque form.
func (c KeyCursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeKeyCursor parses an opaque key cursor of n keys ("" = the first page: nil).
// Errors: invalid (code bad_cursor).
func DecodeKeyCursor(s string, n int) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > maxKeyCursor {
		return nil, errBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errBadCursor
	}
	var c KeyCursor
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() || len(c.Keys) != n {
		return nil, errBadCursor
	}
	return c.Keys, nil
}

// keyKind is the SQL type of a key column, and how its cursor text is read.
type keyKind int

const (
	keyText keyKind = iota
	keyTime         // timestamptz, RFC 3339 with nanoseconds
	keyDate         // date, YYYY-MM-DD
	keyInt          // bigint
	keyUUID         // uuid
)

// keyCol is a column of a list's key: a column named with its table (so that ORDER BY reads
// the stored column, not an output column of the same name such as id::text) and its kind.
type keyCol struct {
	expr string
	kind keyKind
}

// value reads a cursor's key text as this column's value; ok is false when it cannot be one.
func (k keyKind) value(s string) (any, bool) {
	switch k {
	case keyTime:
		t, err := time.Parse(time.RFC3339Nano, s)
		return t, err == nil
	case keyDate:
		t, err := time.Parse(time.DateOnly, s)
		return t, err == nil
	case keyInt:
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	case keyUUID:
		u, err := uuid.Parse(s)
		return u.String(), err == nil
	}
	return s, len(s) <= maxKeyCursor
}

func (k keyKind) sqlType() string {
	return [...]string{keyText: "text", keyTime: "timestamptz", keyDate: "date", keyInt: "bigint", keyUUID: "uuid"}[k]
}

// keyTime and keyDate's text of a time.
func timeKey(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
func dateKey(t time.Time) string { return t.Format(time.DateOnly) }

// listByKey answers one page of rows ordered by key (ascending, or descending when desc) and
// the next page's cursor ("" after the last). query selects the rows ("SELECT … WHERE
// conditions" using $1..$len(args)); the cursor's condition, the order and the limit are added
// here. keysOf gives a row's key as the cursor holds it. Errors: invalid (bad_cursor), internal.
func listByKey[T any](ctx context.Context, q querier, query string, args []any, key []keyCol, desc bool, p accounting.PageRequest,
	what string, scan func(pgx.CollectableRow) (T, error), keysOf func(T) []string) ([]T, string, error) {
	after, err := DecodeKeyCursor(p.Cursor, len(key))
	if err != nil {
		return nil, "", err
	}
	cmp, order := ">", "ASC"
	if desc {
		cmp, order = "<", "DESC"
	}
	cols, params, orderBy := make([]string, len(key)), make([]string, len(key)), make([]string, len(key))
	for i, k := range key {
		cols[i], orderBy[i] = k.expr, k.expr+" "+order
		if after != nil {
			v, ok := k.kind.value(after[i])
			if !ok {
				return nil, "", errBadCursor
			}
			args = append(args, v)
			params[i] = fmt.Sprintf("$%d::%s", len(args), k.kind.sqlType())
		}
	}
	if after != nil {
		query += fmt.Sprintf(" AND (%s) %s (%s)", strings.Join(cols, ", "), cmp, strings.Join(params, ", "))
	}
	args = append(args, p.Limit+1)
	query += fmt.Sprintf(" ORDER BY %s LIMIT $%d", strings.Join(orderBy, ", "), len(args))
	rows, err := q.Query(ctx, query, args...)
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
		next = KeyCursor{Keys: keysOf(out[len(out)-1])}.Encode()
	}
	return out, next, nil
}

// ListSources answers a page of the sources by name.
// Errors: invalid (bad_cursor), internal.
func (s *Store) ListSources(ctx context.Context, p accounting.PageRequest) ([]IngestSource, string, error) {
	return listByKey(ctx, s.pool, `SELECT `+sourceColumns+` FROM ingest_sources WHERE true`, nil,
		[]keyCol{{"ingest_sources.name", keyText}}, false, p, "ingest source",
		func(r pgx.CollectableRow) (IngestSource, error) { return scanSource(r) },
		func(src IngestSource) []string { return []string{src.Name} })
}

// ListProcessedFiles answers a page of a source's files by path.
// Errors: invalid (bad_cursor), internal.
func (s *Store) ListProcessedFiles(ctx context.Context, sourceID string, p accounting.PageRequest) ([]ProcessedFile, string, error) {
	return listByKey(ctx, s.pool, `SELECT `+fileColumns+` FROM processed_files WHERE source_id = $1`, []any{sourceID},
		[]keyCol{{"processed_files.path", keyText}}, false, p, "processed file", scanFile,
		func(f ProcessedFile) []string { return []string{f.Path} })
}

func scanFile(r pgx.CollectableRow) (ProcessedFile, error) {
	var f ProcessedFile
	err := r.Scan(&f.SourceID, &f.Path, &f.Size, &f.MTime, &f.SHA256, &f.PrefixSHA256, &f.Offset, &f.Lines, &f.Columns,
		&f.Gzip, &f.Records, &f.Errors, &f.Status, &f.UpdatedAt, &f.ClusterMismatches)
	return f, err
}

// ingestErrorRow is an ingest error with its row id, the last column of its key.
type ingestErrorRow struct {
	IngestError
	id int64
}

// ListIngestErrors answers a page of line errors, newest first (created, then id), of one
// source when source (a name) is not "". Errors: invalid (bad_cursor), internal.
func (s *Store) ListIngestErrors(ctx context.Context, source string, p accounting.PageRequest) ([]IngestError, string, error) {
	rows, next, err := listByKey(ctx, s.pool, `SELECT s.name, e.file, e.line, e.message, e.created_at, e.id
		FROM ingest_errors e JOIN ingest_sources s ON s.id = e.source_id
		WHERE ($1 = '' OR s.name = $1)`, []any{source},
		[]keyCol{{"e.created_at", keyTime}, {"e.id", keyInt}}, true, p, "ingest error",
		func(r pgx.CollectableRow) (ingestErrorRow, error) {
			var e ingestErrorRow
			err := r.Scan(&e.Source, &e.File, &e.Line, &e.Message, &e.CreatedAt, &e.id)
			return e, err
		},
		func(e ingestErrorRow) []string { return []string{timeKey(e.CreatedAt), strconv.FormatInt(e.id, 10)} })
	out := make([]IngestError, len(rows))
	for i, r := range rows {
		out[i] = r.IngestError
	}
	return out, next, err
}

// ListMappings answers a page of the group-mapping rules, oldest first (created, then id).
// Errors: invalid (bad_cursor), internal.
func (s *Store) ListMappings(ctx context.Context, p accounting.PageRequest) ([]accounting.Mapping, string, error) {
	return listByKey(ctx, s.pool, `SELECT `+mappingColumns+` FROM group_mappings WHERE true`, nil,
		[]keyCol{{"group_mappings.created_at", keyTime}, {"group_mappings.id", keyUUID}}, false, p, "mapping", scanMapping,
		func(m accounting.Mapping) []string { return []string{timeKey(m.CreatedAt), m.ID} })
}

// ListRates answers a page of the charge rates by cluster, partition and effective date (the
// table's unique key). Errors: invalid (bad_cursor), internal.
func (s *Store) ListRates(ctx context.Context, p accounting.PageRequest) ([]accounting.Rate, string, error) {
	return listByKey(ctx, s.pool, `SELECT `+rateColumns+` FROM charge_rates WHERE true`, nil,
		[]keyCol{{"charge_rates.cluster", keyText}, {"charge_rates.partition", keyText}, {"charge_rates.effective_from", keyTime}}, false, p, "rate", scanRate,
		func(r accounting.Rate) []string { return []string{r.Cluster, r.Partition, timeKey(r.EffectiveFrom)} })
}

// ListQuotas answers a page of quotas by wallet id and period (the table's unique key), of one
// wallet when walletID is not "", each with the usage of its period that holds at now.
// Errors: invalid (bad_cursor), internal.
func (s *Store) ListQuotas(ctx context.Context, walletID string, p accounting.PageRequest, now time.Time) ([]QuotaStatus, string, error) {
	qs, next, err := listByKey(ctx, s.pool, `SELECT `+quotaColumns+` FROM quotas WHERE ($1 = '' OR wallet_id::text = $1)`, []any{walletID},
		[]keyCol{{"quotas.wallet_id", keyUUID}, {"quotas.period", keyText}}, false, p, "quota",
		func(r pgx.CollectableRow) (Quota, error) { return scanQuota(r) },
		func(q Quota) []string { return []string{q.WalletID, q.Period} })
	if err != nil {
		return nil, "", err
	}
	out := make([]QuotaStatus, len(qs))
	for i, q := range qs {
		if out[i], err = quotaStatus(ctx, s.pool, q, now); err != nil {
			return nil, "", mapError(err, "quota")
		}
	}
	return out, next, nil
}

// ListQuotaEvents answers a page of the recorded threshold crossings, newest first (created,
// threshold, then the rest of the row's key: quota, period, metric), of one wallet when
// walletID is not "". Errors: invalid (bad_cursor), internal.
func (s *Store) ListQuotaEvents(ctx context.Context, walletID string, p accounting.PageRequest) ([]QuotaEvent, string, error) {
	return listByKey(ctx, s.pool, `SELECT e.quota_id::text, q.wallet_id::text, q.period, e.period_start, e.metric, e.threshold,
			e.used, e.used_seconds, e.quota, e.created_at
		FROM quota_events e JOIN quotas q ON q.id = e.quota_id
		WHERE ($1 = '' OR q.wallet_id::text = $1)`, []any{walletID},
		[]keyCol{{"e.created_at", keyTime}, {"e.threshold", keyInt}, {"e.quota_id", keyUUID}, {"e.period_start", keyDate}, {"e.metric", keyText}},
		true, p, "quota event", scanQuotaEvent,
		func(e QuotaEvent) []string {
			return []string{timeKey(e.CreatedAt), strconv.Itoa(e.Threshold), e.QuotaID, dateKey(e.PeriodStart), e.Metric}
		})
}

// ListCharges answers a page of charges, newest first (by id), after f.Cursor, at most f.Limit.
// Errors: invalid (bad_cursor), internal.
func (s *Store) ListCharges(ctx context.Context, f ChargeFilter) ([]Charge, string, error) {
	return listByKey(ctx, s.pool, `SELECT `+chargeColumns+` FROM usage_charges
		WHERE ($1 = '' OR wallet_id::text = $1) AND ($2 = '' OR status = $2)`, []any{f.WalletID, f.Status},
		[]keyCol{{"usage_charges.id", keyInt}}, true, accounting.PageRequest{Limit: f.Limit, Cursor: f.Cursor}, "charge",
		func(r pgx.CollectableRow) (Charge, error) { return scanCharge(r) },
		func(c Charge) []string { return []string{strconv.FormatInt(c.ID, 10)} })
}

// ListClusterUsers answers a page of cluster logins by cluster and login (of one cluster, and
// whose login starts with prefix). Errors: invalid (bad_cursor), internal.
func (s *Store) ListClusterUsers(ctx context.Context, cluster, prefix string, p accounting.PageRequest) ([]ClusterUser, string, error) {
	return listByKey(ctx, s.pool, `SELECT c.cluster, c.login, COALESCE(c.user_id::text, ''), COALESCE(u.email, ''), c.first_seen
		FROM cluster_users c LEFT JOIN users u ON u.id = c.user_id
		WHERE ($1 = '' OR c.cluster = $1) AND starts_with(c.login, $2)`, []any{cluster, prefix},
		[]keyCol{{"c.cluster", keyText}, {"c.login", keyText}}, false, p, "cluster user",
		func(r pgx.CollectableRow) (ClusterUser, error) {
			var c ClusterUser
			err := r.Scan(&c.Cluster, &c.Login, &c.UserID, &c.Email, &c.FirstSeen)
			return c, err
		},
		func(c ClusterUser) []string { return []string{c.Cluster, c.Login} })
}
