package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Worker runs on every node: it turns the events the database recorded into deliveries and
// sends due deliveries. Zero fields take defaults.
type Worker struct {
	Service *Service
	Node    string // recorded with each attempt
	Log     *slog.Logger
	// Poll is how often it looks for due deliveries and new events (1 s); Lease how long a
	// claimed delivery is this node's alone (1 min, well over Timeout); Timeout bounds one
	// request (10 s); LowBalance is the threshold of wallet.low_balance in points (0: 20).
	Poll, Lease, Timeout time.Duration
	LowBalance           int64
	// Concurrency is how many deliveries this node sends at once (8).
	Concurrency int
	// Retention is how long events and their deliveries are kept (30 days; never less than
	// the retry window).
	Retention time.Duration
	Metrics   *Metrics // nil: none

	client               *http.Client
	lastPrune, lastSweep time.Time
}

// MaxResponseBody is how much of a receiver's answer is read (and kept, in part, as the error).
const MaxResponseBody = 4 << 10

func (w *Worker) defaults() {
	if w.Poll <= 0 {
		w.Poll = time.Second
	}
	if w.Lease <= 0 {
		w.Lease = time.Minute
	}
	if w.Timeout <= 0 {
		w.Timeout = 10 * time.Second
	}
	if w.LowBalance <= 0 {
		w.LowBalance = 20
	}
	if w.Concurrency <= 0 {
		w.Concurrency = 8
	}
	if w.Log == nil {
		w.Log = slog.Default()
	}
	if w.Retention <= 0 {
		w.Retention = 30 * 24 * time.Hour
	}
	w.Retention = max(w.Retention, w.Service.Backoff.orDefaults().MaxAge)
	w.client = w.Service.Guard.Client(w.Timeout)
}

// Run publishes recorded events and sends due deliveries until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	w.defaults()
	t := time.NewTicker(w.Poll)
	defer t.Stop()
	for {
		w.prune(ctx)
		w.publishRecorded(ctx)
		for w.SendDue(ctx) > 0 && ctx.Err() == nil {
		}
		select {
		case <-ctx.Done():
			w.client.CloseIdleConnections()
			return
		case <-t.C:
		case <-w.Service.wakeCh():
		}
	}
}

// prune removes, once an hour, the events older than the retention with their deliveries.
func (w *Worker) prune(ctx context.Context) {
	if time.Since(w.lastPrune) < time.Hour {
		return
	}
	w.lastPrune = time.Now()
	for ctx.Err() == nil {
		n, err := w.Service.Store.PruneWebhooks(ctx, time.Now().Add(-w.Retention))
		if err != nil {
			if ctx.Err() == nil {
				w.Log.Warn("webhooks: prune", "err", err)
			}
			return
		}
		if n < 1000 {
			return
		}
	}
}

// publishRecorded fans out the events the database recorded: low balances found in the
// ledger, then every claimed event.
func (w *Worker) publishRecorded(ctx context.Context) {
	// The low-balance sweep compares every wallet's seq with its mark: every few polls only.
	if time.Since(w.lastSweep) < 5*w.Poll {
		w.claimRecorded(ctx)
		return
	}
	w.lastSweep = time.Now()
	if _, err := w.Service.Store.SweepLowBalance(ctx, w.LowBalance, 5000); err != nil && ctx.Err() == nil {
		w.Log.Warn("webhooks: low-balance sweep", "err", err)
	}
	w.claimRecorded(ctx)
}

// claimRecorded publishes the events recorded in the database and not yet published.
func (w *Worker) claimRecorded(ctx context.Context) {
	for ctx.Err() == nil {
		evs, err := w.Service.Store.ClaimEvents(ctx, 100, w.Lease)
		if err != nil {
			if ctx.Err() == nil {
				w.Log.Warn("webhooks: claim events", "err", err)
			}
			return
		}
		for _, ev := range evs {
			if _, err := w.Service.Publish(ctx, ev); err != nil && ctx.Err() == nil {
				w.Log.Warn("webhooks: publish", "event", ev.ID, "err", err)
			}
		}
		if len(evs) < 100 {
			return
		}
	}
}

// SendDue claims as many due deliveries as it sends at once and tries each once, returning
// how many it claimed: every claimed attempt starts at once, so it ends well within its lease.
func (w *Worker) SendDue(ctx context.Context) int {
	if w.client == nil {
		w.defaults()
	}
	cs, err := w.Service.Store.ClaimDeliveries(ctx, w.Concurrency, w.Lease)
	if err != nil {
		if ctx.Err() == nil {
			w.Log.Warn("webhooks: claim deliveries", "err", err)
		}
		return 0
	}
	sem := make(chan struct{}, w.Concurrency)
	var wg sync.WaitGroup
	for _, c := range cs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			w.attempt(ctx, c)
		}()
	}
	wg.Wait()
	return len(cs)
}

// attempt sends one claimed delivery and records the outcome.
func (w *Worker) attempt(ctx context.Context, c Claim) {
	started := time.Now()
	status, err := w.send(ctx, c, started)
	a := Attempt{DeliveryID: c.DeliveryID, Attempt: c.Attempt, Node: w.Node, HTTPStatus: status,
		StartedAt: started, DurationMS: time.Since(started).Milliseconds()}
	if err != nil {
		a.Error = truncate(err.Error(), 500)
		next, ok := w.Service.Backoff.orDefaults().Next(c.Attempt, time.Now(), c.Deadline)
		if ok {
			a.NextAttemptAt = &next
		} else {
			a.GiveUp = true
		}
		// The endpoint and the error only: never the secret, nor the signature.
		w.Log.Info("webhooks: delivery failed", "delivery", c.DeliveryID, "endpoint", c.EndpointID, "event", c.EventType,
			"attempt", c.Attempt, "http_status", status, "err", a.Error, "give_up", a.GiveUp)
	}
	w.Metrics.observe(a)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.Service.Store.RecordAttempt(rctx, a); err != nil {
		w.Log.Warn("webhooks: record attempt", "delivery", c.DeliveryID, "err", err)
	}
}

// send POSTs the signed message; a nil error means a 2xx answer.
func (w *Worker) send(ctx context.Context, c Claim, now time.Time) (int, error) {
	if _, err := ValidateURL(c.URL); err != nil {
		return 0, err
	}
	wh, err := standardwebhooks.NewWebhook(c.Secret)
	if err != nil {
		return 0, errors.New("the endpoint's secret is unusable")
	}
	sig, err := wh.Sign(c.EventID, now, c.Payload)
	if err != nil {
		return 0, errors.New("signing failed")
	}
	ctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(c.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "DivineWhispers-Webhooks/1")
	req.Header.Set(standardwebhooks.HeaderWebhookID, c.EventID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, nil
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return resp.StatusCode, fmt.Errorf("HTTP %d: redirects are not followed", resp.StatusCode)
	}
	return resp.StatusCode, fmt.Errorf("HTTP %d: %s", resp.StatusCode, truncate(string(bytes.ToValidUTF8(body, nil)), 200))
}
