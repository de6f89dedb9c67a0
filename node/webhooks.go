package node

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/divinewhispers/dw/webhooks"
)

// validateWebhooks checks the outgoing webhooks' settings.
func (c *Config) validateWebhooks() []error {
	var errs []error
	if c.WebhookLowBalance < 1 {
		errs = append(errs, errors.New("--webhook-low-balance must be at least 1"))
	}
	if c.WebhookRetryBase < 10*time.Millisecond || c.WebhookRetryBase > time.Hour {
		errs = append(errs, errors.New("--webhook-retry-base must be between 10ms and 1h"))
	}
	if c.WebhookTimeout < 100*time.Millisecond || c.WebhookTimeout > time.Minute {
		errs = append(errs, errors.New("--webhook-timeout must be between 100ms and 1m"))
	}
	return errs
}

// webhooks is the node's outgoing webhooks core and its worker, which every node runs: events
// recorded by any node are published by whichever claims them, each delivery is sent by one.
func (n *Node) webhooks(r prometheus.Registerer) (*webhooks.Service, *webhooks.Worker) {
	svc := &webhooks.Service{Store: n.db.Store, Guard: webhooks.Guard{AllowPrivate: n.cfg.WebhookAllowPrivate},
		Backoff: webhooks.Backoff{Base: n.cfg.WebhookRetryBase}}
	// A claimed delivery is this node's for twice the request's time limit and more: a node that
	// dies mid-request leaves it to another node that soon.
	w := &webhooks.Worker{Service: svc, Node: n.cfg.NodeName, Log: n.log, Timeout: n.cfg.WebhookTimeout,
		Lease: 2*n.cfg.WebhookTimeout + 5*time.Second, LowBalance: int64(n.cfg.WebhookLowBalance),
		Metrics: webhooks.NewMetrics(r)}
	if n.cfg.WebhookAllowPrivate {
		n.log.Warn("--webhook-allow-private: webhook endpoints may be loopback or private addresses")
	}
	return svc, w
}
