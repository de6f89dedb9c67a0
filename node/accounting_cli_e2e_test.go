package node_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/persistence"
)

// sacctLine joins the 18 fields of one line of the test's sacct dump.
func sacctLine(t *testing.T, fields ...string) string {
	t.Helper()
	if len(fields) != 18 {
		t.Fatalf("sacct line with %d fields, want 18: %v", len(fields), fields)
	}
	return strings.Join(fields, "|") + "\n"
}

// TestAccountingCLI drives compute accounting as an operator would, with the real binary: a
// shared wallet with points, a rate, mappings and a quota; one ingest run that charges the
// wallet; reports with hand-computed figures; a late mapping that charges unassigned usage; and
// bad input that is refused with a message naming the flag, storing nothing.
func TestAccountingCLI(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDB(t)
	store, err := persistence.Open(t.Context(), url, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	run := func(args ...string) string {
		t.Helper()
		out, ok := dwCLI(t, append(args, "--database-url", url)...)
		if !ok {
			t.Fatalf("dw %s failed:\n%s", strings.Join(args, " "), out)
		}
		return out
	}
	contains := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Fatalf("output lacks %q:\n%s", w, out)
			}
		}
	}
	jsonOf := func(dst any, args ...string) {
		t.Helper()
		out := run(args...)
		if err := json.Unmarshal([]byte(out), dst); err != nil {
			t.Fatalf("dw %s: %v:\n%s", strings.Join(args, " "), err, out)
		}
	}

	// A shared wallet with 100 points.
	out := run("wallet", "create", "--name", "physics")
	contains(out, "created shared wallet physics: ")
	fields := strings.Fields(out)
	physics := fields[len(fields)-1]
	if _, err := uuid.Parse(physics); err != nil {
		t.Fatalf("wallet create printed no id: %s", out)
	}
	contains(run("wallet", "deposit", "physics", "100"), "deposited 100 into "+physics, "balance 100")

	// 1.5 points per node-hour, 2.25 per GPU core-hour, everywhere, for every job end date.
	contains(run("rates", "add", "--node-hour-points", "1.5", "--gpu-hour-points", "2.25"),
		"1.5 points per node-hour, 2.25 per GPU core-hour", "from 1970-01-01T00:00:00Z")
	contains(run("rates", "list"), "1.5", "2.25", "1970-01-01T00:00:00Z")

	// Group phys pays from physics; backup jobs are tracked, never charged; chem has no rule.
	contains(run("mappings", "add", "--group", "phys", "--wallet", "physics", "--note", "physics dept"),
		"group=phys on every cluster → wallet physics ("+physics+")", "took over 0 unassigned jobs: 0 charges, 0 points")
	contains(run("mappings", "add", "--user", "backup", "--cluster", "acct", "--exclude"),
		"user=backup on cluster acct → excluded")
	var maps []struct {
		User       string `json:"user"`
		Group      string `json:"group"`
		WalletID   string `json:"wallet_id"`
		WalletName string `json:"wallet_name"`
		Note       string `json:"note"`
	}
	jsonOf(&maps, "mappings", "list", "--format", "json")
	if len(maps) != 2 || maps[0].Group != "phys" || maps[0].WalletID != physics || maps[0].WalletName != "physics" ||
		maps[0].Note != "physics dept" || maps[1].User != "backup" || maps[1].WalletID != "" {
		t.Fatalf("mappings list: %+v", maps)
	}

	// A quota low enough that this usage crosses thresholds: 4.5 node-hours of 5 (80%), 6 GPU
	// core-hours of 6 (80% and 100%).
	contains(run("quotas", "set", "--wallet", "physics", "--period", "total", "--node-hours", "5", "--gpu-core-hours", "6"),
		"per total: 5 node-hours, 6 GPU core-hours", "used in the current period (all time): 0.000 / 5 (0%) node-hours")

	// The log: five jobs, a step (skipped). Prices (unit-seconds × millipoints per hour):
	//   1001 alice phys  2 nodes × 2 h   = 4 node-hours         × 1.5  = 6
	//   1002 bob   phys  1 node  × 0.5 h = 0.5 node-hours       × 1.5  = 0.75
	//   1003 alice phys  2 GPUs  × 3 h   = 6 GPU core-hours     × 2.25 = 13.5
	//   1004 carol chem  3 nodes × 1 h   = 3 node-hours         × 1.5  = 4.5  (unassigned)
	//   1005 backup ops  1 node  × 0.1 h = 0.1 node-hours       × 1.5  = 0.15 (excluded)
	// physics is charged 6 + 0.75 + 13.5 = 20.25, rounded to 20 points.
	logs := t.TempDir()
	dump := sacctLine(t, "JobID", "JobIDRaw", "User", "Group", "Account", "Partition", "QOS", "Cluster", "State", "Submit", "Start", "End",
		"Elapsed", "ElapsedRaw", "AllocNodes", "AllocCPUS", "AllocTRES", "NodeList") +
		sacctLine(t, "1001", "1001", "alice", "phys", "proj1", "cpu", "normal", "acct", "COMPLETED", "2024-03-01T08:00:00",
			"2024-03-01T09:00:00", "2024-03-01T11:00:00", "02:00:00", "7200", "2", "64", "billing=64,cpu=64,mem=250G,node=2", "c[01-02]") +
		sacctLine(t, "1001.batch", "1001.batch", "", "", "proj1", "", "", "acct", "COMPLETED", "2024-03-01T09:00:00",
			"2024-03-01T09:00:00", "2024-03-01T11:00:00", "02:00:00", "7200", "1", "32", "cpu=32,mem=125G,node=1", "c01") +
		sacctLine(t, "1002", "1002", "bob", "phys", "proj1", "cpu", "normal", "acct", "COMPLETED", "2024-03-02T10:00:00",
			"2024-03-02T10:00:00", "2024-03-02T10:30:00", "00:30:00", "1800", "1", "32", "billing=32,cpu=32,node=1", "c03") +
		sacctLine(t, "1003", "1003", "alice", "phys", "proj1", "gpu", "normal", "acct", "COMPLETED", "2024-03-03T01:00:00",
			"2024-03-03T02:00:00", "2024-03-03T05:00:00", "03:00:00", "10800", "1", "16",
			"billing=16,cpu=16,gres/gpu:a100=2,gres/gpu=2,node=1", "g01") +
		sacctLine(t, "1004", "1004", "carol", "chem", "proj2", "cpu", "normal", "acct", "COMPLETED", "2024-03-04T12:00:00",
			"2024-03-04T12:00:00", "2024-03-04T13:00:00", "01:00:00", "3600", "3", "96", "billing=96,cpu=96,node=3", "c[04-06]") +
		sacctLine(t, "1005", "1005", "backup", "ops", "ops", "cpu", "normal", "acct", "COMPLETED", "2024-03-05T00:00:00",
			"2024-03-05T00:00:00", "2024-03-05T00:06:00", "00:06:00", "360", "1", "1", "cpu=1,node=1", "c07")
	if err := os.WriteFile(filepath.Join(logs, "sacct-2024-03.txt"), []byte(dump), 0o600); err != nil {
		t.Fatal(err)
	}
	run("sources", "add", "--name", "acct", "--dir", logs, "--format", "slurm-sacct", "--cluster", "acct", "--ingest-root", logs)
	out = run("ingest", "run", "--ingest-root", logs)
	contains(out, "acct: 1 files", "5 records, 5 new, 0 errors, 1 charges",
		"quota threshold: wallet physics ("+physics+"), total: node_hours reached 80% (4.5 of 5)",
		"quota threshold: wallet physics ("+physics+"), total: gpu_core_hours reached 80% (6 of 6)",
		"quota threshold: wallet physics ("+physics+"), total: gpu_core_hours reached 100% (6 of 6)",
		"posted 1 charges to their wallets")
	if strings.Contains(out, "node_hours reached 100%") {
		t.Fatalf("4.5 of 5 node-hours reported as 100%%:\n%s", out)
	}
	contains(run("wallet", "show", "physics"), "balance   80\n")

	type usageSum struct {
		Jobs      int64   `json:"jobs"`
		NodeHours float64 `json:"node_hours"`
		CoreHours float64 `json:"core_hours"`
	}
	type overview struct {
		TotalNodeHours float64  `json:"total_node_hours"`
		TotalCoreHours float64  `json:"total_core_hours"`
		Jobs           int64    `json:"jobs"`
		CPUJobs        int64    `json:"cpu_jobs"`
		GPUJobs        int64    `json:"gpu_jobs"`
		Points         float64  `json:"points"`
		Unassigned     usageSum `json:"unassigned"`
	}
	var ov overview
	jsonOf(&ov, "report", "overview", "--format", "json")
	want := overview{TotalNodeHours: 7.6, TotalCoreHours: 6, Jobs: 5, CPUJobs: 4, GPUJobs: 1, Points: 24.9,
		Unassigned: usageSum{Jobs: 1, NodeHours: 3}}
	if ov != want {
		t.Fatalf("overview:\n got %+v\nwant %+v", ov, want)
	}
	// --to is exclusive: only the job that ended on March 2.
	jsonOf(&ov, "report", "overview", "--from", "2024-03-02", "--to", "2024-03-03", "--format", "json")
	if ov.Jobs != 1 || ov.TotalNodeHours != 0.5 || ov.TotalCoreHours != 0 {
		t.Fatalf("overview of 2024-03-02: %+v", ov)
	}
	contains(run("report", "overview", "--top", "2"), "total_node_hours (CPU jobs)  7.6", "physics ("+physics+")", "(unassigned)")

	usageCSV := "bucket,wallet,name,jobs,cpu_jobs,gpu_jobs,node_hours,core_hours,points\n" +
		"," + physics + ",physics,3,2,1,4.5,6,20.25\n" +
		",unassigned,,1,1,0,3,0,4.5\n" +
		",excluded,,1,1,0,0.1,0,0.15\n"
	if out := run("report", "usage", "--group-by", "wallet", "--format", "csv"); out != usageCSV {
		t.Fatalf("usage by wallet:\n%s\nwant:\n%s", out, usageCSV)
	}
	if out, want := run("report", "usage", "--group-by", "partition", "--bucket", "month", "--format", "csv"),
		"bucket,partition,name,jobs,cpu_jobs,gpu_jobs,node_hours,core_hours,points\n"+
			"2024-03-01,cpu,,4,4,0,7.6,0,11.4\n"+
			"2024-03-01,gpu,,1,0,1,0,6,13.5\n"; out != want {
		t.Fatalf("usage by partition per month:\n%s\nwant:\n%s", out, want)
	}
	// A filter reads the usage records rather than the rollups.
	if out, want := run("report", "usage", "--group-by", "user", "--user", "alice", "--format", "csv"),
		"bucket,user,name,jobs,cpu_jobs,gpu_jobs,node_hours,core_hours,points\n"+
			",alice,,2,1,1,4,6,19.5\n"; out != want {
		t.Fatalf("usage of alice:\n%s\nwant:\n%s", out, want)
	}
	if out, want := run("report", "usage", "--group-by", "user", "--wallet", "unassigned", "--format", "csv"),
		"bucket,user,name,jobs,cpu_jobs,gpu_jobs,node_hours,core_hours,points\n"+
			",carol,,1,1,0,3,0,4.5\n"; out != want {
		t.Fatalf("unassigned usage by user:\n%s\nwant:\n%s", out, want)
	}

	type charge struct {
		WalletID      string  `json:"wallet_id"`
		Points        int64   `json:"points"`
		Records       int     `json:"records"`
		NodeHours     float64 `json:"node_hours"`
		GPUCoreHours  float64 `json:"gpu_core_hours"`
		Status        string  `json:"status"`
		ChargedPoints int64   `json:"charged_points"`
	}
	var charges []charge
	jsonOf(&charges, "charges", "list", "--format", "json")
	if len(charges) != 1 || charges[0] != (charge{physics, 20, 3, 4.5, 6, "charged", 20}) {
		t.Fatalf("charges: %+v", charges)
	}
	contains(run("charges", "list", "--wallet", "physics", "--status", "charged"), "charged", "20", "physics ("+physics+")")
	if out := run("charges", "list", "--status", "pending"); strings.Count(out, "\n") != 1 {
		t.Fatalf("pending charges after the run:\n%s", out)
	}

	// carol's usage, unassigned until now, goes to physics with a late mapping and is charged:
	// 4.5 points, rounded to 5; node-hours reach 7.5 of 5.
	out = run("mappings", "add", "--user", "carol", "--wallet", physics)
	contains(out, "user=carol on every cluster → wallet physics", "took over 1 unassigned jobs: 1 charges, 5 points",
		"total: node_hours reached 100% (7.5 of 5)", "posted 1 charges to their wallets")
	contains(run("wallet", "show", physics), "balance   75\n")
	jsonOf(&ov, "report", "overview", "--format", "json")
	want.Unassigned = usageSum{}
	if ov != want {
		t.Fatalf("overview after the late mapping:\n got %+v\nwant %+v", ov, want)
	}
	usageCSV = "bucket,wallet,name,jobs,cpu_jobs,gpu_jobs,node_hours,core_hours,points\n" +
		"," + physics + ",physics,4,3,1,7.5,6,24.75\n" +
		",excluded,,1,1,0,0.1,0,0.15\n"
	if out := run("report", "usage", "--group-by", "wallet", "--format", "csv"); out != usageCSV {
		t.Fatalf("usage by wallet after the late mapping:\n%s\nwant:\n%s", out, usageCSV)
	}
	// The rollups rebuilt from the records give the same report.
	contains(run("report", "rebuild"), "rebuilt the usage rollups")
	if out := run("report", "usage", "--group-by", "wallet", "--format", "csv"); out != usageCSV {
		t.Fatalf("usage by wallet after rebuild:\n%s\nwant:\n%s", out, usageCSV)
	}
	jsonOf(&charges, "charges", "list", "--wallet", "physics", "--format", "json")
	if len(charges) != 2 || charges[0] != (charge{physics, 5, 1, 3, 0, "charged", 5}) {
		t.Fatalf("charges after the late mapping: %+v", charges)
	}

	// Quotas: usage against the quota, and the four thresholds crossed.
	type use struct {
		Used, Quota float64
		Percent     *float64
	}
	var quotas []struct {
		WalletName   string `json:"wallet_name"`
		NodeHours    use    `json:"node_hours"`
		GPUCoreHours use    `json:"gpu_core_hours"`
	}
	jsonOf(&quotas, "quotas", "list", "--wallet", "physics", "--format", "json")
	if len(quotas) != 1 || quotas[0].WalletName != "physics" || quotas[0].NodeHours.Used != 7.5 || quotas[0].NodeHours.Quota != 5 ||
		quotas[0].NodeHours.Percent == nil || *quotas[0].NodeHours.Percent != 150 || quotas[0].GPUCoreHours.Percent == nil ||
		*quotas[0].GPUCoreHours.Percent != 100 {
		t.Fatalf("quotas list: %s", run("quotas", "list", "--format", "json"))
	}
	contains(run("quotas", "list"), "all time", "7.500 / 5 (150%)", "6.000 / 6 (100%)")
	var events []struct {
		Metric    string
		Threshold int
		Used      float64
	}
	jsonOf(&events, "quotas", "events", "--wallet", "physics", "--format", "json")
	got := map[string]float64{} // metric@threshold → used when crossed
	for _, e := range events {
		got[fmt.Sprintf("%s@%d", e.Metric, e.Threshold)] = e.Used
	}
	if len(events) != 4 || got["node_hours@80"] != 4.5 || got["node_hours@100"] != 7.5 ||
		got["gpu_core_hours@80"] != 6 || got["gpu_core_hours@100"] != 6 {
		t.Fatalf("quota events: %+v", events)
	}
	contains(run("quotas", "events"), "node_hours", "100%", "7.5", "physics ("+physics+")")

	// A second run reads nothing new and has nothing to post.
	contains(run("ingest", "run", "--ingest-root", logs), "1 skipped", "posted 0 charges (none pending)")

	// Cluster users: the logins seen, one linked to a platform user.
	out = run("cluster-users", "list", "--cluster", "acct")
	for _, login := range []string{"alice", "backup", "bob", "carol"} {
		contains(out, login)
	}
	run("user", "create", "--email", "alice@uni.test", "--password", "alice-pass-123")
	contains(run("cluster-users", "link", "--cluster", "acct", "--login", "alice", "--email", "alice@uni.test"), "linked alice on acct to alice@uni.test")
	contains(run("cluster-users", "list", "--prefix", "al"), "alice@uni.test")
	contains(run("cluster-users", "link", "--cluster", "acct", "--login", "alice", "--unlink"), "unlinked alice")

	// Removing rules.
	out = run("rates", "add", "--partition", "debug", "--node-hour-points", "0", "--gpu-hour-points", "0", "--from", "2025-01-01")
	rateID := strings.TrimSuffix(strings.Fields(out)[2], ":")
	contains(run("rates", "remove", rateID), "removed rate "+rateID)

	// Bad input: refused with a message naming the flag and a good value; nothing stored.
	count := func() string {
		var maps, rates, quotas, charges, wallets, events int
		if err := store.Pool().QueryRow(t.Context(), `SELECT (SELECT count(*) FROM group_mappings), (SELECT count(*) FROM charge_rates),
			(SELECT count(*) FROM quotas), (SELECT count(*) FROM usage_charges), (SELECT count(*) FROM wallets),
			(SELECT count(*) FROM quota_events)`).Scan(&maps, &rates, &quotas, &charges, &wallets, &events); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d mappings, %d rates, %d quotas, %d charges, %d wallets, %d quota events",
			maps, rates, quotas, charges, wallets, events)
	}
	before := count()
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"quotas", "set", "--wallet", "physics", "--period", "weekly", "--node-hours", "1"}, []string{`--period "weekly"`, "month, quarter, year or total", "e.g. --period month"}},
		{[]string{"quotas", "set", "--wallet", "physics", "--period", "month", "--node-hours", "1.2345"}, []string{`--node-hours "1.2345"`, "at most 3 decimals", "e.g. 1.5"}},
		{[]string{"quotas", "set", "--wallet", "physics", "--period", "month"}, []string{"--node-hours or --gpu-core-hours above 0"}},
		{[]string{"quotas", "set", "--wallet", "nosuch", "--period", "month", "--node-hours", "1"}, []string{`--wallet "nosuch"`, "dw wallet create"}},
		{[]string{"rates", "add", "--node-hour-points", "1.2345", "--gpu-hour-points", "1"}, []string{`--node-hour-points "1.2345"`, "at most 3 decimals", "e.g. 1.5"}},
		{[]string{"rates", "add", "--node-hour-points", "-1", "--gpu-hour-points", "1"}, []string{`--node-hour-points "-1"`, "non-negative"}},
		{[]string{"rates", "add", "--gpu-hour-points", "1"}, []string{"--node-hour-points is required", "e.g. --node-hour-points 1.5"}},
		{[]string{"rates", "add", "--node-hour-points", "1", "--gpu-hour-points", "1", "--from", "March"}, []string{`--from "March"`, "YYYY-MM-DD", "e.g. 2024-03-01"}},
		{[]string{"rates", "add", "--node-hour-points", "1", "--gpu-hour-points", "1"}, []string{"a rate for cluster *, partition * from 1970-01-01 exists", "dw rates list"}},
		{[]string{"mappings", "add", "--user", "dave", "--wallet", "nosuch"}, []string{`--wallet "nosuch"`, "dw wallet create"}},
		{[]string{"mappings", "add", "--user", "dave"}, []string{"--wallet ID|NAME", "--exclude"}},
		{[]string{"mappings", "add", "--user", "dave", "--wallet", "physics", "--exclude"}, []string{"--wallet or --exclude, not both"}},
		{[]string{"mappings", "add", "--wallet", "physics"}, []string{"--user, --account or --group", "e.g. --group physics"}},
		{[]string{"mappings", "add", "--group", "phys", "--wallet", "physics"}, []string{"a mapping for group=phys on every cluster exists", "dw mappings remove ID", "dw mappings list"}},
		{[]string{"mappings", "remove", "not-an-id"}, []string{`"not-an-id" is not a mapping id`, "dw mappings list"}},
		{[]string{"rates", "remove", uuid.NewString()}, []string{"no rate", "dw rates list"}},
		{[]string{"quotas", "remove", uuid.NewString()}, []string{"no quota", "dw quotas list"}},
		{[]string{"report", "usage", "--group-by", "colour"}, []string{`--group-by "colour"`, "wallet, user, group, account, partition or cluster", "e.g. --group-by wallet"}},
		{[]string{"report", "usage"}, []string{"--group-by is required"}},
		{[]string{"report", "usage", "--group-by", "user", "--bucket", "hour"}, []string{`--bucket "hour"`, "day, week or month"}},
		{[]string{"report", "overview", "--from", "2024-13-01"}, []string{`--from "2024-13-01"`, "YYYY-MM-DD"}},
		{[]string{"report", "overview", "--from", "2024-04-01", "--to", "2024-03-01"}, []string{"--from 2024-04-01 is not before --to 2024-03-01"}},
		{[]string{"report", "overview", "--format", "xml"}, []string{`--format must be table, csv or json, not "xml"`}},
		{[]string{"charges", "list", "--status", "paid"}, []string{`--status "paid"`, "pending, charged or unpaid"}},
		{[]string{"wallet", "create", "--name", "Physics"}, []string{`a shared wallet of that name exists`}},
		{[]string{"wallet", "create"}, []string{"--name is required", "e.g. --name physics"}},
		{[]string{"cluster-users", "link", "--cluster", "acct", "--login", "nobody", "--unlink"}, []string{`no login "nobody" seen on cluster "acct"`}},
		{[]string{"cluster-users", "link", "--cluster", "acct", "--login", "bob", "--email", "nobody@uni.test"}, []string{`--email "nobody@uni.test"`, "dw user list"}},
		{[]string{"wallet", "show", "nosuch"}, []string{`WALLET "nosuch": no wallet has this id or shared-wallet name`}},
	} {
		out, ok := dwCLI(t, append(c.args, "--database-url", url)...)
		if ok {
			t.Fatalf("dw %s succeeded:\n%s", strings.Join(c.args, " "), out)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Fatalf("dw %s: the message lacks %q:\n%s", strings.Join(c.args, " "), w, out)
			}
		}
		if strings.Contains(out, "internal error") || strings.Contains(out, "Usage:") {
			t.Fatalf("dw %s: not a plain message:\n%s", strings.Join(c.args, " "), out)
		}
	}
	if after := count(); after != before {
		t.Fatalf("refused input changed the database: %s → %s", before, after)
	}
	contains(run("wallet", "show", "physics"), "balance   75\n")

	// Every rule change is audited as the console's: no actor, source cli.
	var audited int
	if err := store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM audit_logs WHERE ip = 'cli' AND actor_id IS NULL
		AND action IN ('accounting.mapping.add', 'accounting.rate.add', 'accounting.rate.remove', 'accounting.quota.set', 'wallet.create')`).Scan(&audited); err != nil || audited != 8 {
		t.Fatalf("%d audit rows from the cli (%v), want 8 (3 mappings, 2 rates added, 1 removed, 1 quota, 1 wallet)", audited, err)
	}
}
