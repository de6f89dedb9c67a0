package persistence

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
)

// Quota is accounting.Quota.
type Quota = accounting.Quota

// QuotaStatus is accounting.QuotaStatus.
type QuotaStatus = accounting.QuotaStatus

const quotaColumns = `id::text, wallet_id::text, period, COALESCE(node_milli_hours, 0), COALESCE(gpu_milli_hours, 0), created_at, updated_at`

func scanQuota(r pgx.Row) (Quota, error) {
	var q Quota
	err := r.Scan(&q.ID, &q.WalletID, &q.Period, &q.NodeMilliHours, &q.GPUMilliHours, &q.CreatedAt, &q.UpdatedAt)
	return q, err
}

// SetQuota creates or replaces the quota of a wallet for a period; thresholds the usage of the
// current period already reached are recorded at once.
// The quota is valid (accounting.QuotaInput.Validate). Errors: not_found (wallet).
func (s *Store) SetQuota(ctx context.Context, q Quota, audit AuditEntry, now time.Time) (Quota, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		row := tx.QueryRow(ctx, `INSERT INTO quotas (id, wallet_id, period, node_milli_hours, gpu_milli_hours, created_by, created_at, updated_at)
			VALUES ($1, $2, $3, NULLIF($4::bigint, 0), NULLIF($5::bigint, 0), NULLIF($6, '')::uuid, $7, $7)
			ON CONFLICT (wallet_id, period) DO UPDATE SET node_milli_hours = EXCLUDED.node_milli_hours,
				gpu_milli_hours = EXCLUDED.gpu_milli_hours, updated_at = EXCLUDED.updated_at
			RETURNING `+quotaColumns, newUUID(), q.WalletID, q.Period, q.NodeMilliHours, q.GPUMilliHours, audit.ActorID, now)
		var err error
		q, err = scanQuota(row)
		if isForeignKeyViolation(err) {
			return dw.Coded(dw.KindNotFound, "wallet_not_found", "wallet %s not found", q.WalletID)
		}
		if err != nil {
			return err
		}
		audit.Action, audit.TargetType, audit.TargetID = "accounting.quota.set", "wallet", q.WalletID
		audit.Detail, _ = json.Marshal(map[string]any{"quota_id": q.ID, "period": q.Period,
			"node_hours": accounting.FormatMilli(q.NodeMilliHours), "gpu_core_hours": accounting.FormatMilli(q.GPUMilliHours)})
		if err := insertAudit(ctx, tx, audit); err != nil {
			return err
		}
		// A changed limit is crossed anew: forget the current period's crossings of the old one.
		// Usage already stored in the current period counts: a quota set below it is crossed now.
		start, _ := accounting.PeriodBounds(q.Period, now)
		if _, err := tx.Exec(ctx, `DELETE FROM quota_events WHERE quota_id = $1 AND period_start >= $2`, q.ID, start); err != nil {
			return err
		}
		_, err = checkQuotas(ctx, tx, []WalletSpan{{WalletID: q.WalletID, From: now, To: now}}, now)
		return err
	})
	return q, mapError(err, "quota")
}

// RemoveQuota deletes a quota (and its recorded threshold events). Errors: not_found.
func (s *Store) RemoveQuota(ctx context.Context, id string, audit AuditEntry) error {
	return mapError(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q, err := scanQuota(tx.QueryRow(ctx, `DELETE FROM quotas WHERE id = $1 RETURNING `+quotaColumns, id))
		if err != nil {
			return err
		}
		audit.Action, audit.TargetType, audit.TargetID = "accounting.quota.remove", "wallet", q.WalletID
		audit.Detail, _ = json.Marshal(map[string]any{"quota_id": q.ID, "period": q.Period})
		return insertAudit(ctx, tx, audit)
	}), "quota "+id)
}

// Quotas lists quotas (of one wallet when walletID is not "") with the usage of the period
// that holds now: the first page of ListQuotas (1000 quotas).
func (s *Store) Quotas(ctx context.Context, walletID string, now time.Time) ([]QuotaStatus, error) {
	out, _, err := s.ListQuotas(ctx, walletID, accounting.PageRequest{Limit: accounting.PageQuotas.Max}, now)
	return out, err
}

