package persistence

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
)

// rulesLock is the advisory lock key that orders rule changes against usage being stored:
// storing records takes it shared, changing a mapping takes it exclusive. So a new mapping
// either sees a file's records (and charges those it covers) or the file's records see it.
const rulesLock = 0x6477_7275_6c65 // "dwrule"

func loadRules(ctx context.Context, tx pgx.Tx, exclusive bool) (*accounting.Resolver, *accounting.Rates, error) {
	lock := `SELECT pg_advisory_xact_lock_shared($1)`
	if exclusive {
		lock = `SELECT pg_advisory_xact_lock($1)`
	}
	if _, err := tx.Exec(ctx, lock, int64(rulesLock)); err != nil {
		return nil, nil, err
	}
	maps, err := queryMappings(ctx, tx)
	if err != nil {
		return nil, nil, err
	}
	rates, err := queryRates(ctx, tx)
	if err != nil {
		return nil, nil, err
	}
	return accounting.NewResolver(maps), accounting.NewRates(rates), nil
}

const mappingColumns = `id::text, cluster, user_name, account, group_name, COALESCE(wallet_id::text, ''), note, created_at`

func queryMappings(ctx context.Context, q querier) ([]accounting.Mapping, error) {
	rows, err := q.Query(ctx, `SELECT `+mappingColumns+` FROM group_mappings ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanMapping)
}

func scanMapping(r pgx.CollectableRow) (accounting.Mapping, error) {
	var m accounting.Mapping
	err := r.Scan(&m.ID, &m.Cluster, &m.User, &m.Account, &m.Group, &m.WalletID, &m.Note, &m.CreatedAt)
	return m, err
}

const rateColumns = `id::text, cluster, partition, node_hour_millipoints, gpu_hour_millipoints, effective_from, created_at`

func queryRates(ctx context.Context, q querier) ([]accounting.Rate, error) {
	rows, err := q.Query(ctx, `SELECT `+rateColumns+` FROM charge_rates ORDER BY cluster, partition, effective_from`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanRate)
}

func scanRate(r pgx.CollectableRow) (accounting.Rate, error) {
	var rt accounting.Rate
	err := r.Scan(&rt.ID, &rt.Cluster, &rt.Partition, &rt.NodeHourMillipoints, &rt.GPUHourMillipoints, &rt.EffectiveFrom, &rt.CreatedAt)
	return rt, err
}

// Mappings lists the group-mapping rules, oldest first.
func (s *Store) Mappings(ctx context.Context) ([]accounting.Mapping, error) {
	out, err := queryMappings(ctx, s.pool)
	return out, mapError(err, "mapping")
}

// Reassigned is accounting.Reassigned.
type Reassigned = accounting.Reassigned

// AddMapping stores a rule and applies it to the unassigned usage it covers: those jobs are
// assigned to its wallet (or marked excluded), moved out of the unassigned bucket in the
// rollups, and charged in one charge — all in the transaction that stores the rule. Usage
// already assigned keeps its wallet: a job is charged once.
// The rule is valid (accounting.MappingInput.Validate). Errors: not_found (wallet), conflict
// (same match exists).
func (s *Store) AddMapping(ctx context.Context, m accounting.Mapping, audit AuditEntry, now time.Time) (accounting.Mapping, Reassigned, error) {
	var re Reassigned
	m.ID, m.CreatedAt = newUUID(), now
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, _, err := loadRules(ctx, tx, true); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO group_mappings (id, cluster, user_name, account, group_name, wallet_id, note, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6, '')::uuid, $7, NULLIF($8, '')::uuid, $9)`,
			m.ID, m.Cluster, m.User, m.Account, m.Group, m.WalletID, m.Note, audit.ActorID, now)
		switch {
		case isUniqueViolation(err, ""):
			return dw.Coded(dw.KindConflict, "mapping_exists", "a mapping with the same cluster, user, account and group exists: remove it first")
		case isForeignKeyViolation(err):
			return dw.Coded(dw.KindNotFound, "wallet_not_found", "wallet %s not found", m.WalletID)
		case err != nil:
			return err
		}
		// Every rule is reloaded so that the jobs are given to the rule that wins for them.
		rules, _, err := loadRules(ctx, tx, true)
		if err != nil {
			return err
		}
		re, err = reassign(ctx, tx, rules, m, now)
		if err != nil {
			return err
		}
		if re.Events, err = checkQuotas(ctx, tx, re.Touched, now); err != nil {
			return err
		}
		audit.Action, audit.TargetType, audit.TargetID = "accounting.mapping.add", "mapping", m.ID
		audit.Detail, _ = json.Marshal(map[string]any{"mapping": m, "reassigned": re})
		return insertAudit(ctx, tx, audit)
	})
	if err != nil {
		return m, Reassigned{}, mapError(err, "mapping")
	}
	return m, re, nil
}

