package webhooks

import "github.com/prometheus/client_golang/prometheus"

// Metrics count a node's delivery attempts. A nil *Metrics counts nothing.
type Metrics struct {
	attempts *prometheus.CounterVec
	latency  prometheus.Histogram
}

// NewMetrics registers the webhook metrics with r (nil: unregistered).
func NewMetrics(r prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dw_webhook_attempts_total", Help: "Webhook delivery attempts by outcome: succeeded, retry (failed, tried again later) or failed (given up).",
		}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dw_webhook_attempt_seconds", Help: "Duration of webhook delivery attempts.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
		}),
	}
	if r != nil {
		r.MustRegister(m.attempts, m.latency)
	}
	return m
}

func (m *Metrics) observe(a Attempt) {
	if m == nil {
		return
	}
	outcome := "retry"
	switch {
	case a.Succeeded():
		outcome = StatusSucceeded
	case a.GiveUp:
		outcome = StatusFailed
	}
	m.attempts.WithLabelValues(outcome).Inc()
	m.latency.Observe(float64(a.DurationMS) / 1000)
}
