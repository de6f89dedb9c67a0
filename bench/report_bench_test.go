package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/persistence"
)

var (
	reportOnce sync.Once
	reportErr  error
	reportEnd  time.Time
)

// reportRecords is how many usage records BenchmarkOverview stores first: 10 million unless
// DW_BENCH_REPORT_RECORDS says otherwise.
func reportRecords() int {
	if n, err := strconv.Atoi(os.Getenv("DW_BENCH_REPORT_RECORDS")); err == nil && n > 0 {
		return n
	}
	return 10_000_000
}

// fillUsage stores n usage records over two years, as ingest does (SaveFile: records, rollups
// and charges in one transaction per "file" of 50,000 jobs, in time order): 3 clusters, 8
// partitions, 3,000 users in 100 accounts and 30 groups, each group mapped to a wallet, 15%
// GPU jobs.
func fillUsage(b *testing.B, n int) {
	reportOnce.Do(func() {
		ctx := context.Background()
		start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		span := 2 * 365 * 24 * time.Hour
		reportEnd = start.Add(span)
		ids, err := store.CreateWallets(ctx, 30, "report")
		if err != nil {
			reportErr = err
			return
		}
		for g, id := range ids {
			if _, _, err := store.AddMapping(ctx, accounting.Mapping{Group: fmt.Sprint("grp", g), WalletID: id}, persistence.AuditEntry{}, time.Now()); err != nil {
				reportErr = err
				return
			}
		}
		if _, err := store.AddRate(ctx, accounting.Rate{NodeHourMillipoints: 1500, GPUHourMillipoints: 8000, EffectiveFrom: start},
			persistence.AuditEntry{}, time.Now()); err != nil {
			reportErr = err
			return
		}
		src, err := store.CreateSource(ctx, persistence.IngestSource{Name: "report-bench", Dir: os.TempDir(), Format: "slurm-sacct",
			Cluster: "c0", Interval: time.Minute, Enabled: true})
		if err != nil {
			reportErr = err
			return
		}
		rng := rand.New(rand.NewPCG(1, 2))
		const batch = 50_000
		began := time.Now()
		for done := 0; done < n; done += batch {
			recs := make([]accounting.Record, min(batch, n-done))
			for i := range recs {
				k := done + i
				end := start.Add(time.Duration(int64(span) / int64(n) * int64(k)))
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
				reportErr = err
				return
			}
		}
		// As in a system that has been running: autovacuum has been over the new rows (here
		// at once, so that it does not run during the measurements).
		took := time.Since(began)
		for _, table := range []string{"usage_rollups", "usage_records"} {
			if _, err := store.Pool().Exec(ctx, `VACUUM ANALYZE `+table); err != nil {
				reportErr = err
				return
			}
		}
		fmt.Printf("report bench: stored %d usage records in %s (%.0f records/s, records + rollups + charges)\n",
			n, took.Round(time.Second), float64(n)/took.Seconds())
	})
	if reportErr != nil {
		b.Fatal(reportErr)
	}
}

// BenchmarkOverview answers GET /api/v1/accounting/overview's query (totals, top 10 wallets,
// users and partitions) over 10 million usage records: all time, one year, and 30 days that
// straddle two months (day rollups at both ends). Target ≤ 100 ms.
func BenchmarkOverview(b *testing.B) {
	setup(b)
	fillUsage(b, reportRecords())
	ctx := context.Background()
	cases := []struct {
		name     string
		from, to time.Time
	}{
		{"all", time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), reportEnd.AddDate(0, 0, 1)},
		{"year", reportEnd.AddDate(-1, 0, 0), reportEnd},
		{"30days", time.Date(2025, 6, 17, 0, 0, 0, 0, time.UTC), time.Date(2025, 7, 17, 0, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var ov persistence.Overview
			for b.Loop() {
				var err error
				if ov, err = store.Overview(ctx, c.from, c.to, 10); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/overview")
			b.ReportMetric(float64(ov.Jobs), "jobs")
		})
	}
	b.Run("usage-by-user-month", func(b *testing.B) {
		for b.Loop() {
			if _, err := store.Usage(ctx, persistence.UsageQuery{GroupBy: "user", Bucket: "month", From: reportEnd.AddDate(-1, 0, 0), To: reportEnd}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/query")
	})
}