// reassign gives the unassigned jobs that rule m matches to the rule that now wins for them.
func reassign(ctx context.Context, tx pgx.Tx, rules *accounting.Resolver, m accounting.Mapping, now time.Time) (Reassigned, error) {
	var re Reassigned
	rows, err := tx.Query(ctx, `SELECT key, cluster, user_name, account, group_name FROM usage_records
		WHERE mapping_id IS NULL AND ($1 = '' OR cluster = $1) AND ($2 = '' OR user_name = $2)
			AND ($3 = '' OR account = $3) AND ($4 = '' OR group_name = $4)
		FOR UPDATE`, m.Cluster, m.User, m.Account, m.Group)
	if err != nil {
		return re, err
	}
	var ids, wallets, mappings []string
	for rows.Next() {
		var id string
		var cluster, user, account, group string
		if err := rows.Scan(&id, &cluster, &user, &account, &group); err != nil {
			rows.Close()
			return re, err
		}
		if w, ok := rules.Resolve(cluster, user, account, group); ok {
			ids, wallets, mappings = append(ids, id), append(wallets, w.WalletID), append(mappings, w.ID)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return re, err
	}
	q, err := tx.Query(ctx, `WITH upd AS (
			UPDATE usage_records r SET wallet_id = NULLIF(v.wallet, '')::uuid, mapping_id = v.mapping::uuid, charged = v.wallet <> ''
			FROM unnest($1::text[], $2::text[], $3::text[]) v (key, wallet, mapping)
			WHERE r.key = v.key
			RETURNING r.wallet_id, r.mapping_id, r.gpus, r.node_seconds, r.gpu_seconds, r.charge_units,
				COALESCE(r.end_at, r.start_at, r.ingested_at) AS at
		), moved AS (
			SELECT k.key, k.sign, b.grain, b.bucket, count(*) AS jobs, count(*) FILTER (WHERE u.gpus > 0) AS gpu_jobs,
				sum(u.node_seconds) AS node, sum(u.gpu_seconds) AS gpu, sum(u.charge_units) AS charge
			FROM upd u,
				LATERAL (VALUES ('', -1), (`+walletKeySQL("u")+`, 1)) k (key, sign),
				LATERAL (VALUES ('d'::"char", (u.at AT TIME ZONE 'UTC')::date),
					('m'::"char", date_trunc('month', u.at AT TIME ZONE 'UTC')::date),
					('y'::"char", date_trunc('year', u.at AT TIME ZONE 'UTC')::date)) b (grain, bucket)
			GROUP BY 1, 2, 3, 4
		), roll AS (
			`+rollupInto+`
			SELECT 'wallet', grain, bucket, key, sum(sign * jobs), sum(sign * gpu_jobs), sum(sign * node), sum(sign * gpu), sum(sign * charge)
			FROM moved GROUP BY grain, bucket, key ORDER BY 1, 2, 3, 4
			`+rollupAdd+`
		), charge AS (
			INSERT INTO usage_charges (wallet_id, points, records, node_seconds, gpu_seconds, origin, created_at)
			SELECT wallet_id, `+pointsSQL("sum(charge_units)")+`, count(*), sum(node_seconds), sum(gpu_seconds), $4, $5
			FROM upd WHERE wallet_id IS NOT NULL GROUP BY wallet_id
			HAVING `+pointsSQL("sum(charge_units)")+` > 0
			ORDER BY wallet_id
			RETURNING points
		)
		SELECT COALESCE(wallet_id::text, ''), count(*), min(at), max(at),
			(SELECT count(*) FROM charge), (SELECT COALESCE(sum(points), 0) FROM charge)
		FROM upd GROUP BY wallet_id`, ids, wallets, mappings, "mapping "+m.ID, now)
	if err != nil {
		return re, err
	}
	defer q.Close()
	for q.Next() {
		var w WalletSpan
		var n int64
		if err := q.Scan(&w.WalletID, &n, &w.From, &w.To, &re.Charges, &re.Points); err != nil {
			return re, err
		}
		re.Records += n
		if w.WalletID != "" {
			re.Touched = append(re.Touched, w)
		}
	}
	return re, q.Err()
}

// RemoveMapping deletes a rule. Usage already charged through it stays charged; later usage
// is resolved without it. Errors: not_found.
func (s *Store) RemoveMapping(ctx context.Context, id string, audit AuditEntry) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, _, err := loadRules(ctx, tx, true); err != nil {
			return err
		}
		var m accounting.Mapping
		err := tx.QueryRow(ctx, `DELETE FROM group_mappings WHERE id = $1 RETURNING `+mappingColumns, id).
			Scan(&m.ID, &m.Cluster, &m.User, &m.Account, &m.Group, &m.WalletID, &m.Note, &m.CreatedAt)
		if err != nil {
			return err
		}
		audit.Action, audit.TargetType, audit.TargetID = "accounting.mapping.remove", "mapping", id
		audit.Detail, _ = json.Marshal(m)
		return insertAudit(ctx, tx, audit)
	}), "mapping "+id)
}

