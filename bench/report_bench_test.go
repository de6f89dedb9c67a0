package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

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

// fillUsage stores n usage records once for the benchmarks of this binary (FillUsage).
func fillUsage(b *testing.B, n int) {
	reportOnce.Do(func() {
		reportEnd = UsageEnd
		var took time.Duration
		if took, reportErr = FillUsage(context.Background(), store, n); reportErr == nil {
			fmt.Printf("report bench: stored %d usage records in %s (%.0f records/s, records + rollups + charges)\n",
				n, took.Round(time.Second), float64(n)/took.Seconds())
		}
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
