package ingest_test

import (
	"bytes"
	"compress/gzip"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/actors"
	"github.com/divinewhispers/dw/ingest"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/protos/walletpb"
)

const sacctHeader = "JobID|JobIDRaw|User|Group|Account|Partition|QOS|Cluster|State|Submit|Start|End|Elapsed|ElapsedRaw|AllocNodes|AllocCPUS|AllocTRES|NodeList\n"

// Hand-priced jobs (cluster alpha). Rates: 2 points per node-hour from 2026-01-01, 3 from
// 2026-03-01; 10 points per GPU-hour on partition gpu from 2026-01-01.
//
//	job  user   group    what                     usage          price  wallet
//	1    bob    physics  2 nodes × 2 h, Jan 10    4 node-h       8      P (group rule)
//	2    alice  physics  1 node × 3 h, Jan 11     3 node-h       6      A (exception: user alice in physics)
//	3    bob    physics  2 GPUs × 1.5 h, Jan 12   3 GPU-h        30     P
//	4    carol  chem     4 nodes × 1 h, Jan 12    4 node-h       8      unassigned (until "group chem → P")
//	5    guest  physics  1 node × 1 h, Jan 13     1 node-h       2      excluded (user guest)
//	6    bob    physics  1 node × 5 h, Mar 05     5 node-h       15     P (the March rate)
const sacctJobs = sacctHeader +
	"1|1|bob|physics|phys|cpu|normal|alpha|COMPLETED|2026-01-10T08:00:00|2026-01-10T08:00:00|2026-01-10T10:00:00|02:00:00|7200|2|64|billing=64,cpu=64,node=2|n[01-02]\n" +
	"1.batch|1.batch||||||alpha|COMPLETED|2026-01-10T08:00:00|2026-01-10T08:00:00|2026-01-10T10:00:00|02:00:00|7200|1|32|cpu=32,node=1|n01\n" +
	"2|2|alice|physics|phys|cpu|normal|alpha|COMPLETED|2026-01-11T08:00:00|2026-01-11T08:00:00|2026-01-11T11:00:00|03:00:00|10800|1|32|cpu=32,node=1|n03\n" +
	"3|3|bob|physics|phys|gpu|normal|alpha|COMPLETED|2026-01-12T08:00:00|2026-01-12T08:00:00|2026-01-12T09:30:00|01:30:00|5400|1|16|cpu=16,gres/gpu:a100=2,gres/gpu=2,node=1|g01\n" +
	"4|4|carol|chem|chem|cpu|normal|alpha|CANCELLED by 1001|2026-01-12T08:00:00|2026-01-12T08:00:00|2026-01-12T09:00:00|01:00:00|3600|4|128|cpu=128,node=4|n[04-07]\n" +
	"5|5|guest|physics|phys|cpu|normal|alpha|FAILED|2026-01-13T08:00:00|2026-01-13T08:00:00|2026-01-13T09:00:00|01:00:00|3600|1|1|cpu=1,node=1|n08\n" +
	"6|6|bob|physics|phys|cpu|normal|alpha|COMPLETED|2026-03-05T08:00:00|2026-03-05T08:00:00|2026-03-05T13:00:00|05:00:00|18000|1|32|cpu=32,node=1|n09\n"

// job 7: bob, 1 node × 0.5 h on Mar 06 = 0.5 node-h × 3 = 1.5 → 2 points (rounded half up).
const sacctJob7 = "7|7|bob|physics|phys|cpu|normal|alpha|COMPLETED|2026-03-06T08:00:00|2026-03-06T08:00:00|2026-03-06T08:30:00|00:30:00|1800|1|32|cpu=32,node=1|n09\n"