// Rates lists the charge rates by cluster, partition and date.
func (s *Store) Rates(ctx context.Context) ([]accounting.Rate, error) {
	out, err := queryRates(ctx, s.pool)
	return out, mapError(err, "rate")
}

// AddRate stores a rate. It prices the jobs stored from now on whose end falls in its
// effective period; jobs already stored keep their price (a job is charged once).
// Errors: conflict (a rate for the same cluster, partition and date exists).
func (s *Store) AddRate(ctx context.Context, r accounting.Rate, audit AuditEntry, now time.Time) (accounting.Rate, error) {
	r.ID, r.CreatedAt = newUUID(), now
	r.EffectiveFrom = r.EffectiveFrom.UTC()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, _, err := loadRules(ctx, tx, true); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO charge_rates (id, cluster, partition, node_hour_millipoints, gpu_hour_millipoints, effective_from, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, '')::uuid, $8)`,
			r.ID, r.Cluster, r.Partition, r.NodeHourMillipoints, r.GPUHourMillipoints, r.EffectiveFrom, audit.ActorID, now)
		if isUniqueViolation(err, "") {
			return dw.Coded(dw.KindConflict, "rate_exists", "a rate for cluster %q, partition %q from %s exists: remove it first",
				r.Cluster, r.Partition, r.EffectiveFrom.Format(time.RFC3339))
		}
		if err != nil {
			return err
		}
		audit.Action, audit.TargetType, audit.TargetID = "accounting.rate.add", "rate", r.ID
		audit.Detail, _ = json.Marshal(r)
		return insertAudit(ctx, tx, audit)
	})
	return r, mapError(err, "rate")
}

// RemoveRate deletes a rate. Errors: not_found.
func (s *Store) RemoveRate(ctx context.Context, id string, audit AuditEntry) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, _, err := loadRules(ctx, tx, true); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM charge_rates WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		audit.Action, audit.TargetType, audit.TargetID = "accounting.rate.remove", "rate", id
		return insertAudit(ctx, tx, audit)
	}), "rate "+id)
}

// Charge statuses.
const (
	ChargePending = accounting.ChargePending
	ChargeCharged = accounting.ChargeCharged
	ChargeUnpaid  = accounting.ChargeUnpaid
)

// Charge is accounting.Charge.
type Charge = accounting.Charge

const chargeColumns = `id, wallet_id::text, points, records, node_seconds, gpu_seconds, COALESCE(node_milli_hours, 0),
	COALESCE(gpu_milli_hours, 0), origin, status, charged_points,
	COALESCE(transaction_id::text, ''), created_at, settled_at, COALESCE(correction_key, '')`

func scanCharge(r pgx.Row) (Charge, error) {
	var c Charge
	var nodeMilli, gpuMilli int64
	err := r.Scan(&c.ID, &c.WalletID, &c.Points, &c.Records, &c.NodeSeconds, &c.GPUSeconds, &nodeMilli, &gpuMilli, &c.Origin,
		&c.Status, &c.ChargedPoints, &c.TransactionID, &c.CreatedAt, &c.SettledAt, &c.CorrectionKey)
	c.NodeHours, c.GPUCoreHours = hours(c.NodeSeconds, nodeMilli), hours(c.GPUSeconds, gpuMilli)
	return c, err
}

// PendingCharges returns up to limit charges not yet posted, oldest first.
func (s *Store) PendingCharges(ctx context.Context, limit int) ([]Charge, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+chargeColumns+` FROM usage_charges WHERE status = 'pending' ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, mapError(err, "charge")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Charge, error) { return scanCharge(r) })
	return out, mapError(err, "charge")
}

