package ingest_test

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/actors"
	"github.com/divinewhispers/dw/ingest"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/protos/walletpb"
)

// sameKeyLine is job 41 of alice (XDMoD's case, written anew): submitted and started at the
// same times in every version, with nodes nodes and an end hours after the start.
func sameKeyLine(nodes, hours int) string {
	start := time.Date(2026, 6, 28, 2, 0, 0, 0, time.UTC)
	end := start.Add(time.Duration(hours) * time.Hour)
	return fmt.Sprintf("41|41|alice|physics|phys|cpu|normal|alpha|TIMEOUT|2026-06-26T13:57:00|%s|%s|%d:00:00|%d|%d|%d|cpu=%d,node=%d|n01\n",
		start.Format("2006-01-02T15:04:05"), end.Format("2006-01-02T15:04:05"), hours, hours*3600, nodes, 8*nodes, 8*nodes, nodes)
}

// storedJob41 is the node-seconds stored for job 41 (-1: none stored).
func storedJob41(e *env) int64 {
	e.t.Helper()
	var n int64 = -1
	rows, err := e.store.Pool().Query(e.ctx, `SELECT node_seconds FROM usage_records WHERE job_id = '41'`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	count := 0
	for rows.Next() {
		count++
		if err := rows.Scan(&n); err != nil {
			e.t.Fatal(err)
		}
	}
	if count > 1 {
		e.t.Fatalf("job 41 stored %d times", count)
	}
	return n
}

// rollupsMatchRecords checks that every rollup row equals the SUM over the records of its
// dimension, grain and bucket, and that no records are missing from the rollups.
func rollupsMatchRecords(e *env) {
	e.t.Helper()
	var diff int
	err := e.store.Pool().QueryRow(e.ctx, `WITH want AS (
			SELECT d.dim, b.grain, b.bucket, d.key, count(*) AS jobs, count(*) FILTER (WHERE s.gpus > 0) AS gpu_jobs,
				sum(s.node_seconds) AS node_seconds, sum(s.gpu_seconds) AS gpu_seconds, sum(s.charge_units) AS charge_units
			FROM (SELECT *, COALESCE(end_at, start_at, ingested_at) AS at FROM usage_records) s,
				LATERAL (VALUES ('all', ''),
					('wallet', CASE WHEN s.wallet_id IS NOT NULL THEN s.wallet_id::text WHEN s.mapping_id IS NOT NULL THEN 'excluded' ELSE '' END),
					('user', s.user_name), ('group', s.group_name), ('account', s.account), ('partition', s.partition),
					('cluster', s.cluster)) d (dim, key),
				LATERAL (VALUES ('d'::"char", (s.at AT TIME ZONE 'UTC')::date),
					('m'::"char", date_trunc('month', s.at AT TIME ZONE 'UTC')::date),
					('y'::"char", date_trunc('year', s.at AT TIME ZONE 'UTC')::date)) b (grain, bucket)
			GROUP BY 1, 2, 3, 4
		), got AS (
			SELECT dim, grain, bucket, key, jobs, gpu_jobs, node_seconds, gpu_seconds, charge_units FROM usage_rollups
			WHERE jobs <> 0 OR node_seconds <> 0 OR gpu_seconds <> 0 OR charge_units <> 0
		)
		SELECT (SELECT count(*) FROM (SELECT * FROM want EXCEPT SELECT * FROM got) a) +
			(SELECT count(*) FROM (SELECT * FROM got EXCEPT SELECT * FROM want) b)`).Scan(&diff)
	if err != nil {
		e.t.Fatal(err)
	}
	if diff != 0 {
		e.t.Errorf("%d rollup rows differ from the sums over the records", diff)
	}
}

// The two versions of job 41 in the synthetic XDMoD case: the same times, 32 nodes or 1.
var (
	wide, narrow = sameKeyLine(32, 72), sameKeyLine(1, 72)
)

// wideWins says which version the same-key rule keeps, from the parsed records: the answer
// every store must give.
func wideWins(t *testing.T) bool {
	t.Helper()
	var recs []accounting.Record
	for _, l := range []string{wide, narrow} {
		res, err := accounting.Parse(accounting.FormatSacct, stringsReader(sacctHeader+l), accounting.Options{Cluster: "alpha", Final: true})
		if err != nil || len(res.Records) != 1 {
			t.Fatalf("parse: %v %+v", err, res)
		}
		recs = append(recs, res.Records[0])
	}
	return accounting.Wins(recs[0], recs[1])
}

// TestSameKeyOneFile: both versions in one file, in either order: one stored result.
func TestSameKeyOneFile(t *testing.T) {
	t.Parallel()
	want := int64(72 * 3600)
	if wideWins(t) {
		want *= 32
	}
	for _, order := range [][2]string{{wide, narrow}, {narrow, wide}} {
		e := newEnv(t, "slurm-sacct", "alpha", "*")
		e.write("jobs.txt", []byte(sacctHeader+order[0]+order[1]))
		if rep := e.run(); rep.NewRecords != 1 || rep.ReplacedRecords != 0 {
			t.Errorf("report %+v", rep)
		}
		if got := storedJob41(e); got != want {
			t.Errorf("stored %d node-seconds, want %d", got, want)
		}
		rollupsMatchRecords(e)
	}
}

// TestSameKeyConcurrentFiles: the versions in two files of one scan, stored at once (two
// file transactions in flight), many times and with the file names swapped: always the one
// result the rule gives, and rollups equal to the sums over the records.
func TestSameKeyConcurrentFiles(t *testing.T) {
	t.Parallel()
	want := int64(72 * 3600)
	if wideWins(t) {
		want *= 32
	}
	const runs = 12
	got := map[int64]int{}
	for i := range runs {
		e := newEnv(t, "slurm-sacct", "alpha", "*")
		a, b := wide, narrow
		if i%2 == 1 {
			a, b = b, a
		}
		e.write("a.txt", []byte(sacctHeader+a))
		e.write("b.txt", []byte(sacctHeader+b))
		rep := e.run()
		if rep.NewRecords != 1 {
			t.Errorf("run %d: %+v", i, rep)
		}
		got[storedJob41(e)]++
		rollupsMatchRecords(e)
	}
	if len(got) != 1 || got[want] != runs {
		t.Errorf("stored node-seconds over %d runs: %v; want %d every time", runs, got, want)
	}
}

// TestSameKeyTwoScansCharges: a version stored and charged by one scan, the other version in a
// later scan, in both orders and for both directions (the later record has more usage, or
// less). The later End wins: when it comes second the stored usage, rollups and charges are
// corrected once (a correcting charge or a refund in the wallet's ledger); when it comes first
// the other changes nothing. Both orders end with the same record and the same balance, and
// the balance equals the sum of the wallet's ledger.
func TestSameKeyTwoScansCharges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		first, second string // first ends earlier: second wins
		winner        int64  // node-seconds
		correction    int64  // points, when the winner comes second
	}{
		// 1 point per node-hour: 32 nodes × 72 h = 2,304 points; 1 node × 73 h = 73.
		{"less usage wins: a refund", sameKeyLine(32, 72), sameKeyLine(1, 73), 73 * 3600, 73 - 2304},
		{"more usage wins: a correcting charge", sameKeyLine(1, 72), sameKeyLine(32, 73), 32 * 73 * 3600, 32*73 - 72},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var balances []int64
			for _, winnerSecond := range []bool{true, false} {
				e := newEnv(t, "slurm-sacct", "alpha", "*")
				ctx, st := e.ctx, e.store
				w, wallets, charger := physicsWallet(t, e, 10_000)
				one, two := tc.first, tc.second
				if !winnerSecond {
					one, two = two, one
				}
				e.write("one.txt", []byte(sacctHeader+one))
				if rep := e.run(); rep.NewRecords != 1 || rep.Charges != 1 {
					t.Fatalf("first scan: %+v", rep)
				}
				if _, err := charger.Post(ctx); err != nil {
					t.Fatal(err)
				}
				e.write("two.txt", []byte(sacctHeader+two))
				rep := e.run()
				replaced, charges := int64(0), 0
				if winnerSecond {
					replaced, charges = 1, 1
				}
				if rep.NewRecords != 0 || rep.ReplacedRecords != replaced || rep.Charges != charges {
					t.Errorf("second scan (winner second %v): %+v", winnerSecond, rep)
				}
				if n, err := charger.Post(ctx); err != nil || n != charges {
					t.Errorf("posted %d, %v; want %d", n, err, charges)
				}
				// Scanned again, and the same files once more under other names: nothing moves.
				e.write("three.txt", []byte(sacctHeader+one+two))
				if rep := e.run(); rep.NewRecords != 0 || rep.ReplacedRecords != 0 || rep.Charges != 0 {
					t.Errorf("third scan: %+v", rep)
				}
				if n, _ := charger.Post(ctx); n != 0 {
					t.Errorf("third scan posted %d charges", n)
				}
				if got := storedJob41(e); got != tc.winner {
					t.Errorf("stored %d node-seconds, want %d", got, tc.winner)
				}
				rollupsMatchRecords(e)

				cs, err := st.Charges(ctx, persistence.ChargeFilter{WalletID: w.ID})
				if err != nil {
					t.Fatal(err)
				}
				var sum int64
				for _, c := range cs {
					sum += c.Points
					if c.Status != persistence.ChargeCharged {
						t.Errorf("charge %+v not posted in full", c)
					}
				}
				if winnerSecond && (len(cs) != 2 || cs[0].Points != tc.correction || cs[0].Origin[:11] != "correction:" ||
					!strings.HasPrefix(cs[0].CorrectionKey, "usage-correction:")) {
					t.Errorf("charges %+v; want the correction %d first", cs, tc.correction)
				}
				if winnerSecond {
					// The wallet's ledger shows the correction once, under the key derived from
					// the replacement; its sign is the correction's.
					var n, delta int64
					if err := st.Pool().QueryRow(ctx, `SELECT count(*), COALESCE(sum(balance_delta), 0)::bigint FROM transactions
						WHERE wallet_id = $1 AND idempotency_key = $2`, w.ID, cs[0].CorrectionKey).Scan(&n, &delta); err != nil {
						t.Fatal(err)
					}
					if n != 1 || delta != -tc.correction {
						t.Errorf("ledger: %d entries of the correction moving %d; want 1 moving %d", n, delta, -tc.correction)
					}
				}
				if sum != tc.winner/3600 {
					t.Errorf("charges sum to %d points, want %d (the winner's price)", sum, tc.winner/3600)
				}
				res, err := wallets.Do(ctx, &walletpb.Request{Op: walletpb.Op_OP_GET, WalletId: w.ID})
				if err != nil {
					t.Fatal(err)
				}
				var ledger int64
				if err := st.Pool().QueryRow(ctx, `SELECT COALESCE(sum(balance_delta), 0)::bigint FROM transactions WHERE wallet_id = $1`, w.ID).Scan(&ledger); err != nil {
					t.Fatal(err)
				}
				if res.Wallet.Balance != ledger || res.Wallet.Balance != 10_000-tc.winner/3600 {
					t.Errorf("balance %d, ledger %d, want %d", res.Wallet.Balance, ledger, 10_000-tc.winner/3600)
				}
				balances = append(balances, res.Wallet.Balance)
			}
			if balances[0] != balances[1] {
				t.Errorf("balances differ by order: %v", balances)
			}
		})
	}
}

