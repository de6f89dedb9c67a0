package persistence

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/internal/pgtest"
)

// TestSameKeyConcurrentStores: eight files, each holding a version of the same 40 jobs (version
// v ends v hours later, on v+1 nodes; each file's records in its own order, and each file with
// a second version of equal times and other content), stored at once. Whatever order the
// transactions commit in, every job ends as the version the rule picks (the latest End, then
// the content hash); the rollups equal the sums over the records; and the charges, corrections
// included, sum to the stored records' price exactly.
func TestSameKeyConcurrentStores(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, pgtest.NewDB(t), 10)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	_, source := chargedSource(t, s, now, 1000)
	const writers, jobs = 8, 40
	start := now.Add(-100 * time.Hour)
	version := func(job, v, nodes int) accounting.Record {
		hours := time.Duration(v+1) * time.Hour
		return accounting.Record{Cluster: "c", JobID: fmt.Sprint(job), Account: "a", User: fmt.Sprintf("u%d", v%3), State: "COMPLETED",
			Nodes: nodes, Submit: start, Start: start, End: start.Add(hours), Elapsed: hours}
	}
	files := make([][]accounting.Record, writers)
	var all []accounting.Record
	for w := range files {
		for j := range jobs {
			files[w] = append(files[w], version(j, w, w+1), version(j, w, w+20))
		}
		rand.New(rand.NewPCG(uint64(w), 7)).Shuffle(len(files[w]), func(a, b int) { files[w][a], files[w][b] = files[w][b], files[w][a] })
		all = append(all, files[w]...)
	}
	want := map[string]int{} // job → nodes, by the rule over every version
	for _, r := range accounting.Dedupe(all) {
		want[r.JobID] = r.Nodes
	}
	var wg sync.WaitGroup
	for w, recs := range files {
		wg.Go(func() {
			for attempt := 0; ; attempt++ {
				_, err := s.SaveFile(ctx, FileResult{File: ProcessedFile{SourceID: source, Path: fmt.Sprintf("f%d", w), Status: "done"},
					Records: append([]accounting.Record(nil), recs...)}, now)
				if err == nil {
					return
				}
				if attempt == 5 || !IsRetryable(err) {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	rows, err := s.pool.Query(ctx, `SELECT job_id, nodes FROM usage_records`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		got[id] = n
	}
	rows.Close()
	if len(got) != jobs {
		t.Fatalf("%d jobs stored, want %d", len(got), jobs)
	}
	for id, n := range want {
		if got[id] != n {
			t.Errorf("job %s: %d nodes stored, want %d", id, got[id], n)
		}
	}
	var diff int
	if err := s.pool.QueryRow(ctx, `WITH want AS (
			SELECT d.dim, b.grain, b.bucket, d.key, count(*) AS jobs, count(*) FILTER (WHERE s.gpus > 0) AS gpu_jobs,
				sum(s.node_seconds) AS node_seconds, sum(s.gpu_seconds) AS gpu_seconds, sum(s.charge_units) AS charge_units
			FROM (SELECT *, COALESCE(end_at, start_at, ingested_at) AS at FROM usage_records) s,
				LATERAL (VALUES ('all', ''), ('wallet', `+walletKeySQL("s")+`), ('user', s.user_name), ('group', s.group_name),
					('account', s.account), ('partition', s.partition), ('cluster', s.cluster)) d (dim, key),
				LATERAL (VALUES ('d'::"char", (s.at AT TIME ZONE 'UTC')::date),
					('m'::"char", date_trunc('month', s.at AT TIME ZONE 'UTC')::date),
					('y'::"char", date_trunc('year', s.at AT TIME ZONE 'UTC')::date)) b (grain, bucket)
			GROUP BY 1, 2, 3, 4
		), got AS (
			SELECT dim, grain, bucket, key, jobs, gpu_jobs, node_seconds, gpu_seconds, charge_units FROM usage_rollups
			WHERE jobs <> 0 OR node_seconds <> 0 OR gpu_seconds <> 0 OR charge_units <> 0
		)
		SELECT (SELECT count(*) FROM (SELECT * FROM want EXCEPT SELECT * FROM got) a) +
			(SELECT count(*) FROM (SELECT * FROM got EXCEPT SELECT * FROM want) b)`).Scan(&diff); err != nil {
		t.Fatal(err)
	}
	if diff != 0 {
		t.Errorf("%d rollup rows differ from the sums over the records", diff)
	}
	var points, units int64
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT sum(points) FROM usage_charges)::bigint, (SELECT sum(charge_units) FROM usage_records)::bigint`).
		Scan(&points, &units); err != nil {
		t.Fatal(err)
	}
	if units%accounting.PriceUnitsPerPoint != 0 || points != units/accounting.PriceUnitsPerPoint {
		t.Errorf("charges sum to %d points; the stored records are priced %d units (%d points)", points, units, units/accounting.PriceUnitsPerPoint)
	}
}

// TestMigrationSameKey: migration 12 keeps existing records (with an empty content hash, which
// every hash beats) and charges, and lets a charge be negative (a refund) but never zero, with
// charged_points at most its size either way.
func TestMigrationSameKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	conn, _, migrate := migratedDB(t, 11)
	const wallet = "00000000-0000-0000-0000-0000000000aa"
	if _, err := conn.Exec(ctx, `INSERT INTO wallets (id, kind, name) VALUES ($1, 'shared', 'w')`, wallet); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO usage_records (key, cluster, job_id, nodes, elapsed_ms, node_seconds) VALUES ('c|1|x', 'c', '1', 2, 3600000, 7200)`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO usage_charges (wallet_id, points, records, status, charged_points) VALUES ($1, 5, 1, 'unpaid', 3)`, wallet); err != nil {
		t.Fatal(err)
	}
	migrate(12)
	var hash []byte
	var seconds int64
	if err := conn.QueryRow(ctx, `SELECT content_hash, node_seconds FROM usage_records WHERE key = 'c|1|x'`).Scan(&hash, &seconds); err != nil {
		t.Fatal(err)
	}
	if len(hash) != 0 || seconds != 7200 {
		t.Errorf("record after migration: hash %x, %d node-seconds", hash, seconds)
	}
	for _, tc := range []struct {
		points, charged int64
		ok              bool
	}{
		{-4, 0, true}, {-4, 4, true}, {-4, 5, false}, {0, 0, false}, {4, 4, true}, {4, 5, false}, {4, -1, false},
	} {
		_, err := conn.Exec(ctx, `INSERT INTO usage_charges (wallet_id, points, records, charged_points) VALUES ($1, $2, 1, $3)`, wallet, tc.points, tc.charged)
		if (err == nil) != tc.ok {
			t.Errorf("charge of %d points, %d charged: err %v, want ok %v", tc.points, tc.charged, err, tc.ok)
		}
	}
}

// chargedSource gives s a shared wallet, a source of cluster c, a rate on c of millipoints per
// node-hour from a year before now, and a mapping of account a to the wallet.
func chargedSource(t *testing.T, s *Store, now time.Time, millipoints int64) (wallet, source string) {
	t.Helper()
	ctx := t.Context()
	wallet, source = "00000000-0000-0000-0000-0000000000aa", "00000000-0000-0000-0000-0000000000bb"
	if _, err := s.pool.Exec(ctx, `INSERT INTO wallets (id, kind, name) VALUES ($1, 'shared', 'w')`, wallet); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO ingest_sources (id, name, dir, format, cluster) VALUES ($1, 's', '/tmp', 'slurm-sacct', 'c')`, source); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRate(ctx, accounting.Rate{Cluster: "c", NodeHourMillipoints: millipoints, EffectiveFrom: now.AddDate(-1, 0, 0)}, AuditEntry{}, now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddMapping(ctx, accounting.Mapping{Account: "a", WalletID: wallet}, AuditEntry{}, now); err != nil {
		t.Fatal(err)
	}
	return wallet, source
}