// SettleCharge records that a charge was posted: charged points (all of them, or what the
// wallet could pay; for a refund, a charge of negative points, the points credited) by ledger
// entry txID. Settling twice (two nodes posted the same charge;
// the wallet answered both with the same entry) changes nothing.
// It reports whether this call settled it.
func (s *Store) SettleCharge(ctx context.Context, id, charged int64, txID string, now time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE usage_charges SET status = CASE WHEN $2 >= abs(points) THEN 'charged' ELSE 'unpaid' END,
			charged_points = LEAST($2, abs(points)), transaction_id = NULLIF($3, '')::uuid, settled_at = $4
		WHERE id = $1 AND status = 'pending'`, id, charged, txID, now)
	return tag.RowsAffected() == 1, mapError(err, "charge")
}

// UsagePaid is what a wallet has paid for usage, net: the points its posted usage charges
// moved, less the refunds (charges of negative points) credited. A refund credits at most this,
// so that usage a wallet never paid is never credited back.
func (s *Store) UsagePaid(ctx context.Context, walletID string) (int64, error) {
	var paid int64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(sum(CASE WHEN points > 0 THEN charged_points ELSE -charged_points END), 0)::bigint
		FROM usage_charges WHERE wallet_id = $1 AND status <> 'pending'`, walletID).Scan(&paid)
	return paid, mapError(err, "charge")
}

// ChargeFilter is accounting.ChargeFilter.
type ChargeFilter = accounting.ChargeFilter

// Charges lists the first page of charges, newest first (ListCharges; Limit 0: 100).
func (s *Store) Charges(ctx context.Context, f ChargeFilter) ([]Charge, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	out, _, err := s.ListCharges(ctx, f)
	return out, err
}

// hours is exact seconds as hours rounded once to three decimals, or, where the seconds are
// unknown (a charge made before migration 010), the milli-hours kept instead.
func hours(seconds *int64, milli int64) float64 {
	if seconds != nil {
		return accounting.HoursNumber(*seconds)
	}
	return float64(milli) / 1000
}

// pointsSQL rounds a sum of prices (price units, numeric) to whole points, half up, as
// accounting.Points does: once per charge.
func pointsSQL(units string) string {
	const per = accounting.PriceUnitsPerPoint
	return fmt.Sprintf(`floor((%s + %d) / %d)::bigint`, units, per/2, per)
}
