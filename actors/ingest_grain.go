package actors

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/ingest"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/protos/ingestpb"
)

// IngestKind is the cluster kind of ingest-source grains; a grain's identity is its source id.
const IngestKind = "ingest-source"

// IngestDeps is what every ingest-source grain of a node shares.
type IngestDeps struct {
	Store   *persistence.Store
	Log     *slog.Logger
	Charger *Charger       // posts the charges a scan stored; nil = left for the next round
	Metrics *IngestMetrics // may be nil
	// Roots are the node's ingest roots: every scan checks its source against them again.
	Roots []string
}

// NewIngestKind returns the cluster kind for ingest-source grains.
func NewIngestKind(d *IngestDeps) *pcluster.Kind {
	return pcluster.NewKind(IngestKind, actor.PropsFromProducer(func() actor.Actor { return &ingestGrain{d: d} }))
}

type (
	ingestTick struct{}
	scanDone   struct {
		report ingest.Report
		ran    bool
		err    error
		took   time.Duration
		// refused is the refusal this scan met (see ingest.IsRefused), "" if none; repeated is
		// true when it is the one recorded before, not recorded again.
		refused  string
		repeated bool
	}
)

// ingestGrain scans one source on its interval. Only one scan of a source runs at a time in the
// whole cluster: the scan holds the source's advisory lock in PostgreSQL, so a second activation
// (after a topology change) or a CLI run simply skips its turn.
type ingestGrain struct {
	d        *IngestDeps
	id       string
	src      *persistence.IngestSource
	scanning bool
	stop     chan struct{}
	// refused is the last refusal recorded for this source: a source refused at every scan is
	// recorded and audited once, until it changes or a scan succeeds.
	refused string
}

func (g *ingestGrain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *pcluster.ClusterInit:
		g.id = m.Identity.Identity
	case *actor.Stopping:
		if g.stop != nil {
			close(g.stop)
			g.stop = nil
		}
	case *ingestpb.IngestCommand:
		ctx.Respond(g.command(ctx, m))
	case *ingestTick:
		// The source is read again first: it may have been disabled, removed or changed.
		if g.reload(ctx) == nil {
			g.scan(ctx)
		}
	case *scanDone:
		g.scanning = false
		g.refused = m.refused
		switch {
		case m.refused != "" && m.repeated:
			g.d.Log.Debug("ingest scan refused again", "source", g.name(), "err", m.err)
		case m.err != nil:
			g.d.Log.Warn("ingest scan failed", "source", g.name(), "err", m.err)
		case m.ran && (m.report.NewRecords > 0 || m.report.ReplacedRecords > 0 || m.report.Errors > 0):
			g.d.Log.Info("ingest scan", "source", g.name(), "report", m.report.String())
		}
		if mt := g.d.Metrics; mt != nil {
			outcome := "ok"
			switch {
			case m.err != nil:
				outcome = "error"
			case !m.ran:
				outcome = "skipped"
			}
			mt.Scans.WithLabelValues(g.name(), outcome).Inc()
			if m.ran {
				mt.Records.WithLabelValues(g.name()).Add(float64(m.report.NewRecords))
				mt.Errors.WithLabelValues(g.name()).Add(float64(m.report.Errors))
				mt.Seconds.WithLabelValues(g.name()).Observe(m.took.Seconds())
			}
		}
		if m.report.Charges > 0 && g.d.Charger != nil {
			g.d.Charger.Kick()
		}
	}
}

func (g *ingestGrain) name() string {
	if g.src == nil {
		return g.id
	}
	return g.src.Name
}

func (g *ingestGrain) command(ctx actor.Context, m *ingestpb.IngestCommand) *ingestpb.IngestReply {
	if m.SourceId != g.id {
		return &ingestpb.IngestReply{Failure: FailureOf(errWrongGrain)}
	}
	if err := g.reload(ctx); err != nil {
		return &ingestpb.IngestReply{Failure: FailureOf(err)}
	}
	if m.Op == ingestpb.IngestOp_INGEST_OP_SCAN_NOW {
		g.scan(ctx)
	}
	return &ingestpb.IngestReply{}
}

// reload reads the source again (its interval may have changed; it may be gone or disabled) and
// keeps the ticker in step with it.
func (g *ingestGrain) reload(ctx actor.Context) error {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	src, err := g.d.Store.SourceByID(c, g.id)
	if err != nil || !src.Enabled {
		ctx.Poison(ctx.Self())
		if err == nil {
			err = dw.Errorf(dw.KindNotFound, "source %s is disabled", src.Name)
		}
		return err
	}
	if g.src == nil || g.src.Interval != src.Interval {
		if g.stop != nil {
			close(g.stop)
		}
		g.stop = tickSelf(ctx.ActorSystem().Root, ctx.Self(), src.Interval, &ingestTick{})
	}
	g.src = &src
	return nil
}

func (g *ingestGrain) scan(ctx actor.Context) {
	if g.scanning || g.src == nil {
		return
	}
	g.scanning = true
	self, root, src, last := ctx.Self(), ctx.ActorSystem().Root, *g.src, g.refused
	go func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		var report ingest.Report
		start := time.Now()
		ran, err := g.d.Store.WithSourceLock(c, src.ID, func() error {
			var err error
			report, err = ingest.Run(c, g.d.Store, src, g.d.Roots, time.Now())
			return err
		})
		done := &scanDone{report: report, ran: ran, err: err, took: time.Since(start)}
		if ingest.IsRefused(err) {
			done.refused = src.Dir + "\x00" + src.Glob + "\x00" + dw.MessageOf(err)
			done.repeated = done.refused == last
			if !done.repeated {
				if rerr := ingest.RecordRefusal(c, g.d.Store, src, persistence.AuditEntry{}, err, time.Now()); rerr != nil {
					g.d.Log.Warn("recording a refused ingest scan", "source", src.Name, "err", rerr)
					done.refused = "" // recorded at the next scan
				}
			}
		}
		root.Send(self, done)
	}()
}
