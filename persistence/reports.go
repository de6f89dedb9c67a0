package persistence

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
)

// Usage dimensions: what reports group and filter by.
var dimensions = map[string]string{ // name → the usage_records expression
	"wallet":    walletKeySQL("r"),
	"user":      "r.user_name",
	"group":     "r.group_name",
	"account":   "r.account",
	"partition": "r.partition",
	"cluster":   "r.cluster",
}

// Dimensions lists the report dimensions, for messages.
const Dimensions = "wallet, user, group, account, partition or cluster"

// IsDimension reports whether d is a report dimension.
func IsDimension(d string) bool { _, ok := dimensions[d]; return ok }

// UsageSum is accounting.UsageSum.
type UsageSum = accounting.UsageSum

// fill computes the shown figures from the exact sums; price is in price units
// (accounting.PriceUnitsPerPoint).
func fillUsage(u *UsageSum, price int64) {
	u.CPUJobs = u.Jobs - u.GPUJobs
	u.NodeHours, u.CoreHours = accounting.HoursNumber(u.NodeSeconds), accounting.HoursNumber(u.GPUSeconds)
	u.Points = showPoints(price)
}

// showPoints is a price in price units as points rounded half up to 6 decimals (a micropoint
// is 3.6 units), for showing; charges round to whole points (accounting.Points).
func showPoints(units int64) float64 {
	micro := new(big.Int).Mul(big.NewInt(units), big.NewInt(10))
	micro.Add(micro, big.NewInt(18)).Quo(micro, big.NewInt(36))
	return float64(micro.Int64()) / 1e6
}

// Overview is accounting.Overview.
type Overview = accounting.Overview

// rollupRange is the part of usage_rollups that covers the UTC days [from, to), read from the
// coarsest rows that fit: days up to the first whole month ($1–$2), months up to the first
// whole year ($2–$3), years ($3–$4), months ($4–$5), days ($5–$6); each an index range of its
// own (empty ones cost a probe). $7 is the dimension.
const rollupRange = `(SELECT * FROM usage_rollups WHERE dim = $7 AND grain = 'd' AND bucket >= $1 AND bucket < $2
	UNION ALL
	SELECT * FROM usage_rollups WHERE dim = $7 AND grain = 'm' AND bucket >= $2 AND bucket < $3
	UNION ALL
	SELECT * FROM usage_rollups WHERE dim = $7 AND grain = 'y' AND bucket >= $3 AND bucket < $4
	UNION ALL
	SELECT * FROM usage_rollups WHERE dim = $7 AND grain = 'm' AND bucket >= $4 AND bucket < $5
	UNION ALL
	SELECT * FROM usage_rollups WHERE dim = $7 AND grain = 'd' AND bucket >= $5 AND bucket < $6)`