// quotaStatus sums the wallet's usage in the period of q that holds at, from the month rollups
// (periods are whole UTC months).
func quotaStatus(ctx context.Context, q querier, quota Quota, at time.Time) (QuotaStatus, error) {
	st := QuotaStatus{Quota: quota}
	start, end := accounting.PeriodBounds(quota.Period, at)
	st.PeriodStart = start
	if !end.IsZero() {
		st.PeriodEnd = &end
	} else {
		end = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	err := q.QueryRow(ctx, `SELECT COALESCE(sum(node_seconds), 0)::bigint, COALESCE(sum(gpu_seconds), 0)::bigint
		FROM usage_rollups WHERE dim = 'wallet' AND grain = 'm' AND key = $1 AND bucket >= $2 AND bucket < $3`,
		quota.WalletID, start, end).Scan(&st.UsedNodeSeconds, &st.UsedGPUSeconds)
	return st, err
}

// QuotaEvent is accounting.QuotaEvent.
type QuotaEvent = accounting.QuotaEvent

// checkQuotas records, in the transaction that stored new usage, every threshold the touched
// wallets crossed in the periods their new jobs fall in, once per quota, period and metric,
// with an audit row each. It returns the events recorded now (for the event stream).
func checkQuotas(ctx context.Context, tx pgx.Tx, touched []WalletSpan, now time.Time) ([]QuotaEvent, error) {
	if len(touched) == 0 {
		return nil, nil
	}
	ids := make([]string, len(touched))
	for i, t := range touched {
		ids[i] = t.WalletID
	}
	rows, err := tx.Query(ctx, `SELECT `+quotaColumns+` FROM quotas WHERE wallet_id = ANY($1::uuid[]) ORDER BY wallet_id, period`, ids)
	if err != nil {
		return nil, err
	}
	quotas, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Quota, error) { return scanQuota(r) })
	if err != nil || len(quotas) == 0 {
		return nil, err
	}
	span := make(map[string]WalletSpan, len(touched))
	for _, t := range touched {
		span[t.WalletID] = t
	}
	var events []QuotaEvent
	for _, q := range quotas {
		sp := span[q.WalletID]
		// Every period instance between the earliest and the latest new job.
		for at := sp.From; ; {
			st, err := quotaStatus(ctx, tx, q, at)
			if err != nil {
				return nil, err
			}
			for _, m := range []struct {
				metric      string
				used, limit int64 // seconds, milli-hours
			}{{"node_hours", st.UsedNodeSeconds, q.NodeMilliHours}, {"gpu_core_hours", st.UsedGPUSeconds, q.GPUMilliHours}} {
				for _, th := range accounting.Reached(m.used, m.limit) {
					tag, err := tx.Exec(ctx, `INSERT INTO quota_events (quota_id, period_start, metric, threshold, used, used_seconds, quota, created_at)
						VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
						q.ID, st.PeriodStart, m.metric, th, accounting.MilliHours(m.used), m.used, m.limit, now)
					if err != nil {
						return nil, err
					}
					if tag.RowsAffected() == 0 {
						continue
					}
					used := m.used
					ev := QuotaEvent{QuotaID: q.ID, WalletID: q.WalletID, Period: q.Period, PeriodStart: st.PeriodStart, Metric: m.metric,
						Threshold: th, Used: accounting.HoursNumber(m.used), UsedSeconds: &used, Quota: float64(m.limit) / 1000, CreatedAt: now}
					detail, _ := json.Marshal(ev)
					if err := insertAudit(ctx, tx, AuditEntry{Action: "accounting.quota.threshold", TargetType: "wallet",
						TargetID: q.WalletID, Detail: detail}); err != nil {
						return nil, err
					}
					events = append(events, ev)
				}
			}
			_, end := accounting.PeriodBounds(q.Period, at)
			if end.IsZero() || !end.Before(sp.To) && !end.Equal(sp.To) {
				break
			}
			at = end
		}
	}
	return events, nil
}

// ClaimQuotaEvents marks up to limit unpublished threshold events as published and returns them,
// oldest first, for the caller to publish. Two nodes never claim the same event.
func (s *Store) ClaimQuotaEvents(ctx context.Context, limit int) ([]QuotaEvent, error) {
	rows, err := s.pool.Query(ctx, `WITH c AS (
			UPDATE quota_events e SET published = true
			WHERE (e.quota_id, e.period_start, e.metric, e.threshold) IN (
				SELECT quota_id, period_start, metric, threshold FROM quota_events WHERE NOT published
				ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED)
			RETURNING e.*)
		SELECT c.quota_id::text, q.wallet_id::text, q.period, c.period_start, c.metric, c.threshold, c.used, c.used_seconds, c.quota, c.created_at
		FROM c JOIN quotas q ON q.id = c.quota_id ORDER BY c.created_at, c.threshold`, limit)
	if err != nil {
		return nil, mapError(err, "quota event")
	}
	out, err := pgx.CollectRows(rows, scanQuotaEvent)
	return out, mapError(err, "quota event")
}

func scanQuotaEvent(r pgx.CollectableRow) (QuotaEvent, error) {
	var e QuotaEvent
	var used, quota int64
	err := r.Scan(&e.QuotaID, &e.WalletID, &e.Period, &e.PeriodStart, &e.Metric, &e.Threshold, &used, &e.UsedSeconds, &quota, &e.CreatedAt)
	e.Used, e.Quota = hours(e.UsedSeconds, used), float64(quota)/1000
	return e, err
}

// QuotaEvents lists the recorded threshold crossings, newest first (the first page of
// ListQuotaEvents; limit 0: 100).
func (s *Store) QuotaEvents(ctx context.Context, walletID string, limit int) ([]QuotaEvent, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	out, _, err := s.ListQuotaEvents(ctx, walletID, accounting.PageRequest{Limit: limit})
	return out, err
}

// ClusterUser is accounting.ClusterUser.
type ClusterUser = accounting.ClusterUser

// ClusterUsers lists cluster users (of one cluster, and whose login starts with prefix): the
// first page of ListClusterUsers (limit 0: 500).
func (s *Store) ClusterUsers(ctx context.Context, cluster, prefix string, limit int) ([]ClusterUser, error) {
	if limit <= 0 || limit > 10000 {
		limit = 500
	}
	out, _, err := s.ListClusterUsers(ctx, cluster, prefix, accounting.PageRequest{Limit: limit})
	return out, err
}

// LinkedLogins lists the cluster logins linked to a platform user.
func (s *Store) LinkedLogins(ctx context.Context, userID string) ([]ClusterUser, error) {
	rows, err := s.pool.Query(ctx, `SELECT cluster, login, user_id::text, first_seen FROM cluster_users
		WHERE user_id = $1 ORDER BY cluster, login LIMIT 1000`, userID)
	if err != nil {
		return nil, mapError(err, "cluster user")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ClusterUser, error) {
		var c ClusterUser
		err := r.Scan(&c.Cluster, &c.Login, &c.UserID, &c.FirstSeen)
		return c, err
	})
	return out, mapError(err, "cluster user")
}

// LinkClusterUser links a cluster login to a platform user ("" unlinks).
// Errors: not_found (login or user).
func (s *Store) LinkClusterUser(ctx context.Context, cluster, login, userID string, audit AuditEntry) (ClusterUser, error) {
	var c ClusterUser
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE cluster_users SET user_id = NULLIF($3, '')::uuid WHERE cluster = $1 AND login = $2
			RETURNING cluster, login, COALESCE(user_id::text, ''), first_seen`, cluster, login, userID).
			Scan(&c.Cluster, &c.Login, &c.UserID, &c.FirstSeen)
		if isForeignKeyViolation(err) {
			return dw.Coded(dw.KindNotFound, "user_not_found", "user %s not found", userID)
		}
		if err != nil {
			return err
		}
		audit.Action, audit.TargetType, audit.TargetID = "accounting.cluster_user.link", "cluster_user", cluster+"/"+login
		audit.Detail, _ = json.Marshal(map[string]string{"user_id": userID})
		return insertAudit(ctx, tx, audit)
	})
	return c, mapError(err, "cluster user "+cluster+"/"+login)
}
