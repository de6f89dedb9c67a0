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
