package persistence

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/internal/realacct"
)

// rollupInsertBefore10 is how rollups were summed from records before migration 10 (in
// milli-hours and micropoints), for tests that store data the old way.
const rollupInsertBefore10 = `INSERT INTO usage_rollups (dim, grain, bucket, key, jobs, gpu_jobs, node_milli_hours, gpu_milli_hours, charge_micropoints)
SELECT d.dim, b.grain, b.bucket, d.key, count(*), count(*) FILTER (WHERE s.gpus > 0), sum(s.node_milli_hours),
    sum(s.gpu_milli_hours), sum(s.charge_micropoints)
FROM (SELECT *, COALESCE(end_at, start_at, ingested_at) AS at FROM usage_records) s,
    LATERAL (VALUES ('all', ''),
        ('wallet', CASE WHEN s.wallet_id IS NOT NULL THEN s.wallet_id::text WHEN s.mapping_id IS NOT NULL THEN 'excluded' ELSE '' END),
        ('user', s.user_name), ('group', s.group_name), ('account', s.account), ('partition', s.partition),
        ('cluster', s.cluster)) d (dim, key),
    LATERAL (VALUES ('d'::"char", (s.at AT TIME ZONE 'UTC')::date),
        ('m'::"char", date_trunc('month', s.at AT TIME ZONE 'UTC')::date),
        ('y'::"char", date_trunc('year', s.at AT TIME ZONE 'UTC')::date)) b (grain, bucket)
GROUP BY 1, 2, 3, 4`

