package actors

import (
	"context"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pcluster "github.com/asynkron/protoactor-go/cluster"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/protos/walletpb"
)

// Requester sends one request to a grain and waits for its answer. The cluster does it by
// identity; tests may send to a fixed PID.
type Requester func(ctx context.Context, identity, kind string, msg any, timeout time.Duration) (any, error)

// ClusterRequester reaches grains through the cluster's identity lookup.
func ClusterRequester(c *pcluster.Cluster) Requester {
	return func(_ context.Context, identity, kind string, msg any, timeout time.Duration) (any, error) {
		return c.Request(identity, kind, msg, pcluster.WithTimeout(timeout))
	}
}

// PIDRequester sends every request to one actor, whatever the identity.
func PIDRequester(system *actor.ActorSystem, pid *actor.PID) Requester {
	return func(_ context.Context, _, _ string, msg any, timeout time.Duration) (any, error) {
		return system.Root.RequestFuture(pid, msg, timeout).Result()
	}
}

// Wallets calls wallet grains.
type Wallets struct {
	Request Requester
	Timeout time.Duration // per attempt; 0 = 5 s
	Retries int           // extra attempts after CODE_RETRY or a timeout; 0 = 3
}

// Do sends req to its wallet's grain. A CODE_RETRY answer (the grain reloaded) or a timeout is
// retried with the same idempotency key, which makes the retry safe. Errors: the kinds of
// ErrorOf, and unavailable when no answer came.
func (w *Wallets) Do(ctx context.Context, req *walletpb.Request) (*walletpb.Response, error) {
	timeout, retries := w.Timeout, w.Retries
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	if retries == 0 {
		retries = 3
	}
	var lastErr error
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, &dw.Error{Kind: dw.KindUnavailable, Code: "unavailable", Message: "request cancelled", Err: ctx.Err()}
			case <-time.After(time.Duration(attempt*attempt) * 20 * time.Millisecond):
			}
		}
		res, err := w.Request(ctx, req.WalletId, WalletKind, req, timeout)
		if err != nil {
			lastErr = err
			if req.Op != walletpb.Op_OP_GET && req.IdempotencyKey == "" {
				break // nothing makes a blind retry safe
			}
			continue
		}
		resp, ok := res.(*walletpb.Response)
		if !ok {
			return nil, dw.Internal(fmt.Errorf("wallet grain answered %T", res))
		}
		if resp.Code == walletpb.Code_CODE_RETRY {
			lastErr = FailureError(resp.Failure)
			continue
		}
		return resp, ErrorOf(resp)
	}
	return nil, &dw.Error{Kind: dw.KindUnavailable, Code: dw.CodeWalletUnavailable, Message: "the wallet did not answer; retry with the same Idempotency-Key", Err: lastErr}
}
