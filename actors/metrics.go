package actors

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the grain and committer instruments of one node.
type Metrics struct {
	ActiveGrains  *prometheus.GaugeVec
	Commits       *prometheus.CounterVec
	BatchEntries  prometheus.Histogram
	BatchWallets  prometheus.Histogram
	CommitLatency prometheus.Histogram
	Fenced        prometheus.Counter
}

// NewMetrics creates the instruments and registers them with r (nil: not registered).
func NewMetrics(r prometheus.Registerer) *Metrics {
	m := &Metrics{
		ActiveGrains: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dw_active_grains", Help: "Grain activations on this node, by kind.",
		}, []string{"kind"}),
		Commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dw_ledger_commits_total", Help: "Group commits by outcome (ok, error, duplicate_key).",
		}, []string{"outcome"}),
		BatchEntries: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dw_ledger_commit_entries", Help: "Ledger entries per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		BatchWallets: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dw_ledger_commit_wallets", Help: "Wallets per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		CommitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dw_ledger_commit_seconds", Help: "Latency of one group commit.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14),
		}),
		Fenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dw_wallet_fenced_total", Help: "Wallet batches refused because another activation wrote the wallet.",
		}),
	}
	if r != nil {
		r.MustRegister(m.ActiveGrains, m.Commits, m.BatchEntries, m.BatchWallets, m.CommitLatency, m.Fenced)
	}
	return m
}

// IngestMetrics are the compute-accounting instruments of one node.
type IngestMetrics struct {
	Scans   *prometheus.CounterVec   // by source and outcome
	Records *prometheus.CounterVec   // new usage records, by source
	Errors  *prometheus.CounterVec   // bad lines and unreadable files, by source
	Seconds *prometheus.HistogramVec // scan duration, by source
	Charges *prometheus.CounterVec   // usage charges posted, by status (charged, unpaid)
	Points  prometheus.Counter       // points taken by usage charges
}

// NewIngestMetrics creates the instruments and registers them with r (nil: not registered).
func NewIngestMetrics(r prometheus.Registerer) *IngestMetrics {
	m := &IngestMetrics{
		Scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dw_ingest_scans_total", Help: "Scans of ingest sources run on this node, by source and outcome (ok, error, skipped: another scan held the source).",
		}, []string{"source", "outcome"}),
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dw_ingest_records_total", Help: "Usage records stored for the first time, by source.",
		}, []string{"source"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dw_ingest_errors_total", Help: "Bad lines and unreadable files, by source.",
		}, []string{"source"}),
		Seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dw_ingest_scan_seconds", Help: "Duration of one scan of an ingest source.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16),
		}, []string{"source"}),
		Charges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dw_usage_charges_total", Help: "Usage charges posted to wallets, by status (charged: in full; unpaid: the wallet could not pay all).",
		}, []string{"status"}),
		Points: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dw_usage_charged_points_total", Help: "Points taken from wallets by usage charges.",
		}),
	}
	if r != nil {
		r.MustRegister(m.Scans, m.Records, m.Errors, m.Seconds, m.Charges, m.Points)
	}
	return m
}