func TestChargingEndToEnd(t *testing.T) {
	e := newEnv(t, "slurm-sacct", "alpha", "*")
	ctx, st := e.ctx, e.store
	now := time.Now()
	audit := persistence.AuditEntry{IP: "test"}
	p, err := st.CreateSharedWallet(ctx, "physics", audit)
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.CreateSharedWallet(ctx, "alice", audit)
	if err != nil {
		t.Fatal(err)
	}
	wallets, stop := node.LocalWallets(st, slog.New(slog.DiscardHandler))
	defer stop()
	deposit := func(w string, n int64) {
		if _, err := wallets.Do(ctx, &walletpb.Request{Op: walletpb.Op_OP_DEPOSIT, WalletId: w, Amount: n, IdempotencyKey: "dep-" + w}); err != nil {
			t.Fatal(err)
		}
	}
	deposit(p.ID, 1000)
	deposit(a.ID, 5) // alice's wallet cannot pay her 6 points

	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, time.UTC) }
	for _, r := range []accounting.Rate{
		{NodeHourMillipoints: 2000, EffectiveFrom: day(1, 1)},
		{NodeHourMillipoints: 3000, EffectiveFrom: day(3, 1)},
		{Partition: "gpu", GPUHourMillipoints: 10_000, EffectiveFrom: day(1, 1)},
	} {
		if _, err := st.AddRate(ctx, r, audit, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []accounting.Mapping{
		{Group: "physics", WalletID: p.ID},
		{Group: "physics", User: "alice", WalletID: a.ID},
		{User: "guest"}, // exclusion
	} {
		if _, _, err := st.AddMapping(ctx, m, audit, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.SetQuota(ctx, persistence.Quota{WalletID: p.ID, Period: "month", NodeMilliHours: 5000}, audit, now); err != nil {
		t.Fatal(err)
	}

	e.write("jobs.txt", []byte(sacctJobs))
	rep := e.run()
	if rep.NewRecords != 6 || rep.Charges != 2 {
		t.Fatalf("first run: %+v", rep)
	}
	e.totals(6, 61_200, 10_800)
	charger := &actors.Charger{Store: st, Wallets: wallets}
	post := func(want int) {
		t.Helper()
		n, err := charger.Post(ctx)
		if err != nil || n != want {
			t.Fatalf("posted %d charges, %v; want %d", n, err, want)
		}
	}
	post(2)
	balance := func(w string, want int64) {
		t.Helper()
		res, err := wallets.Do(ctx, &walletpb.Request{Op: walletpb.Op_OP_GET, WalletId: w})
		if err != nil {
			t.Fatal(err)
		}
		if res.Wallet.Balance != want {
			t.Errorf("wallet balance %d, want %d", res.Wallet.Balance, want)
		}
	}
	balance(p.ID, 1000-8-30-15)
	balance(a.ID, 0)
	charges, err := st.Charges(ctx, persistence.ChargeFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byWallet := map[string]persistence.Charge{}
	for _, c := range charges {
		byWallet[c.WalletID] = c
	}
	if c := byWallet[p.ID]; c.Points != 53 || c.ChargedPoints != 53 || c.Status != "charged" || c.Records != 3 {
		t.Errorf("physics charge %+v", c)
	}
	if c := byWallet[a.ID]; c.Points != 6 || c.ChargedPoints != 5 || c.Status != "unpaid" {
		t.Errorf("alice charge %+v", c)
	}
	// Quota of 5 node-hours a month: January has 4 of P's (80%), March 5 (80% and 100%).
	evs := quotaEvents(t, e)
	want := map[string]bool{"2026-01-01/80": true, "2026-03-01/80": true, "2026-03-01/100": true}
	if len(evs) != len(want) {
		t.Errorf("quota events %v, want %v", evs, want)
	}
	for _, k := range evs {
		if !want[k] {
			t.Errorf("unexpected quota event %s", k)
		}
	}

	// The overview: all jobs, with unassigned and excluded usage apart.
	ov, err := st.Overview(ctx, day(1, 1), day(12, 31), 10)
	if err != nil {
		t.Fatal(err)
	}
	if ov.TotalNodeHours != 17 || ov.TotalCoreHours != 3 || ov.Jobs != 6 || ov.CPUJobs != 5 || ov.GPUJobs != 1 {
		t.Errorf("overview %+v", ov)
	}
	if ov.Unassigned.Jobs != 1 || ov.Unassigned.NodeHours != 4 {
		t.Errorf("unassigned %+v", ov.Unassigned)
	}
	if len(ov.TopWallets) != 4 || ov.TopWallets[0].Key != p.ID || ov.TopWallets[0].Name != "physics" ||
		ov.TopWallets[0].NodeHours != 9 || ov.TopWallets[0].CoreHours != 3 || ov.TopWallets[0].Points != 53 {
		t.Errorf("top wallets %+v", ov.TopWallets)
	}
	if len(ov.TopPartitions) != 2 || ov.TopPartitions[0].Key != "cpu" || ov.TopPartitions[0].NodeHours != 17 {
		t.Errorf("top partitions %+v", ov.TopPartitions)
	}
	// A range inside January: day rollups only.
	jan, err := st.Overview(ctx, day(1, 11), day(1, 13), 10)
	if err != nil {
		t.Fatal(err)
	}
	if jan.Jobs != 3 || jan.TotalNodeHours != 7 || jan.TotalCoreHours != 3 {
		t.Errorf("overview Jan 11-12: %+v", jan)
	}

	// Late mapping: carol's chem job goes to P and is charged then (4 node-h × 2 = 8 points).
	_, re, err := st.AddMapping(ctx, accounting.Mapping{Group: "chem", WalletID: p.ID}, audit, now)
	if err != nil {
		t.Fatal(err)
	}
	if re.Records != 1 || re.Charges != 1 || re.Points != 8 || len(re.Events) != 1 || re.Events[0].Threshold != 100 {
		t.Errorf("late mapping %+v", re)
	}
	post(1)
	balance(p.ID, 1000-53-8)
	ov, _ = st.Overview(ctx, day(1, 1), day(12, 31), 10)
	if ov.Unassigned.Jobs != 0 || ov.TopWallets[0].NodeHours != 13 {
		t.Errorf("after late mapping: unassigned %+v, top %+v", ov.Unassigned, ov.TopWallets[0])
	}
	// Adding the same rule again changes nothing.
	if _, _, err := st.AddMapping(ctx, accounting.Mapping{Group: "chem", WalletID: p.ID}, audit, now); err == nil {
		t.Error("a duplicate mapping was accepted")
	}

	// Re-scan, rename, copy and gzip: no new record, no new charge.
	if rep := e.run(); rep.NewRecords != 0 || rep.Charges != 0 || rep.Skipped != 1 {
		t.Errorf("re-scan: %+v", rep)
	}
	if err := os.Rename(filepath.Join(e.dir, "jobs.txt"), filepath.Join(e.dir, "jobs-renamed.txt")); err != nil {
		t.Fatal(err)
	}
	e.write("copy.txt", []byte(sacctJobs))
	gz := gzipBytes(t, sacctJobs)
	e.write("jobs.txt.gz", gz)
	if rep := e.run(); rep.NewRecords != 0 || rep.Charges != 0 {
		t.Errorf("rename/copy/gzip: %+v", rep)
	}
	post(0)
	// A growing file: only the new job is read, priced and charged.
	e.appendTo("jobs-renamed.txt", sacctJob7)
	if rep := e.run(); rep.NewRecords != 1 || rep.Charges != 1 || rep.Resumed != 1 {
		t.Errorf("append: %+v", rep)
	}
	post(1)
	balance(p.ID, 1000-53-8-2)
	e.totals(7, 63_000, 10_800)

	// Usage with a filter reads the records; without, the rollups; both agree.
	rows, err := st.Usage(ctx, persistence.UsageQuery{GroupBy: "user", From: day(1, 1), To: day(12, 31), Filters: map[string]string{"partition": "gpu"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Key != "bob" || rows[0].CoreHours != 3 || rows[0].GPUJobs != 1 {
		t.Errorf("gpu usage by user %+v", rows)
	}
	months, err := st.Usage(ctx, persistence.UsageQuery{GroupBy: "wallet", Bucket: "month", From: day(1, 1), To: day(12, 31)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, r := range months {
		label := r.Name
		if label == "" {
			label = r.Key
		}
		got[r.Bucket+"/"+label] += r.NodeHours + r.CoreHours
	}
	if got["2026-01-01/physics"] != 4+3+4 || got["2026-03-01/physics"] != 5.5 || got["2026-01-01/alice"] != 3 {
		t.Errorf("usage by wallet and month %v", got)
	}
	filtered, err := st.Usage(ctx, persistence.UsageQuery{GroupBy: "wallet", Bucket: "month", From: day(1, 1), To: day(12, 31),
		Filters: map[string]string{"cluster": "alpha"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(filtered) != len(months) {
		t.Errorf("filtered %d rows, rollups %d rows", len(filtered), len(months))
	}
	for i := range filtered {
		if filtered[i] != months[i] {
			t.Errorf("row %d: records say %+v, rollups %+v", i, filtered[i], months[i])
		}
	}

	// Whole years (year rows), whole months and days give the same sums.
	allTime, err := st.Overview(ctx, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), day(1, 1).AddDate(4, 0, 0), 10)
	if err != nil {
		t.Fatal(err)
	}
	year, _ := st.Overview(ctx, day(1, 1), day(1, 1).AddDate(1, 0, 0), 10)
	midYear, _ := st.Overview(ctx, day(1, 10), day(3, 7), 10)
	for _, o := range []persistence.Overview{allTime, year, midYear} {
		if o.Jobs != 7 || o.TotalNodeHours != 17.5 || o.TotalCoreHours != 3 || len(o.TopUsers) != 4 {
			t.Errorf("overview %s..%s: %+v", o.From.Format(time.DateOnly), o.To.Format(time.DateOnly), o)
		}
	}

	// The rollups rebuilt from the records are the rollups kept as records arrived.
	allBefore := allTime
	before, _ := st.Usage(ctx, persistence.UsageQuery{GroupBy: "account", Bucket: "day", From: day(1, 1), To: day(12, 31)})
	if err := st.RebuildRollups(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := st.Usage(ctx, persistence.UsageQuery{GroupBy: "account", Bucket: "day", From: day(1, 1), To: day(12, 31)})
	allAfter, _ := st.Overview(ctx, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), day(1, 1).AddDate(4, 0, 0), 10)
	if !reflect.DeepEqual(allBefore, allAfter) {
		t.Errorf("overview from kept rollups %+v, from rebuilt %+v", allBefore, allAfter)
	}
	if len(before) == 0 || len(before) != len(after) {
		t.Fatalf("rollups: %d rows kept, %d rebuilt", len(before), len(after))
	}
	for i := range before {
		if before[i] != after[i] {
			t.Errorf("rollup row %d: kept %+v, rebuilt %+v", i, before[i], after[i])
		}
	}
	// A quota set below the usage already stored is crossed at once: 13.5 node-hours of 10.
	if _, err := st.SetQuota(ctx, persistence.Quota{WalletID: p.ID, Period: "total", NodeMilliHours: 10_000}, audit, now); err != nil {
		t.Fatal(err)
	}
	if evs := strings.Join(quotaEvents(t, e), " "); strings.Count(evs, "/") != 6 || !strings.Contains(evs, "0001-01-01/100") {
		t.Errorf("after a total quota: %v", evs)
	}
	// Raising it forgets the crossings of the old limit; 13.5 of 15 is 90%: 80 again, not 100.
	if _, err := st.SetQuota(ctx, persistence.Quota{WalletID: p.ID, Period: "total", NodeMilliHours: 15_000}, audit, now); err != nil {
		t.Fatal(err)
	}
	if evs := strings.Join(quotaEvents(t, e), " "); strings.Count(evs, "/") != 5 || !strings.Contains(evs, "0001-01-01/80") {
		t.Errorf("after raising the total quota: %v", evs)
	}
	users, err := st.ClusterUsers(ctx, "alpha", "", 0)
	if err != nil || len(users) != 4 {
		t.Errorf("cluster users %+v, %v", users, err)
	}
}

func quotaEvents(t *testing.T, e *env) []string {
	t.Helper()
	evs, err := e.store.QuotaEvents(e.ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.PeriodStart.Format(time.DateOnly)+"/"+strconv.Itoa(ev.Threshold))
	}
	return out
}

func gzipBytes(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A log line with bytes PostgreSQL refuses in text (invalid UTF-8, NUL) is stored, with U+FFFD
// in their place; the file is not lost.
func TestBadTextIsStored(t *testing.T) {
	e := newEnv(t, "slurm-sacct", "alpha", "*")
	bad := sacctHeader +
		"1|1|b\xffob|ph\x00ys|phys|cpu|normal|alpha|COMPLETED|2026-01-10T08:00:00|2026-01-10T08:00:00|2026-01-10T10:00:00|02:00:00|7200|2|64|billing=64,cpu=64,node=2|n[01-02]\n" +
		"2|2|x|y|z|cpu|normal|alpha|COMPLETED|2026-01-10T08:00:00|2026-01-10T08:00:00|2026-01-10T10:00:00|\xff\x00:00|bad\xfe|2|64|cpu=64|n1\n"
	e.write("bad.txt", []byte(bad))
	if rep := e.run(); rep.NewRecords != 1 || rep.Errors != 1 {
		t.Fatalf("report %+v", rep)
	}
	errs, err := e.store.IngestErrors(e.ctx, "", 10)
	if err != nil || len(errs) != 1 || errs[0].Line != 3 {
		t.Fatalf("ingest errors %+v, %v", errs, err)
	}
	var user, group string
	if err := e.store.Pool().QueryRow(e.ctx, `SELECT user_name, group_name FROM usage_records`).Scan(&user, &group); err != nil {
		t.Fatal(err)
	}
	if user != "b\uFFFDob" || group != "ph\uFFFDys" {
		t.Errorf("stored %q, %q", user, group)
	}
}

// A source may declare the columns of header-less `sacct -n -P` files; a file that has a header
// anyway is read too (its header line is skipped).
func TestDeclaredColumns(t *testing.T) {
	e := newEnv(t, "slurm-sacct", "alpha", "*")
	src := persistence.IngestSource{Name: "nohdr", Dir: e.dir, Format: "slurm-sacct", Cluster: "alpha",
		Columns: []string{"JobID", "User", "State", "End", "ElapsedRaw", "AllocNodes"}}
	if err := ingest.Validate(&src, []string{e.dir}); err != nil {
		t.Fatal(err)
	}
	src, err := e.store.AddSource(e.ctx, src, persistence.AuditEntry{})
	if err != nil {
		t.Fatal(err)
	}
	e.src = src
	e.write("a.txt", []byte("10|ann|COMPLETED|2026-01-01T02:00:00|3600|2\n10.batch|ann|COMPLETED|2026-01-01T02:00:00|3600|1\n"))
	e.write("b.txt", []byte("JobID|User|State|End|ElapsedRaw|AllocNodes\n11|ben|COMPLETED|2026-01-02T02:00:00|1800|1\n"))
	if rep := e.run(); rep.NewRecords != 2 || rep.Errors != 0 {
		t.Fatalf("report %+v", rep)
	}
	e.totals(2, 9_000, 0)

	for _, bad := range []persistence.IngestSource{
		{Name: "x", Dir: e.dir, Format: "slurm-sacct", Cluster: "c", Columns: []string{"User", "State"}}, // no JobID
		{Name: "y", Dir: e.dir, Format: "pbs", Cluster: "c", Columns: []string{"JobID", "State"}},        // not sacct
	} {
		if err := ingest.Validate(&bad, []string{e.dir}); err == nil || !strings.Contains(err.Error(), "--columns") {
			t.Errorf("Validate(%+v) = %v", bad, err)
		}
	}
}

// A file read in pieces (ChunkRecords) stores, prices and charges exactly what one read does,
// and its row ends done.
func TestFileInPieces(t *testing.T) {
	defer func(n int) { ingest.ChunkRecords = n }(ingest.ChunkRecords)
	ingest.ChunkRecords = 2
	e := newEnv(t, "slurm-sacct", "alpha", "*")
	w, err := e.store.CreateSharedWallet(e.ctx, "physics", persistence.AuditEntry{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.AddMapping(e.ctx, accounting.Mapping{Group: "physics", WalletID: w.ID}, persistence.AuditEntry{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.AddRate(e.ctx, accounting.Rate{NodeHourMillipoints: 2000, GPUHourMillipoints: 10_000,
		EffectiveFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, persistence.AuditEntry{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.write("jobs.txt", []byte(sacctJobs))
	e.write("jobs.txt.gz", gzipBytes(t, sacctJobs+sacctJob7)) // read again from its start: only job 7 is new
	rep := e.run()
	if rep.NewRecords != 7 || rep.Read != 2 {
		t.Fatalf("report %+v", rep)
	}
	// Physics pays jobs 1, 2, 3, 5 and 6 (the group rule: no exception here) and 7; carol's
	// chem job is unassigned: 8 + 6 + 30 + 2 + 10 (one rate all year) + 1 = 57 points.
	var points, records int64
	if err := e.store.Pool().QueryRow(e.ctx, `SELECT sum(points), sum(records) FROM usage_charges`).Scan(&points, &records); err != nil {
		t.Fatal(err)
	}
	if records != 6 || points != 57 {
		t.Errorf("charges cover %d jobs for %d points, want 6 for 57", records, points)
	}
	files, err := e.store.ProcessedFiles(e.ctx, e.src.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Status != persistence.FileDone {
			t.Errorf("%s ends %s", f.Path, f.Status)
		}
	}
	if rep := e.run(); rep.Skipped != 2 || rep.NewRecords != 0 {
		t.Errorf("second run %+v", rep)
	}
}

// A last line without its newline is left until the file has been quiet for QuietPeriod, and
// then read even though the file did not change.
func TestQuietLastLine(t *testing.T) {
	e := newEnv(t, "slurm-sacct", "alpha", "*")
	p := e.write("jobs.txt", []byte(strings.TrimSuffix(sacctHeader+sacctJob7, "\n")))
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ingest.Run(e.ctx, e.store, e.src, []string{e.dir}, fi.ModTime())
	if err != nil || rep.NewRecords != 0 {
		t.Fatalf("first run %+v, %v", rep, err)
	}
	rep, err = ingest.Run(e.ctx, e.store, e.src, []string{e.dir}, fi.ModTime().Add(ingest.QuietPeriod))
	if err != nil || rep.NewRecords != 1 {
		t.Fatalf("run after the quiet period %+v, %v", rep, err)
	}
	if rep := e.run(); rep.Skipped != 1 || rep.NewRecords != 0 {
		t.Errorf("third run %+v", rep)
	}
}