// rollupArgs returns $1–$6 of rollupRange for [from, to).
func rollupArgs(from, to time.Time) []any {
	from, to = accounting.Day(from), accounting.Day(to)
	if to.Before(from) {
		to = from
	}
	// m1..m2: the whole months inside; y1..y2: the whole years inside those.
	m1 := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
	if m1.Before(from) {
		m1 = m1.AddDate(0, 1, 0)
	}
	m2 := time.Date(to.Year(), to.Month(), 1, 0, 0, 0, 0, time.UTC)
	if !m1.Before(m2) { // no whole month: days only
		return []any{from, to, to, to, to, to}
	}
	y1 := time.Date(m1.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	if y1.Before(m1) {
		y1 = y1.AddDate(1, 0, 0)
	}
	y2 := time.Date(m2.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	if !y1.Before(y2) { // no whole year: months only
		return []any{from, m1, m2, m2, m2, to}
	}
	return []any{from, m1, y1, y2, m2, to}
}

// Overview sums usage over the UTC days [from, to) from the rollups, with the top n wallets,
// users and partitions by node-hours + core-hours. One round trip.
func (s *Store) Overview(ctx context.Context, from, to time.Time, n int) (Overview, error) {
	ov := Overview{From: accounting.Day(from), To: accounting.Day(to), TopWallets: []UsageSum{}, TopUsers: []UsageSum{}, TopPartitions: []UsageSum{}}
	args := rollupArgs(from, to)
	sum := `SELECT key, sum(jobs)::bigint, sum(gpu_jobs)::bigint, sum(node_seconds)::bigint, sum(gpu_seconds)::bigint,
		sum(charge_units)::bigint FROM ` + rollupRange + ` r`
	top := sum + ` GROUP BY key HAVING sum(jobs) <> 0 ORDER BY sum(node_seconds) + sum(gpu_seconds) DESC, key LIMIT $8`
	b := &pgx.Batch{}
	b.Queue(sum+` GROUP BY key`, append(args, "all")...)
	b.Queue(`SELECT t.*, COALESCE(w.name, '') FROM (`+top+`) t (key, jobs, gpu_jobs, node, gpu, price)
		LEFT JOIN wallets w ON w.id::text = t.key ORDER BY t.node + t.gpu DESC, t.key`, append(args, "wallet", n)...)
	b.Queue(top, append(args, "user", n)...)
	b.Queue(top, append(args, "partition", n)...)
	b.Queue(sum+` WHERE key = '' GROUP BY key HAVING sum(jobs) <> 0`, append(args, "wallet")...)
	// The statements are prepared once and reused; a generic plan (after five runs) cannot see
	// which dimension and dates it serves and scans far more rollups than it needs to.
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return ov, mapError(err, "usage")
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_custom_plan`); err != nil {
		return ov, mapError(err, "usage")
	}
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	scan := func(named bool) ([]UsageSum, error) {
		rows, err := br.Query()
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (UsageSum, error) {
			var u UsageSum
			var price int64
			dst := []any{&u.Key, &u.Jobs, &u.GPUJobs, &u.NodeSeconds, &u.GPUSeconds, &price}
			if named {
				dst = append(dst, &u.Name)
			}
			err := r.Scan(dst...)
			fillUsage(&u, price)
			return u, err
		})
	}
	all, err := scan(false)
	if err != nil {
		return ov, mapError(err, "usage")
	}
	for _, u := range all {
		ov.Jobs, ov.CPUJobs, ov.GPUJobs = u.Jobs, u.CPUJobs, u.GPUJobs
		ov.TotalNodeHours, ov.TotalCoreHours, ov.Points = u.NodeHours, u.CoreHours, u.Points
		ov.TotalNodeSecs, ov.TotalGPUSecs = u.NodeSeconds, u.GPUSeconds
	}
	for _, dst := range []*[]UsageSum{&ov.TopWallets, &ov.TopUsers, &ov.TopPartitions} {
		list, err := scan(dst == &ov.TopWallets)
		if err != nil {
			return ov, mapError(err, "usage")
		}
		*dst = append(*dst, list...)
	}
	un, err := scan(false)
	if err != nil {
		return ov, mapError(err, "usage")
	}
	if len(un) > 0 {
		ov.Unassigned = un[0]
	}
	return ov, nil
}

// UsageQuery is accounting.UsageQuery.
type UsageQuery = accounting.UsageQuery

// Usage answers q from the rollups, or from the usage records when it filters on a dimension.
// Rows come by bucket, then by usage (node-hours + core-hours) descending.
// Errors: invalid (unknown dimension or bucket).
func (s *Store) Usage(ctx context.Context, q UsageQuery) ([]UsageSum, error) {
	if !IsDimension(q.GroupBy) {
		return nil, dw.Errorf(dw.KindInvalid, "group_by must be %s, not %q", Dimensions, q.GroupBy)
	}
	switch q.Bucket {
	case "", "day", "week", "month":
	default:
		return nil, dw.Errorf(dw.KindInvalid, "bucket must be day, week or month, not %q", q.Bucket)
	}
	if q.Limit <= 0 || q.Limit > 100_000 {
		q.Limit = 10_000
	}
	bucket := func(col string) string {
		if q.Bucket == "" {
			return `''`
		}
		return `to_char(date_trunc('` + q.Bucket + `', ` + col + `), 'YYYY-MM-DD')`
	}
	var sql string
	var args []any
	if len(q.Filters) == 0 {
		args = append(rollupArgs(q.From, q.To), q.GroupBy, q.Limit)
		src := rollupRange
		switch q.Bucket {
		case "day", "week":
			src = `(SELECT * FROM usage_rollups WHERE dim = $7 AND grain = 'd' AND bucket >= $1 AND bucket < $6
				AND $2::date IS NOT NULL AND $3::date IS NOT NULL AND $4::date IS NOT NULL AND $5::date IS NOT NULL)`
		case "month": // months and days, never years
			src = `(SELECT * FROM usage_rollups WHERE dim = $7 AND grain = 'd' AND bucket >= $1 AND bucket < $2
				UNION ALL
				SELECT * FROM usage_rollups WHERE dim = $7 AND grain = 'm' AND bucket >= $2 AND bucket < $5
				UNION ALL
				SELECT * FROM usage_rollups WHERE dim = $7 AND grain = 'd' AND bucket >= $5 AND bucket < $6
					AND $3::date IS NOT NULL AND $4::date IS NOT NULL)`
		}
		sql = `SELECT ` + bucket("r.bucket") + ` AS b, key, sum(jobs)::bigint, sum(gpu_jobs)::bigint, sum(node_seconds)::bigint,
			sum(gpu_seconds)::bigint, sum(charge_units)::bigint FROM ` + src + ` r GROUP BY 1, 2 HAVING sum(jobs) <> 0`
	} else {
		args = []any{accounting.Day(q.From), accounting.Day(q.To)}
		where := []string{`COALESCE(r.end_at, r.start_at, r.ingested_at) >= $1`, `COALESCE(r.end_at, r.start_at, r.ingested_at) < $2`}
		for dim, v := range q.Filters {
			expr, ok := dimensions[dim]
			if !ok {
				return nil, dw.Errorf(dw.KindInvalid, "cannot filter on %q: filters are %s", dim, Dimensions)
			}
			args = append(args, v)
			where = append(where, fmt.Sprintf("%s = $%d", expr, len(args)))
		}
		args = append(args, q.Limit)
		sql = `SELECT ` + bucket(`(COALESCE(r.end_at, r.start_at, r.ingested_at) AT TIME ZONE 'UTC')`) + ` AS b, ` + dimensions[q.GroupBy] +
			` AS key, count(*), count(*) FILTER (WHERE r.gpus > 0), sum(r.node_seconds)::bigint, sum(r.gpu_seconds)::bigint,
			sum(r.charge_units)::bigint FROM usage_records r WHERE ` + strings.Join(where, " AND ") + ` GROUP BY 1, 2`
	}
	sql = `SELECT t.*, COALESCE(w.name, '') FROM (` + sql + `) t (b, key, jobs, gpu_jobs, node, gpu, price)
		LEFT JOIN wallets w ON $` + fmt.Sprint(len(args)+1) + ` = 'wallet' AND w.id::text = t.key
		ORDER BY t.b, t.node + t.gpu DESC, t.key LIMIT $` + fmt.Sprint(len(args))
	args = append(args, q.GroupBy)
	// A custom plan per call: see Overview.
	rows, err := s.pool.Query(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return nil, mapError(err, "usage")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UsageSum, error) {
		var u UsageSum
		var price int64
		err := r.Scan(&u.Bucket, &u.Key, &u.Jobs, &u.GPUJobs, &u.NodeSeconds, &u.GPUSeconds, &price, &u.Name)
		fillUsage(&u, price)
		return u, err
	})
	return out, mapError(err, "usage")
}

// RebuildRollups recomputes every rollup from the usage records (after a restore, or to check
// them): ingest and rule changes wait meanwhile.
func (s *Store) RebuildRollups(ctx context.Context) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, _, err := loadRules(ctx, tx, true); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM usage_rollups`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, rollupInsert(`(SELECT *, COALESCE(end_at, start_at, ingested_at) AS at FROM usage_records)`))
		return err
	}), "usage rollups")
}
