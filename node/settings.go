package node

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/ratelimit"
	"github.com/divinewhispers/dw/settings"
)

// Built-in retention periods of the rows the node would otherwise keep forever (settings
// retention_*; 0 keeps them).
const (
	DefaultRetentionIngestErrors = 90 * 24 * time.Hour
	DefaultRetentionMailOutbox   = 30 * 24 * time.Hour
	DefaultRetentionTokens       = 7 * 24 * time.Hour
)

// runtimeSettings registers the node's settings of the runtime configuration — the
// interpretation price, the rate limit of each route class, the retention periods — with the
// node's flags as their defaults, and loads the values stored in the database. Another
// package registers its own (payment_packages, for one) on Settings() before the node loads
// them, or later: a setting registered later is applied at the next reload.
func (n *Node) runtimeSettings(ctx, workCtx context.Context, limiter *ratelimit.Limiter) (*settings.Service, error) {
	cfg, def := n.cfg, Defaults()
	svc := settings.New(n.db.Store, n.log)

	var price atomic.Int64
	price.Store(int64(cfg.PriceInterpretation))
	n.jobs.PriceNow = price.Load
	defs := []settings.Definition{
		settings.Int("price_interpretation", "points held and captured per interpretation job (jobs submitted from now on)",
			int64(cfg.PriceInterpretation), 0, 1_000_000, cfg.PriceInterpretation != def.PriceInterpretation, price.Store),
	}

	rates, err := cfg.rateLimits()
	if err != nil {
		return nil, err
	}
	for _, class := range ratelimit.Classes {
		defs = append(defs, settings.Text("rate_limit_"+class,
			"requests of the route class "+class+" per key and window, such as 20/m, 5/s or 100/10m, or off (no effect on a node started with --rate-limit off)",
			rates[class].String(), rates[class] != ratelimit.DefaultRates()[class],
			func(s string) (string, error) {
				r, err := ratelimit.ParseRate(s)
				return r.String(), err
			},
			func(s string) {
				if limiter != nil {
					r, _ := ratelimit.ParseRate(s)
					limiter.SetRate(class, r)
				}
			}))
	}

	var keep struct{ ingest, mail, tokens, audit atomic.Int64 }
	kick := make(chan struct{}, 1)
	retention := func(key, what string, d, minV time.Duration, to *atomic.Int64) settings.Definition {
		return settings.Duration(key, what, d, minV, 100*365*24*time.Hour, true, false, func(v time.Duration) {
			to.Store(int64(v))
			select {
			case kick <- struct{}{}:
			default:
			}
		})
	}
	defs = append(defs,
		retention("retention_ingest_errors", "how long ingest line errors are kept", DefaultRetentionIngestErrors, time.Hour, &keep.ingest),
		retention("retention_mail_outbox", "how long mails sent, failed or expired stay in the outbox (their bodies are erased once sent)",
			DefaultRetentionMailOutbox, time.Hour, &keep.mail),
		retention("retention_tokens", "how long refresh and password-reset tokens are kept after they expired", DefaultRetentionTokens,
			24*time.Hour, &keep.tokens),
		retention("retention_audit_logs", `how long audit rows are kept ("0": forever; at least 30d, which the login and reset limits count)`,
			0, 30*24*time.Hour, &keep.audit),
	)
	defs = append(defs, settings.Duration("retention_job_results",
		"how long an interpretation's result is kept (results stored from now on; the --result-retention flag)",
		cfg.ResultRetention, time.Second, 10*365*24*time.Hour, false, cfg.ResultRetention != def.ResultRetention,
		func(v time.Duration) { n.resultRetention.Store(int64(v)) }))
	if err := svc.Register(defs...); err != nil {
		return nil, err
	}
	if err := svc.Load(ctx); err != nil {
		return nil, err
	}
	n.work.Add(2)
	go func() { defer n.work.Done(); svc.Run(workCtx) }()
	go func() {
		defer n.work.Done()
		n.everyOr(workCtx, time.Minute, kick, "retention sweep", func(ctx context.Context) error {
			deleted, err := n.db.Store.ExpireRows(ctx, persistence.Retention{
				IngestErrors: time.Duration(keep.ingest.Load()), MailOutbox: time.Duration(keep.mail.Load()),
				Tokens: time.Duration(keep.tokens.Load()), AuditLogs: time.Duration(keep.audit.Load())})
			for what, k := range deleted {
				if k > 0 {
					n.log.Info("expired rows removed", "table", what, "count", k)
				}
			}
			if err != nil {
				return err
			}
			// A job or draw of a deleted user stored just after the deletion (its request
			// passed the session check just before) is erased too.
			k, err := n.db.Store.SweepDeleted(ctx, 24*time.Hour)
			if k > 0 {
				n.log.Info("late rows of deleted users erased", "count", k)
			}
			return err
		})
	}()
	return svc, nil
}

// Settings is the node's runtime configuration.
func (n *Node) Settings() *settings.Service { return n.settings }
