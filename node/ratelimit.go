package node

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/ratelimit"
)

// rateLimiter builds the limiter of the gateway (nil with --rate-limit off): counts shared
// through the database, refusals of the auth class audited once per key and window, old windows
// swept.
func (n *Node) rateLimiter(workCtx context.Context, reg prometheus.Registerer) (*ratelimit.Limiter, error) {
	if n.cfg.RateLimit == "off" {
		n.log.Warn("rate limits are off (--rate-limit off): run so only behind a trusted front")
		return nil, nil
	}
	rates, err := n.cfg.rateLimits()
	if err != nil {
		return nil, err
	}
	store := n.db.Store.RateLimits()
	var lastWarn atomic.Int64
	l := ratelimit.New(ratelimit.Config{Rates: rates, Store: store, Registerer: reg,
		OnRefused: func(class, key string, window time.Time) { n.auditRefusal(class, key, window, rates[class]) },
		OnStoreError: func(err error) { // one line per 10 s, not one per request
			if now := time.Now().UnixNano(); now-lastWarn.Load() > int64(10*time.Second) {
				lastWarn.Store(now)
				n.log.Warn("rate limits: the shared count is unreachable; this node counts alone", "err", err)
			}
		}})
	n.work.Add(1)
	go func() {
		defer n.work.Done()
		n.every(workCtx, 30*time.Second, "rate limit sweep", func(ctx context.Context) error {
			l.Sweep(time.Now())
			_, err := store.Sweep(ctx, time.Now().Add(-time.Minute))
			return err
		})
	}()
	return l, nil
}

// auditRefusal writes one audit row when a key of the auth class first hits its limit in a
// window (anywhere in the cluster); other classes are only counted in dw_rate_limited_total.
func (n *Node) auditRefusal(class, key string, window time.Time, rate ratelimit.Rate) {
	if class != ratelimit.ClassAuth {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	detail, _ := json.Marshal(map[string]any{"class": class, "key": key, "window_start": window,
		"limit": rate.String()})
	a := persistence.AuditEntry{Action: "rate_limit.exceeded", TargetType: "rate_limit", TargetID: key, Detail: detail}
	if ip, ok := strings.CutPrefix(key, "ip:"); ok {
		a.IP = ip
	}
	if err := n.db.Store.Audit(ctx, a); err != nil {
		n.log.Warn("rate limits: audit row", "err", err)
	}
}
