package actors

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/protos/walletpb"
)

// WalletDoer sends a request to a wallet grain: the cluster's Wallets, or a CLI's local grains.
type WalletDoer interface {
	Do(ctx context.Context, req *walletpb.Request) (*walletpb.Response, error)
}

// Charger posts pending usage charges to their wallets (a charge of negative points, which
// corrects replaced records, as a credit). A charge is stored with the usage it
// prices, in the same transaction, so it is never lost; posting it is a spend "up to what is
// available" with the idempotency key usage-charge:<id>, so posting it twice (two nodes, a
// crash before the charge was marked) moves the points once. Every node runs one.
type Charger struct {
	Store   *persistence.Store
	Wallets WalletDoer
	Metrics *IngestMetrics // may be nil

	kick chan struct{}
	once sync.Once
	mu   sync.Mutex // one Post at a time per process
}

func (c *Charger) init() { c.once.Do(func() { c.kick = make(chan struct{}, 1) }) }

// Kick asks the loop to post now (new charges were stored).
func (c *Charger) Kick() {
	c.init()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Kicked receives when Kick was called: a node's charge loop posts then, without waiting for
// its next round.
func (c *Charger) Kicked() <-chan struct{} {
	c.init()
	return c.kick
}

// Post posts every pending charge, 16 wallets at a time, and returns how many it settled.
// Errors: the first charge that could not be posted (it stays pending for the next round).
func (c *Charger) Post(ctx context.Context) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	settled := 0
	for {
		charges, err := c.Store.PendingCharges(ctx, 256)
		if err != nil || len(charges) == 0 {
			return settled, err
		}
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			first error
			sem   = make(chan struct{}, 16)
		)
		for _, ch := range charges {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				err := c.post(ctx, ch)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					settled++
				} else if first == nil {
					first = err
				}
			}()
		}
		wg.Wait()
		if first != nil {
			return settled, first
		}
	}
}

func (c *Charger) post(ctx context.Context, ch persistence.Charge) error {
	// Hours as shown (rounded once), with the exact seconds when the charge kept them.
	why := map[string]any{"usage_charge": ch.ID, "records": ch.Records, "node_hours": ch.NodeHours, "gpu_core_hours": ch.GPUCoreHours}
	if ch.NodeSeconds != nil && ch.GPUSeconds != nil {
		why["node_seconds"], why["gpu_seconds"] = *ch.NodeSeconds, *ch.GPUSeconds
	}
	reason, _ := json.Marshal(why)
	req := &walletpb.Request{
		Op: walletpb.Op_OP_SPEND, WalletId: ch.WalletID, Amount: ch.Points, UpToAvailable: true,
		IdempotencyKey: ch.IdempotencyKey(), ReferenceId: ch.IdempotencyKey(), Reason: truncate(string(reason), 500),
	}
	var resp *walletpb.Response
	var err error
	if ch.Points < 0 {
		// A refund: replaced records used less than was charged for them. Credited to the
		// wallet as an adjustment, with the same idempotency key (posted twice, it moves once),
		// and never more than the wallet paid for usage: points a wallet could not pay (an
		// unpaid charge) are not credited back. A refund posted before (its settle lost) is
		// settled with the entry it made, never asked again: the cap may have changed since.
		if e, gerr := c.Store.EntryByKey(ctx, ch.WalletID, ch.IdempotencyKey()); gerr == nil {
			req, resp = nil, &walletpb.Response{Transaction: &walletpb.Transaction{Id: e.ID, Amount: e.Amount}}
		} else if dw.KindOf(gerr) != dw.KindNotFound {
			return gerr
		} else {
			paid, perr := c.Store.UsagePaid(ctx, ch.WalletID)
			if perr != nil {
				return perr
			}
			req.Op, req.Amount, req.UpToAvailable = walletpb.Op_OP_ADJUST, min(-ch.Points, paid), false
			if req.Amount <= 0 {
				// Nothing was paid: nothing to credit.
				req, resp = nil, &walletpb.Response{Transaction: &walletpb.Transaction{}}
			}
		}
	}
	if req != nil {
		resp, err = c.Wallets.Do(ctx, req)
	}
	var charged int64
	var txID string
	switch {
	case err == nil && resp.Transaction != nil:
		charged, txID = resp.Transaction.Amount, resp.Transaction.Id
	case dw.KindOf(err) == dw.KindInsufficientFunds:
		// Nothing available: the whole charge is unpaid, visible in reports.
	case err == nil:
		return errors.New("wallet answered a spend without its transaction")
	default:
		return err
	}
	settled, err := c.Store.SettleCharge(ctx, ch.ID, charged, txID, time.Now())
	if settled && c.Metrics != nil {
		status := persistence.ChargeCharged
		if charged < max(ch.Points, -ch.Points) {
			status = persistence.ChargeUnpaid
		}
		c.Metrics.Charges.WithLabelValues(status).Inc()
		c.Metrics.Points.Add(float64(charged))
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
