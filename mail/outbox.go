package mail

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/divinewhispers/dw/persistence"
)

// Message is one mail to send.
type Message struct {
	ID      string // the outbox id: the same mail sent twice carries the same Message-ID
	To      string
	Subject string
	Body    string // plain text
}

// Sender delivers a message (SMTP in production: SMTP in smtp.go).
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Store is what the outbox needs from the database (persistence.Store).
type Store interface {
	EnqueueMail(ctx context.Context, m persistence.OutboxMail) (string, error)
	ClaimMail(ctx context.Context, limit int, lease time.Duration) ([]persistence.OutboxMail, error)
	ExpireMail(ctx context.Context) error
	RecordMailAttempt(ctx context.Context, a persistence.MailAttempt) error
	ListMail(ctx context.Context, status string, limit int) ([]persistence.OutboxMail, error)
}

// Outbox sends the outbox's mails. Zero fields take defaults.
type Outbox struct {
	Store  Store
	Sender Sender // nil: nothing is sent, mails stay queued
	Node   string // recorded with each attempt
	Log    *slog.Logger
	// Poll is how often the worker looks for due mails (1 s); Lease how long a claimed mail is
	// another node's to leave alone (2 min, longer than a send may take); Backoff the wait
	// before the second attempt (30 s), doubled at each further one up to an hour;
	// MaxAttempts the attempts before a mail fails for good (20, about a day).
	Poll, Lease, Backoff time.Duration
	MaxAttempts          int

	wakeOnce sync.Once
	wake     chan struct{}
}

func (o *Outbox) defaults() (poll, lease, backoff time.Duration, maxAttempts int) {
	poll, lease, backoff, maxAttempts = o.Poll, o.Lease, o.Backoff, o.MaxAttempts
	if poll <= 0 {
		poll = time.Second
	}
	if lease <= 0 {
		lease = 2 * time.Minute
	}
	if backoff <= 0 {
		backoff = 30 * time.Second
	}
	if maxAttempts <= 0 {
		maxAttempts = 20
	}
	return
}

func (o *Outbox) wakeCh() chan struct{} {
	o.wakeOnce.Do(func() { o.wake = make(chan struct{}, 1) })
	return o.wake
}

// Enqueue writes a mail to the outbox and wakes this node's worker. Errors: internal,
// unavailable.
func (o *Outbox) Enqueue(ctx context.Context, m persistence.OutboxMail) (string, error) {
	id, err := o.Store.EnqueueMail(ctx, m)
	if err == nil {
		o.Wake()
	}
	return id, err
}

// Wake makes the worker look for due mails now.
func (o *Outbox) Wake() {
	select {
	case o.wakeCh() <- struct{}{}:
	default:
	}
}

// List lists the outbox, newest first, without bodies; status "" = all. Errors: internal,
// unavailable.
func (o *Outbox) List(ctx context.Context, status string, limit int) ([]persistence.OutboxMail, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	return o.Store.ListMail(ctx, status, limit)
}

// Run sends due mails until ctx ends. With no Sender the mails wait in the outbox; Run then
// only expires those past their expiry (a reset link's body must not outlive the link).
func (o *Outbox) Run(ctx context.Context) {
	if o.Sender == nil {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			if err := o.Store.ExpireMail(ctx); err != nil && ctx.Err() == nil {
				o.log().Warn("mail outbox: expire", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}
	poll, _, _, _ := o.defaults()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		for o.RunOnce(ctx) > 0 && ctx.Err() == nil {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.wakeCh():
		}
	}
}

// RunOnce claims a batch of due mails and tries each once, returning how many it claimed.
func (o *Outbox) RunOnce(ctx context.Context) int {
	_, lease, backoff, maxAttempts := o.defaults()
	ms, err := o.Store.ClaimMail(ctx, 10, lease)
	if err != nil {
		if ctx.Err() == nil {
			o.log().Warn("mail outbox: claim", "err", err)
		}
		return 0
	}
	for _, m := range ms {
		started := time.Now()
		sctx, cancel := context.WithTimeout(ctx, lease/2)
		err := o.Sender.Send(sctx, Message{ID: m.ID, To: m.Recipient, Subject: m.Subject, Body: m.Body})
		cancel()
		a := persistence.MailAttempt{MailID: m.ID, Attempt: m.Attempts, Node: o.Node, Started: started}
		if err != nil {
			a.Err = err.Error()
			a.GiveUp = m.Attempts >= maxAttempts
			a.RetryAt = time.Now().Add(Backoff(backoff, m.Attempts))
			// The recipient and the error only: the body may hold a reset link.
			o.log().Warn("mail outbox: send failed", "mail", m.ID, "kind", m.Kind, "attempt", m.Attempts, "err", err)
		}
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := o.Store.RecordMailAttempt(rctx, a); err != nil {
			o.log().Warn("mail outbox: record attempt", "mail", m.ID, "err", err)
		}
		rcancel()
	}
	return len(ms)
}

// Backoff is the wait after attempt n (1-based) failed: base doubled at each attempt, at most
// an hour.
func Backoff(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

func (o *Outbox) log() *slog.Logger {
	if o.Log != nil {
		return o.Log
	}
	return slog.Default()
}
