package mail_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/internal/smtptest"
	"github.com/divinewhispers/dw/mail"
	"github.com/divinewhispers/dw/persistence"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m, pgtest.Options{Migrate: persistence.Migrate})
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// bundle is a store and an SMTP server of a test's own.
type bundle struct {
	store *persistence.Store
	smtp  *smtptest.Server
}

func setup(t *testing.T) bundle {
	t.Helper()
	store, err := persistence.Open(t.Context(), pgtest.NewDB(t), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	return bundle{store: store, smtp: smtptest.Start(t, "127.0.0.1:0")}
}

func (b bundle) outbox(t *testing.T, node string) *mail.Outbox {
	t.Helper()
	s, err := mail.NewSMTP(mail.SMTPConfig{Addr: b.smtp.Addr, From: "dw@example.com", User: smtptest.User, Password: smtptest.Password, RootCAs: b.smtp.CAs})
	if err != nil {
		t.Fatal(err)
	}
	return &mail.Outbox{Store: b.store, Sender: s, Node: node, Poll: 20 * time.Millisecond, Lease: time.Second, Backoff: 50 * time.Millisecond}
}

// run runs o until t ends.
func run(t *testing.T, o *mail.Outbox) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); o.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// TestOutboxTwoNodes: two workers over one outbox (two nodes) send every mail exactly once, each
// attempt recorded.
func TestOutboxTwoNodes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n = 30
	ids := map[string]bool{}
	for i := range n {
		id, err := b.store.EnqueueMail(t.Context(), persistence.OutboxMail{Kind: "test", Recipient: fmt.Sprintf("r%d@example.com", i),
			Lang: "en", Subject: fmt.Sprintf("mail %d", i), Body: "hello"})
		if err != nil {
			t.Fatal(err)
		}
		ids["<"+id+"@divinewhispers>"] = true
	}
	run(t, b.outbox(t, "a"))
	run(t, b.outbox(t, "b"))
	got := map[string]int{}
	for range n {
		m := b.smtp.Next(t)
		if !m.TLS || !m.Authed {
			t.Fatalf("mail without STARTTLS or auth: %+v", m)
		}
		got[m.MessageID]++
	}
	for id := range ids {
		if got[id] != 1 {
			t.Errorf("mail %s delivered %d times", id, got[id])
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ms, err := b.store.ListMail(t.Context(), "sent", 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d mails marked sent", len(ms), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var attempts, nodes int
	if err := b.store.Pool().QueryRow(t.Context(), `SELECT count(*), count(DISTINCT node) FROM mail_attempts WHERE error = ''`).Scan(&attempts, &nodes); err != nil {
		t.Fatal(err)
	}
	if attempts != n {
		t.Errorf("%d successful attempts recorded, want %d", attempts, n)
	}
	var bodies int
	if err := b.store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM mail_outbox WHERE body <> ''`).Scan(&bodies); err != nil || bodies != 0 {
		t.Errorf("%d sent mails keep their body (%v)", bodies, err)
	}
	b.smtp.None(t)
}

// TestOutboxNoSender: with no SMTP configured mails stay queued (listed), while one past its
// expiry is expired all the same.
func TestOutboxNoSender(t *testing.T) {
	t.Parallel()
	b := setup(t)
	past := time.Now().Add(-time.Second)
	for _, exp := range []*time.Time{nil, &past} {
		if _, err := b.store.EnqueueMail(t.Context(), persistence.OutboxMail{Kind: "test", Recipient: "wait@example.com", Lang: "en",
			Subject: "wait", Body: "hello", ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	run(t, &mail.Outbox{Store: b.store})
	o := &mail.Outbox{Store: b.store}
	deadline := time.Now().Add(10 * time.Second)
	for {
		expired, err := o.List(t.Context(), "expired", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(expired) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired mail was not expired")
		}
		time.Sleep(20 * time.Millisecond)
	}
	queued, err := o.List(t.Context(), "queued", 10)
	if err != nil || len(queued) != 1 || queued[0].Attempts != 0 || queued[0].Body != "" {
		t.Fatalf("queued: %+v, %v", queued, err)
	}
	b.smtp.None(t)
}

// TestOutboxDeadNode: a mail claimed by a node that died before sending it is sent by another
// once the claim's lease runs out.
func TestOutboxDeadNode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.store.EnqueueMail(t.Context(), persistence.OutboxMail{Kind: "test", Recipient: "late@example.com", Lang: "en", Subject: "late", Body: "hello"}); err != nil {
		t.Fatal(err)
	}
	claimed, err := b.store.ClaimMail(t.Context(), 10, time.Second) // the node that dies
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %d mails", err, len(claimed))
	}
	start := time.Now()
	run(t, b.outbox(t, "survivor"))
	m := b.smtp.Next(t)
	if m.To != "late@example.com" {
		t.Fatalf("mail to %q", m.To)
	}
	if waited := time.Since(start); waited < 500*time.Millisecond {
		t.Errorf("sent after %v, before the dead node's lease ran out", waited)
	}
}

// TestOutboxExpired: a mail not sent before its expiry is expired, never sent, its body erased.
func TestOutboxExpired(t *testing.T) {
	t.Parallel()
	b := setup(t)
	past := time.Now().Add(-time.Second)
	if _, err := b.store.EnqueueMail(t.Context(), persistence.OutboxMail{Kind: "test", Recipient: "old@example.com", Lang: "en",
		Subject: "old", Body: "https://dw.example/reset-password?token=secret", ExpiresAt: &past}); err != nil {
		t.Fatal(err)
	}
	if n := b.outbox(t, "a").RunOnce(t.Context()); n != 0 {
		t.Fatalf("claimed %d expired mails", n)
	}
	var status, body string
	if err := b.store.Pool().QueryRow(t.Context(), `SELECT status, body FROM mail_outbox`).Scan(&status, &body); err != nil || status != "expired" || body != "" {
		t.Errorf("status %q, body %q, %v", status, body, err)
	}
	b.smtp.None(t)
}