// TestSameKeyConcurrentScans: one source scanned twice at once, each scan seeing both files
// (the later End in one, the larger usage in the other): one result, rollups equal to the
// records' sums.
func TestSameKeyConcurrentScans(t *testing.T) {
	t.Parallel()
	for i := range 4 {
		e := newEnv(t, "slurm-sacct", "alpha", "*")
		e.write("a.txt", []byte(sacctHeader+sameKeyLine(32, 72)))
		e.write("b.txt", []byte(sacctHeader+sameKeyLine(1, 73)))
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if _, err := ingest.Run(e.ctx, e.store, e.src, []string{e.dir}, time.Now()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := storedJob41(e); got != 73*3600 {
			t.Errorf("run %d: stored %d node-seconds, want %d (the later End)", i, got, 73*3600)
		}
		rollupsMatchRecords(e)
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

// TestSameKeyRefundCapped: a refund credits at most what the wallet paid for usage. The first
// version (2,304 points) finds 100 in the wallet and is paid 100 (unpaid for the rest); the
// winner (73 points) asks a refund of 2,231, which credits the 100 paid, no more.
func TestSameKeyRefundCapped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "slurm-sacct", "alpha", "*")
	ctx, st := e.ctx, e.store
	w, wallets, charger := physicsWallet(t, e, 100)
	e.write("one.txt", []byte(sacctHeader+sameKeyLine(32, 72)))
	e.run()
	if _, err := charger.Post(ctx); err != nil {
		t.Fatal(err)
	}
	e.write("two.txt", []byte(sacctHeader+sameKeyLine(1, 73)))
	if rep := e.run(); rep.ReplacedRecords != 1 || rep.Charges != 1 {
		t.Fatalf("second scan: %+v", rep)
	}
	for range 2 { // posted twice: credited once
		if _, err := charger.Post(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := st.Charges(ctx, persistence.ChargeFilter{WalletID: w.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Points != 73-2304 || cs[0].ChargedPoints != 100 || cs[0].Status != persistence.ChargeUnpaid ||
		cs[1].Points != 2304 || cs[1].ChargedPoints != 100 {
		t.Errorf("charges %+v", cs)
	}
	res, err := wallets.Do(ctx, &walletpb.Request{Op: walletpb.Op_OP_GET, WalletId: w.ID})
	if err != nil {
		t.Fatal(err)
	}
	if res.Wallet.Balance != 100 {
		t.Errorf("balance %d, want 100 (the 100 paid credited back)", res.Wallet.Balance)
	}
}

// TestSameKeyPieces: one file read in pieces of one record, the two versions of job 41 in
// different pieces (stored one after the other), in both orders: the same result as one piece.
func TestSameKeyPieces(t *testing.T) {
	defer func(n int) { ingest.ChunkRecords = n }(ingest.ChunkRecords)
	ingest.ChunkRecords = 1
	want := int64(72 * 3600)
	if wideWins(t) {
		want *= 32
	}
	for _, order := range [][2]string{{wide, narrow}, {narrow, wide}} {
		e := newEnv(t, "slurm-sacct", "alpha", "*")
		e.write("jobs.txt", []byte(sacctHeader+order[0]+sacctJob7+order[1]))
		if rep := e.run(); rep.NewRecords != 2 {
			t.Errorf("report %+v", rep)
		}
		if got := storedJob41(e); got != want {
			t.Errorf("stored %d node-seconds, want %d", got, want)
		}
		rollupsMatchRecords(e)
	}
}

// TestSameKeyRefundSettleLost: a refund the wallet took but whose charge was never marked
// settled (a crash between the two) is settled with the entry already made: credited once.
func TestSameKeyRefundSettleLost(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "slurm-sacct", "alpha", "*")
	ctx, st := e.ctx, e.store
	w, wallets, charger := physicsWallet(t, e, 10_000)
	e.write("one.txt", []byte(sacctHeader+sameKeyLine(32, 72)))
	e.run()
	if _, err := charger.Post(ctx); err != nil {
		t.Fatal(err)
	}
	e.write("two.txt", []byte(sacctHeader+sameKeyLine(1, 73)))
	e.run()
	pending, err := st.PendingCharges(ctx, 10)
	if err != nil || len(pending) != 1 || pending[0].Points != 73-2304 {
		t.Fatalf("pending %+v, %v", pending, err)
	}
	// The first attempt: the wallet credited it, the charge stayed pending.
	if _, err := wallets.Do(ctx, &walletpb.Request{Op: walletpb.Op_OP_ADJUST, WalletId: w.ID, Amount: 2304 - 73,
		IdempotencyKey: pending[0].IdempotencyKey(), Reason: "first attempt"}); err != nil {
		t.Fatal(err)
	}
	if n, err := charger.Post(ctx); err != nil || n != 1 {
		t.Fatalf("posted %d, %v", n, err)
	}
	res, err := wallets.Do(ctx, &walletpb.Request{Op: walletpb.Op_OP_GET, WalletId: w.ID})
	if err != nil {
		t.Fatal(err)
	}
	if res.Wallet.Balance != 10_000-73 {
		t.Errorf("balance %d, want %d (the refund credited once)", res.Wallet.Balance, 10_000-73)
	}
	cs, err := st.Charges(ctx, persistence.ChargeFilter{WalletID: w.ID, Status: persistence.ChargeCharged})
	if err != nil || len(cs) != 2 || cs[0].ChargedPoints != 2304-73 || cs[0].TransactionID == "" {
		t.Errorf("charges %+v, %v", cs, err)
	}
}

// physicsWallet gives e a shared wallet "physics" holding deposit points, a rate of 1 point per
// node-hour, a mapping of group physics to it, and a charger posting to it through local grains.
func physicsWallet(t *testing.T, e *env, deposit int64) (persistence.WalletRef, *actors.Wallets, *actors.Charger) {
	t.Helper()
	ctx, st := e.ctx, e.store
	audit := persistence.AuditEntry{IP: "test"}
	now := time.Now()
	w, err := st.CreateSharedWallet(ctx, "physics", audit)
	if err != nil {
		t.Fatal(err)
	}
	wallets, stop := node.LocalWallets(st, slog.New(slog.DiscardHandler))
	t.Cleanup(stop)
	if _, err := wallets.Do(ctx, &walletpb.Request{Op: walletpb.Op_OP_DEPOSIT, WalletId: w.ID, Amount: deposit, IdempotencyKey: "dep"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddRate(ctx, accounting.Rate{NodeHourMillipoints: 1000, EffectiveFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, audit, now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AddMapping(ctx, accounting.Mapping{Group: "physics", WalletID: w.ID}, audit, now); err != nil {
		t.Fatal(err)
	}
	return w, wallets, &actors.Charger{Store: st, Wallets: wallets}
}