// migratedDB creates an empty database migrated to version, for a migration test.
func migratedDB(t *testing.T, version int32) (*pgx.Conn, string, func(int32)) {
	t.Helper()
	ctx := t.Context()
	name := fmt.Sprintf("t_migrate_%d", time.Now().UnixNano())
	admin, err := pgx.Connect(ctx, pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a, err := pgx.Connect(context.Background(), pgtest.ServerURL())
		if err == nil {
			_, _ = a.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			_ = a.Close(context.Background())
		}
	})
	u, err := url.Parse(pgtest.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	m, err := migrator(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	migrate := func(v int32) {
		t.Helper()
		if err := m.MigrateTo(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	migrate(version)
	return conn, u.String(), migrate
}

// TestMigrationExactUsage stores usage as it was stored before migration 10 (each job in
// milli-hours rounded half up, prices in micropoints), migrates, and checks the exact values
// computed from what the records kept: nodes, GPUs and elapsed time.
func TestMigrationExactUsage(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	conn, dbURL, migrate := migratedDB(t, 9)
	const wallet = "00000000-0000-0000-0000-0000000000aa"
	if _, err := conn.Exec(ctx, `INSERT INTO wallets (id, kind, name) VALUES ($1, 'shared', 'w')`, wallet); err != nil {
		t.Fatal(err)
	}
	end := time.Date(2024, 3, 1, 2, 0, 0, 0, time.UTC)
	type old struct {
		key                            string
		nodes, gpus                    int
		elapsedMS, nodeMilli, gpuMilli int64
		micro                          int64 // milli-hours × millipoints (2000 per node-hour, 5000 per GPU-hour)
		wallet                         any
		end                            any
		wantNode, wantGPU, wantUnits   int64
	}
	rows := []old{
		// A one-second job of one node: 0 milli-hours, priced 0; 1 node-second now, and its
		// price stays 0 (its rate cannot be read back from a price of 0).
		{"c|1|s", 1, 0, 1000, 0, 0, 0, wallet, end, 1, 0, 0},
		// 3 nodes × 9350 s = 28,050 node-seconds = 7.791666… h, stored as 7792 milli-hours.
		{"c|2|s", 3, 0, 9_350_000, 7792, 0, 7792 * 2000, wallet, end, 28_050, 0, 28_050 * 2000},
		// 2 GPUs × 1801 s = 3602 GPU-seconds = 1.000555… h, stored as 1001 milli-hours.
		{"c|3|s", 1, 2, 1_801_000, 0, 1001, 1001 * 5000, nil, end, 0, 3602, 3602 * 5000},
		// No elapsed time (End unknown): nothing.
		{"c|4|s", 2, 0, 0, 0, 0, 0, nil, nil, 0, 0, 0},
	}
	for _, r := range rows {
		if _, err := conn.Exec(ctx, `INSERT INTO usage_records (key, cluster, job_id, nodes, gpus, elapsed_ms, end_at,
				node_milli_hours, gpu_milli_hours, charge_micropoints, wallet_id, charged)
			VALUES ($1, 'c', $1, $2, $3, $4, $5, $6, $7, $8, $9::uuid, $9::uuid IS NOT NULL)`,
			r.key, r.nodes, r.gpus, r.elapsedMS, r.end, r.nodeMilli, r.gpuMilli, r.micro, r.wallet); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, rollupInsertBefore10); err != nil {
		t.Fatal(err)
	}
	// A charge and a quota crossing recorded before: their milli-hours are all they kept.
	if _, err := conn.Exec(ctx, `INSERT INTO usage_charges (wallet_id, points, records, node_milli_hours, gpu_milli_hours, origin)
		VALUES ($1, 16, 2, 7792, 0, 'file old')`, wallet); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO quotas (id, wallet_id, period, node_milli_hours) VALUES ($1, $2, 'total', 9000)`, wallet, wallet); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO quota_events (quota_id, period_start, metric, threshold, used, quota)
		VALUES ($1, '0001-01-01', 'node_hours', 80, 7792, 9000)`, wallet); err != nil {
		t.Fatal(err)
	}

	migrate(10)

	for _, r := range rows {
		var node, gpu, units int64
		if err := conn.QueryRow(ctx, `SELECT node_seconds, gpu_seconds, charge_units FROM usage_records WHERE key = $1`, r.key).
			Scan(&node, &gpu, &units); err != nil {
			t.Fatal(err)
		}
		if node != r.wantNode || gpu != r.wantGPU || units != r.wantUnits {
			t.Errorf("record %s: %d node-seconds, %d GPU-seconds, %d price units; want %d, %d, %d",
				r.key, node, gpu, units, r.wantNode, r.wantGPU, r.wantUnits)
		}
	}
	var oldColumns int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_name IN ('usage_records', 'usage_rollups') AND column_name IN ('node_milli_hours', 'gpu_milli_hours', 'charge_micropoints')`).
		Scan(&oldColumns); err != nil || oldColumns != 0 {
		t.Errorf("%d milli-hour or micropoint columns left on records and rollups (%v)", oldColumns, err)
	}
	// Every grain of every dimension sums the exact seconds again.
	for _, tc := range []struct {
		dim, key        string
		jobs, node, gpu int64
		units           int64
	}{
		{"all", "", 4, 28_051, 3602, 28_050*2000 + 3602*5000},
		{"wallet", wallet, 2, 28_051, 0, 28_050 * 2000},
		{"wallet", "", 2, 0, 3602, 3602 * 5000},
		{"cluster", "c", 4, 28_051, 3602, 28_050*2000 + 3602*5000},
	} {
		for _, grain := range []string{"d", "m", "y"} {
			var jobs, node, gpu, units int64
			if err := conn.QueryRow(ctx, `SELECT sum(jobs)::bigint, sum(node_seconds)::bigint, sum(gpu_seconds)::bigint, sum(charge_units)::bigint
				FROM usage_rollups WHERE dim = $1 AND key = $2 AND grain = $3`, tc.dim, tc.key, grain).Scan(&jobs, &node, &gpu, &units); err != nil {
				t.Fatal(err)
			}
			if jobs != tc.jobs || node != tc.node || gpu != tc.gpu || units != tc.units {
				t.Errorf("rollup %s %q grain %s: %d jobs, %d node-s, %d GPU-s, %d units; want %d, %d, %d, %d",
					tc.dim, tc.key, grain, jobs, node, gpu, units, tc.jobs, tc.node, tc.gpu, tc.units)
			}
		}
	}

	// The store reads with the latest schema: the later migrations keep what this one did.
	if err := Migrate(ctx, dbURL); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dbURL, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	charges, err := s.Charges(ctx, ChargeFilter{})
	if err != nil || len(charges) != 1 || charges[0].NodeSeconds != nil || charges[0].NodeHours != 7.792 || charges[0].Points != 16 {
		t.Errorf("old charge: %+v (%v); want no seconds, 7.792 node-hours, 16 points", charges, err)
	}
	evs, err := s.QuotaEvents(ctx, "", 10)
	if err != nil || len(evs) != 1 || evs[0].UsedSeconds != nil || evs[0].Used != 7.792 || evs[0].Quota != 9 {
		t.Errorf("old quota event: %+v (%v); want no seconds, used 7.792 of 9", evs, err)
	}
	// The quota is compared in exact seconds now: 28,051 node-seconds is 7.7919 h of 9 h.
	qs, err := s.Quotas(ctx, wallet, time.Now())
	if err != nil || len(qs) != 1 || qs[0].UsedNodeSeconds != 28_051 || qs[0].NodeMilliHours != 9000 {
		t.Errorf("quota: %+v (%v); want 28,051 node-seconds used of 9000 milli-hours", qs, err)
	}
}

// TestExactUsageOneSecondJobs stores 900 one-second jobs of one node, which usage rounded per
// job counted as nothing: they are 900 node-seconds (0.25 node-hours), reach a quota of
// 0.25 node-hours exactly, and at 2 points per node-hour are charged half a point, rounded
// once, half up: 1 point. One job alone shows 0.000 node-hours and is charged 0 points.
func TestExactUsageOneSecondJobs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, pgtest.NewDB(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	wallet, source := chargedSource(t, s, now, 2000)
	if _, err := s.SetQuota(ctx, Quota{WalletID: wallet, Period: accounting.PeriodMonth, NodeMilliHours: 250}, AuditEntry{}, now); err != nil {
		t.Fatal(err)
	}
	jobs := func(from, n int) []accounting.Record {
		recs := make([]accounting.Record, n)
		for i := range recs {
			end := now.Add(-time.Duration(from+i) * time.Minute)
			recs[i] = accounting.Record{Cluster: "c", JobID: fmt.Sprint(from + i), Account: "a", State: "COMPLETED", Nodes: 1,
				Submit: end.Add(-time.Second), Start: end.Add(-time.Second), End: end, Elapsed: time.Second}
		}
		return recs
	}
	save := func(path string, recs []accounting.Record) Saved {
		t.Helper()
		saved, err := s.SaveFile(ctx, FileResult{File: ProcessedFile{SourceID: source, Path: path, Status: "done", Records: len(recs)},
			Records: recs}, now)
		if err != nil {
			t.Fatal(err)
		}
		return saved
	}

	// One job alone.
	if saved := save("one", jobs(0, 1)); saved.Added != 1 || saved.Charges != 0 || len(saved.Events) != 0 {
		t.Fatalf("one job: %+v; want it added, no charge (2000 units round to 0 points), no quota event", saved)
	}
	ov, err := s.Overview(ctx, now.AddDate(0, -1, 0), now.AddDate(0, 0, 1), 5)
	if err != nil || ov.TotalNodeSecs != 1 || ov.TotalNodeHours != 0 || accounting.FormatHours(ov.TotalNodeSecs) != "0.000" {
		t.Fatalf("overview of one job: %d node-seconds, %v node-hours (%v); want 1, 0", ov.TotalNodeSecs, ov.TotalNodeHours, err)
	}

	// 899 more in another file: 2000 × 899 units = 0.4994 points, rounded once: 0.
	// Then the 900 of a third file together: 900 × 2000 = exactly half a point: 1.
	if saved := save("more", jobs(1, 899)); saved.Added != 899 || saved.Charges != 0 {
		t.Fatalf("899 jobs: %+v; want them added and no charge (0.4994 points round to 0)", saved)
	}
	saved := save("third", jobs(900, 900))
	if saved.Added != 900 || saved.Charges != 1 {
		t.Fatalf("900 jobs: %+v; want one charge", saved)
	}
	charges, err := s.Charges(ctx, ChargeFilter{WalletID: wallet})
	if err != nil || len(charges) != 1 || charges[0].Points != 1 || charges[0].NodeSeconds == nil || *charges[0].NodeSeconds != 900 ||
		charges[0].NodeHours != 0.25 || charges[0].Records != 900 {
		t.Fatalf("charges %+v (%v); want one of 1 point for 900 node-seconds (0.25 h) of 900 jobs", charges, err)
	}
	// The quota of 0.25 node-hours (900 s) was reached at the first file's 900th second: the
	// 80 % threshold (720 s) and the 100 % one, each once, with the exact seconds that crossed.
	evs, err := s.QuotaEvents(ctx, wallet, 10)
	if err != nil || len(evs) != 2 {
		t.Fatalf("quota events %+v (%v); want 80 and 100", evs, err)
	}
	for _, e := range evs {
		if e.UsedSeconds == nil || *e.UsedSeconds != 900 && *e.UsedSeconds != 1800 || e.Quota != 0.25 {
			t.Errorf("quota event %+v: want the exact seconds used of 0.25 h", e)
		}
	}
	qs, err := s.Quotas(ctx, wallet, now)
	if err != nil || len(qs) != 1 || qs[0].UsedNodeSeconds != 1800 {
		t.Fatalf("quota %+v (%v); want 1800 node-seconds used", qs, err)
	}
	ov, err = s.Overview(ctx, now.AddDate(0, -1, 0), now.AddDate(0, 0, 1), 5)
	if err != nil || ov.TotalNodeSecs != 1800 || ov.TotalNodeHours != 0.5 || ov.Jobs != 1800 || ov.Points != 1 {
		t.Fatalf("overview: %d node-seconds, %v node-hours, %d jobs, %v points (%v); want 1800, 0.5, 1800, 1",
			ov.TotalNodeSecs, ov.TotalNodeHours, ov.Jobs, ov.Points, err)
	}
}

// TestExactUsageRealLog stores XDMoD's reference sacct logs and checks that the stored usage,
// the rollups and the overview hold the exact sums of the stored records' own nodes, GPUs and
// elapsed times, summed here in SQL independently of the Go arithmetic.
func TestExactUsageRealLog(t *testing.T) {
	t.Parallel()
	dir := realacct.Dir(t, "")
	ctx := t.Context()
	s, err := Open(ctx, pgtest.NewDB(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const source = "00000000-0000-0000-0000-0000000000bb"
	if _, err := s.pool.Exec(ctx, `INSERT INTO ingest_sources (id, name, dir, format, cluster) VALUES ($1, 's', $2, 'slurm-sacct', 'x')`, source, dir); err != nil {
		t.Fatal(err)
	}
	columns := []string{"JobID", "JobIDRaw", "Cluster", "Partition", "QOS", "Account", "Group", "GID", "User", "UID", "Submit", "Eligible",
		"Start", "End", "Elapsed", "ExitCode", "State", "NNodes", "NCPUS", "ReqCPUS", "ReqMem", "ReqTRES", "AllocTRES", "Timelimit",
		"NodeList", "JobName"}
	now := time.Now()
	for _, file := range []string{"phillips.log.gz", "pozidriv.log.gz"} {
		path := filepath.Join(dir, "sacct-xdmod", file)
		f, err := accounting.Open(path)
		if err != nil {
			t.Skipf("%s: %v", path, err)
		}
		res, err := accounting.Parse(accounting.FormatSacct, f, accounting.Options{Cluster: "x", File: path, Columns: columns, Final: true})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.SaveFile(ctx, FileResult{File: ProcessedFile{SourceID: source, Path: path, Status: "done", Records: len(res.Records)},
			Records: res.Records}, now); err != nil {
			t.Fatal(err)
		}
	}
	var jobs, node, gpu int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*),
			COALESCE(sum(CASE WHEN gpus = 0 THEN nodes::bigint * (elapsed_ms / 1000) ELSE 0 END), 0)::bigint,
			COALESCE(sum(CASE WHEN gpus > 0 THEN gpus::bigint * (elapsed_ms / 1000) ELSE 0 END), 0)::bigint
		FROM usage_records`).Scan(&jobs, &node, &gpu); err != nil {
		t.Fatal(err)
	}
	if jobs < 15_000 || node == 0 {
		t.Fatalf("%d jobs, %d node-seconds stored; want XDMoD's ~16,000 jobs", jobs, node)
	}
	tot, err := s.UsageTotals(ctx, "")
	if err != nil || tot != (UsageTotals{Records: jobs, NodeSeconds: node, GPUSeconds: gpu}) {
		t.Fatalf("usage totals %+v (%v); the records' own columns say %d jobs, %d node-seconds, %d GPU-seconds", tot, err, jobs, node, gpu)
	}
	for _, grain := range []string{"d", "m", "y"} {
		var rj, rn, rg int64
		if err := s.pool.QueryRow(ctx, `SELECT sum(jobs)::bigint, sum(node_seconds)::bigint, sum(gpu_seconds)::bigint
			FROM usage_rollups WHERE dim = 'all' AND grain = $1`, grain).Scan(&rj, &rn, &rg); err != nil {
			t.Fatal(err)
		}
		if rj != jobs || rn != node || rg != gpu {
			t.Errorf("rollups of grain %s: %d jobs, %d node-s, %d GPU-s; want %d, %d, %d", grain, rj, rn, rg, jobs, node, gpu)
		}
	}
	from, to := accounting.DefaultRange(now)
	ov, err := s.Overview(ctx, from, to, 5)
	if err != nil || ov.TotalNodeSecs != node || ov.TotalGPUSecs != gpu || ov.TotalNodeHours != accounting.HoursNumber(node) {
		t.Fatalf("overview: %d node-seconds (%v h), %d GPU-seconds (%v); want %d (%s h), %d",
			ov.TotalNodeSecs, ov.TotalNodeHours, ov.TotalGPUSecs, err, node, accounting.FormatHours(node), gpu)
	}
	t.Logf("%d jobs: %s node-hours, %s GPU core-hours, exact", jobs, accounting.FormatHours(node), accounting.FormatHours(gpu))
}
