package wallet_test

import (
	"fmt"
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/wallet"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestApply(t *testing.T) {
	t.Parallel()
	type step struct {
		cmd      wallet.Command
		wantKind dw.Kind
		balance  int64
		held     int64
	}
	key := func(i int) string { return fmt.Sprint("k", i) }
	tests := []struct {
		name  string
		steps []step
	}{
		{"deposit then spend all", []step{
			{cmd: wallet.Command{Type: wallet.Deposit, Amount: 100}, balance: 100},
			{cmd: wallet.Command{Type: wallet.Spend, Amount: 100}, balance: 0},
			{cmd: wallet.Command{Type: wallet.Spend, Amount: 1}, wantKind: dw.KindInsufficientFunds, balance: 0},
		}},
		{"a usage charge takes what is available, never more", []step{
			{cmd: wallet.Command{Type: wallet.Deposit, Amount: 100}, balance: 100},
			{cmd: wallet.Command{Type: wallet.Hold, Amount: 30, ExpiresIn: time.Minute}, balance: 100, held: 30},
			{cmd: wallet.Command{Type: wallet.Spend, Amount: 50, UpToAvailable: true}, balance: 50, held: 30},
			{cmd: wallet.Command{Type: wallet.Spend, Amount: 500, UpToAvailable: true}, balance: 30, held: 30},
			{cmd: wallet.Command{Type: wallet.Spend, Amount: 1, UpToAvailable: true}, wantKind: dw.KindInsufficientFunds, balance: 30, held: 30},
		}},
		{"hold limits spending and capture closes it", []step{
			{cmd: wallet.Command{Type: wallet.Deposit, Amount: 100}, balance: 100},
			{cmd: wallet.Command{Type: wallet.Hold, Amount: 70, ExpiresIn: time.Minute}, balance: 100, held: 70},
			{cmd: wallet.Command{Type: wallet.Spend, Amount: 31}, wantKind: dw.KindInsufficientFunds, balance: 100, held: 70},
			{cmd: wallet.Command{Type: wallet.Hold, Amount: 31, ExpiresIn: time.Minute}, wantKind: dw.KindInsufficientFunds, balance: 100, held: 70},
			{cmd: wallet.Command{Type: wallet.Capture, HoldID: "H1", Amount: 71}, wantKind: dw.KindInvalid, balance: 100, held: 70},
			{cmd: wallet.Command{Type: wallet.Capture, HoldID: "H1", Amount: 50}, balance: 50, held: 0},
			{cmd: wallet.Command{Type: wallet.Release, HoldID: "H1"}, wantKind: dw.KindNotFound, balance: 50},
		}},
		{"release returns the hold", []step{
			{cmd: wallet.Command{Type: wallet.Deposit, Amount: 10}, balance: 10},
			{cmd: wallet.Command{Type: wallet.Hold, Amount: 10, ExpiresIn: time.Minute}, balance: 10, held: 10},
			{cmd: wallet.Command{Type: wallet.Release, HoldID: "H1"}, balance: 10},
		}},
		{"adjustments", []step{
			{cmd: wallet.Command{Type: wallet.Adjust, Amount: 5, Reason: "gift"}, balance: 5},
			{cmd: wallet.Command{Type: wallet.Adjust, Amount: -6, Reason: "fix"}, wantKind: dw.KindInsufficientFunds, balance: 5},
			{cmd: wallet.Command{Type: wallet.Adjust, Amount: -5}, wantKind: dw.KindInvalid, balance: 5},
			{cmd: wallet.Command{Type: wallet.Adjust, Amount: -5, Reason: "fix"}, balance: 0},
		}},
		{"bad amounts", []step{
			{cmd: wallet.Command{Type: wallet.Deposit, Amount: 0}, wantKind: dw.KindInvalid},
			{cmd: wallet.Command{Type: wallet.Deposit, Amount: -1}, wantKind: dw.KindInvalid},
			{cmd: wallet.Command{Type: wallet.Deposit, Amount: wallet.MaxAmount + 1}, wantKind: dw.KindInvalid},
			{cmd: wallet.Command{Type: wallet.Hold, Amount: 1}, wantKind: dw.KindInvalid},
			{cmd: wallet.Command{Type: "steal", Amount: 1}, wantKind: dw.KindInvalid},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &wallet.State{ID: "W", Refundable: map[string]int64{}}
			var sum, held int64
			for i, st := range tc.steps {
				c := st.cmd
				if c.IdempotencyKey == "" {
					c.IdempotencyKey = key(i)
				}
				before := *s
				id := fmt.Sprint("e", i)
				if c.Type == wallet.Hold {
					id = "H1" // each case holds at most once successfully
				}
				e, err := s.Apply(c, t0, id)
				if st.wantKind != "" {
					if dw.KindOf(err) != st.wantKind {
						t.Fatalf("step %d: got %v, want kind %s", i, err, st.wantKind)
					}
					if s.Seq != before.Seq || s.Balance != before.Balance {
						t.Fatalf("step %d: refused command changed the state", i)
					}
				} else if err != nil {
					t.Fatalf("step %d: %v", i, err)
				} else {
					sum += e.BalanceDelta
					held += e.HeldDelta
					if e.Seq != before.Seq+1 || e.BalanceAfter != s.Balance || e.HeldAfter != s.Held {
						t.Fatalf("step %d: entry %+v does not match state %+v", i, e, s)
					}
				}
				if s.Balance != st.balance || s.Held != st.held {
					t.Fatalf("step %d: balance/held = %d/%d, want %d/%d", i, s.Balance, s.Held, st.balance, st.held)
				}
				if sum != s.Balance || held != s.Held {
					t.Fatalf("step %d: entries sum to %d/%d, state has %d/%d", i, sum, held, s.Balance, s.Held)
				}
				if s.Balance < 0 || s.Available() < 0 {
					t.Fatalf("step %d: negative balance or available", i)
				}
			}
		})
	}
}

