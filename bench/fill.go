package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/persistence"
)

// UsageStart and UsageEnd bound the usage FillUsage stores: two years from 2025-01-01 UTC.
var (
	UsageStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	UsageEnd   = UsageStart.Add(2 * 365 * 24 * time.Hour)
)

// FillUsage stores n usage records over [UsageStart, UsageEnd), as ingest does (SaveFile:
// records, rollups and charges in one transaction per "file" of 50,000 jobs, in time order):
// 3 clusters, 8 partitions, 3,000 users in 100 accounts and 30 groups, each group mapped to a
// wallet, 15% GPU jobs; then VACUUM ANALYZE, as autovacuum would have done in a system that
// has been running. It returns how long storing took (without the VACUUM). It is for
// benchmarks: the same seed gives the same records. Errors are the store's.
func FillUsage(ctx context.Context, store *persistence.Store, n int) (time.Duration, error) {
	span := UsageEnd.Sub(UsageStart)
	ids, err := store.CreateWallets(ctx, 30, "report")
	if err != nil {
		return 0, err
	}
	for g, id := range ids {
		if _, _, err := store.AddMapping(ctx, accounting.Mapping{Group: fmt.Sprint("grp", g), WalletID: id}, persistence.AuditEntry{}, time.Now()); err != nil {
			return 0, err
		}
	}
	if _, err := store.AddRate(ctx, accounting.Rate{NodeHourMillipoints: 1500, GPUHourMillipoints: 8000, EffectiveFrom: UsageStart},
		persistence.AuditEntry{}, time.Now()); err != nil {
		return 0, err
	}
	src, err := store.CreateSource(ctx, persistence.IngestSource{Name: "report-bench", Dir: os.TempDir(), Format: "slurm-sacct",
		Cluster: "c0", Interval: time.Minute, Enabled: true})
	if err != nil {
		return 0, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const batch = 50_000
	began := time.Now()
	for done := 0; done < n; done += batch {
		recs := make([]accounting.Record, min(batch, n-done))
		for i := range recs {
			k := done + i
			end := UsageStart.Add(time.Duration(int64(span) / int64(n) * int64(k)))
			elapsed := time.Duration(1+rng.IntN(48*60)) * time.Minute
			user := rng.IntN(3000)
			r := accounting.Record{
				Cluster: fmt.Sprint("c", k%3), JobID: strconv.Itoa(k + 1), User: fmt.Sprint("u", user),
				Group: fmt.Sprint("grp", user%30), Account: fmt.Sprint("acct", user%100), Partition: fmt.Sprint("p", rng.IntN(8)),
				State: "COMPLETED", Nodes: 1 + rng.IntN(4), CPUs: 32, Elapsed: elapsed,
				Submit: end.Add(-elapsed - time.Minute), Start: end.Add(-elapsed), End: end,
			}
			if rng.IntN(100) < 15 {
				r.GPUs = 1 + rng.IntN(8)
			}
			recs[i] = r
		}
		if _, err := store.SaveFile(ctx, persistence.FileResult{Records: recs, File: persistence.ProcessedFile{
			SourceID: src.ID, Path: fmt.Sprint("/bench/report-", done), Status: persistence.FileDone, MTime: time.Now()}}, time.Now()); err != nil {
			return 0, err
		}
	}
	took := time.Since(began)
	for _, table := range []string{"usage_rollups", "usage_records"} {
		if _, err := store.Pool().Exec(ctx, `VACUUM ANALYZE `+table); err != nil {
			return 0, err
		}
	}
	return took, nil
}
