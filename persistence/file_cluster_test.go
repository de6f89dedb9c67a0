package persistence

import (
	"testing"
	"time"
)

// TestMigrationFileCluster stores usage the way it was stored before migration 9 (under the
// file's cluster), migrates, and checks what moved to the source's cluster and what stayed.
func TestMigrationFileCluster(t *testing.T) {
	ctx := t.Context()
	conn, _, migrate := migratedDB(t, 8)

	const (
		srcA = "00000000-0000-0000-0000-00000000000a" // configured cluster hpcx
		gone = "00000000-0000-0000-0000-0000000000ff" // a removed source
		sub  = "|2024-03-01T00:00:00Z"
	)
	end := time.Date(2024, 3, 1, 2, 0, 0, 0, time.UTC)
	if _, err := conn.Exec(ctx, `INSERT INTO ingest_sources (id, name, dir, format, cluster) VALUES ($1, 'a', '/tmp', 'slurm-sacct', 'hpcx')`, srcA); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ key, cluster, source, user string }{
		{"east|1" + sub, "east", srcA, "alice"}, // moves
		{"east|2" + sub, "east", srcA, "bob"},   // its new key is taken: stays
		{"hpcx|2" + sub, "hpcx", srcA, "bob"},
		{"hpcx|3" + sub, "hpcx", srcA, "carol"}, // already under the source's cluster
		{"west|4" + sub, "west", gone, "dave"},  // its source was removed: stays
	} {
		if _, err := conn.Exec(ctx, `INSERT INTO usage_records (key, cluster, job_id, user_name, source_id, end_at, nodes, elapsed_ms, node_milli_hours)
			VALUES ($1, $2, 'j', $3, $4, $5, 1, 3600000, 1000)`, r.key, r.cluster, r.user, r.source, end); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, rollupInsertBefore10); err != nil {
		t.Fatal(err)
	}

	migrate(9)

	got := map[string][2]string{}
	rows, err := conn.Query(ctx, `SELECT key, cluster, file_cluster FROM usage_records`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k, c, f string
		if err := rows.Scan(&k, &c, &f); err != nil {
			t.Fatal(err)
		}
		got[k] = [2]string{c, f}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"hpcx|1" + sub: {"hpcx", "east"},
		"east|2" + sub: {"east", ""},
		"hpcx|2" + sub: {"hpcx", ""},
		"hpcx|3" + sub: {"hpcx", ""},
		"west|4" + sub: {"west", ""},
	}
	if len(got) != len(want) {
		t.Errorf("records %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("record %s: cluster and file cluster %q, want %q", k, got[k], w)
		}
	}
	var alice int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM cluster_users WHERE cluster = 'hpcx' AND login = 'alice'`).Scan(&alice); err != nil || alice != 1 {
		t.Errorf("cluster user hpcx/alice: %d %v", alice, err)
	}
	for _, grain := range []string{"d", "m", "y"} {
		for cluster, jobs := range map[string]int64{"hpcx": 3, "east": 1, "west": 1} {
			var n, node int64
			if err := conn.QueryRow(ctx, `SELECT jobs, node_milli_hours FROM usage_rollups WHERE dim = 'cluster' AND grain = $1 AND key = $2`,
				grain, cluster).Scan(&n, &node); err != nil || n != jobs || node != 1000*jobs {
				t.Errorf("rollup %s of cluster %s: %d jobs %d node-milli-hours (%v), want %d", grain, cluster, n, node, err, jobs)
			}
		}
	}
}