func TestRefund(t *testing.T) {
	t.Parallel()
	s := &wallet.State{ID: "W", Balance: 40, Refundable: map[string]int64{"S": 60}}
	if _, err := s.Apply(wallet.Command{Type: wallet.Refund, TransactionID: "X", IdempotencyKey: "a"}, t0, "r0"); dw.KindOf(err) != dw.KindNotFound {
		t.Fatalf("refund of unknown transaction: %v", err)
	}
	if _, err := s.Apply(wallet.Command{Type: wallet.Refund, TransactionID: "S", Amount: 50, IdempotencyKey: "b"}, t0, "r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(wallet.Command{Type: wallet.Refund, TransactionID: "S", Amount: 11, IdempotencyKey: "c"}, t0, "r2"); dw.CodeOf(err) != "refund_exceeds_spend" {
		t.Fatalf("over-refund: %v", err)
	}
	e, err := s.Apply(wallet.Command{Type: wallet.Refund, TransactionID: "S", IdempotencyKey: "d"}, t0, "r3")
	if err != nil || e.Amount != 10 || s.Balance != 100 {
		t.Fatalf("refund of the rest: %+v %v balance %d", e, err, s.Balance)
	}
	if _, err := s.Apply(wallet.Command{Type: wallet.Refund, TransactionID: "S", IdempotencyKey: "e"}, t0, "r4"); dw.CodeOf(err) != "refund_exceeds_spend" {
		t.Fatalf("refund of fully refunded spend: %v", err)
	}
}

func TestExpireHolds(t *testing.T) {
	t.Parallel()
	s := &wallet.State{ID: "W", Balance: 100}
	for i, d := range []time.Duration{time.Minute, time.Hour} {
		if _, err := s.Apply(wallet.Command{Type: wallet.Hold, Amount: 10, ExpiresIn: d, IdempotencyKey: fmt.Sprint(i)}, t0, fmt.Sprint("h", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.NextExpiry(); !got.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next expiry %v", got)
	}
	n := 0
	es := s.ExpireHolds(t0.Add(2*time.Minute), func() string { n++; return fmt.Sprint("x", n) })
	if len(es) != 1 || es[0].HoldID != "h0" || es[0].IdempotencyKey != "expire:h0" || s.Held != 10 || s.Balance != 100 {
		t.Fatalf("expired %+v, state %+v", es, s)
	}
}

func TestHashDistinguishesParameters(t *testing.T) {
	t.Parallel()
	a := wallet.Command{Type: wallet.Spend, Amount: 10, ReferenceID: "x", IdempotencyKey: "k"}
	b := a
	b.Amount = 11
	c := a
	c.IdempotencyKey = "other"
	if string(a.Hash()) == string(b.Hash()) {
		t.Fatal("different amounts hash alike")
	}
	d := a
	d.UpToAvailable = true
	if string(a.Hash()) == string(d.Hash()) {
		t.Fatal("a spend and a spend up to what is available hash alike")
	}
	if string(a.Hash()) != string(c.Hash()) {
		t.Fatal("the key must not change the hash")
	}
}
