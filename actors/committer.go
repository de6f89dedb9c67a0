package actors

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/divinewhispers/dw/persistence"
)

// CommitResult is what a grain learns about one of its batches.
type CommitResult struct {
	Fenced bool  // another activation wrote the wallet: nothing of the batch was written
	Err    error // the commit failed (nothing of the batch was written, or it is unknown)
}

type commitRequest struct {
	unit persistence.CommitUnit
	done func(CommitResult)
}

// Committer gathers the batches of every wallet grain on a node and writes them in one
// transaction as soon as the previous one finishes: there is no timer, so a lone request pays
// one commit, and requests that pile up during a commit share the next.
type Committer struct {
	store   *persistence.Store
	in      chan commitRequest
	log     *slog.Logger
	metrics *Metrics
	maxRows int
}

// NewCommitter returns a committer; start it with Run.
func NewCommitter(store *persistence.Store, log *slog.Logger, m *Metrics) *Committer {
	return &Committer{store: store, in: make(chan commitRequest, 65536), log: log, metrics: m, maxRows: 8192}
}

// Submit queues a unit; done is called exactly once, from a committer goroutine.
func (c *Committer) Submit(u persistence.CommitUnit, done func(CommitResult)) {
	c.in <- commitRequest{unit: u, done: done}
}

// Run commits until ctx ends, with workers commits in flight at most. Each wallet has at most
// one unit in flight (its grain waits for the result), so parallel commits never touch the same
// wallet twice. Units still queued when ctx ends are failed.
func (c *Committer) Run(ctx context.Context, workers int) {
	if workers < 1 {
		workers = 1
	}
	done := make(chan struct{})
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			c.loop(ctx)
		}()
	}
	for range workers {
		<-done
	}
	for {
		select {
		case r := <-c.in:
			r.done(CommitResult{Err: errors.New("node is shutting down")})
		default:
			return
		}
	}
}

func (c *Committer) loop(ctx context.Context) {
	var batch []commitRequest
	for {
		batch = batch[:0]
		select {
		case <-ctx.Done():
			return
		case r := <-c.in:
			batch = append(batch, r)
		}
		rows := len(batch[0].unit.Entries)
	drain:
		for rows < c.maxRows {
			select {
			case r := <-c.in:
				batch = append(batch, r)
				rows += len(r.unit.Entries)
			default:
				break drain
			}
		}
		c.commit(batch, rows)
	}
}

func (c *Committer) commit(batch []commitRequest, rows int) {
	units := make([]persistence.CommitUnit, len(batch))
	for i, r := range batch {
		units[i] = r.unit
	}
	// The commit must finish even while the node shuts down: a commit cut off halfway leaves
	// callers not knowing what happened.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	fenced, err := c.store.Commit(ctx, units)
	c.metrics.CommitLatency.Observe(time.Since(start).Seconds())
	c.metrics.BatchEntries.Observe(float64(rows))
	c.metrics.BatchWallets.Observe(float64(len(units)))
	if errors.Is(err, persistence.ErrDuplicateKey) && len(batch) > 1 {
		// One wallet reused an old key; commit the others without it.
		c.metrics.Commits.WithLabelValues("duplicate_key").Inc()
		for _, r := range batch {
			c.commit([]commitRequest{r}, len(r.unit.Entries))
		}
		return
	}
	switch {
	case errors.Is(err, persistence.ErrDuplicateKey):
		c.metrics.Commits.WithLabelValues("duplicate_key").Inc()
	case err != nil:
		c.metrics.Commits.WithLabelValues("error").Inc()
		c.log.Error("group commit failed", "units", len(units), "entries", rows, "err", err)
	default:
		c.metrics.Commits.WithLabelValues("ok").Inc()
	}
	isFenced := make(map[string]bool, len(fenced))
	for _, w := range fenced {
		isFenced[w] = true
		c.metrics.Fenced.Inc()
	}
	for _, r := range batch {
		r.done(CommitResult{Fenced: isFenced[r.unit.WalletID], Err: err})
	}
}
