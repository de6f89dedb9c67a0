package actors

import (
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/protos/walletpb"
	"github.com/divinewhispers/dw/wallet"
)

var opTypes = map[walletpb.Op]wallet.Type{
	walletpb.Op_OP_DEPOSIT: wallet.Deposit,
	walletpb.Op_OP_SPEND:   wallet.Spend,
	walletpb.Op_OP_HOLD:    wallet.Hold,
	walletpb.Op_OP_CAPTURE: wallet.Capture,
	walletpb.Op_OP_RELEASE: wallet.Release,
	walletpb.Op_OP_REFUND:  wallet.Refund,
	walletpb.Op_OP_ADJUST:  wallet.Adjust,
}

func commandOf(r *walletpb.Request) (wallet.Command, error) {
	t, ok := opTypes[r.Op]
	if !ok {
		return wallet.Command{}, dw.Errorf(dw.KindInvalid, "unknown wallet operation %v", r.Op)
	}
	// Seconds beyond the longest hold would overflow a Duration: make them invalid instead.
	expiresIn := time.Duration(-1)
	if r.ExpiresInSeconds >= 0 && r.ExpiresInSeconds <= int64(wallet.MaxHoldDuration/time.Second) {
		expiresIn = time.Duration(r.ExpiresInSeconds) * time.Second
	}
	return wallet.Command{
		Type: t, Amount: r.Amount, ReferenceID: r.ReferenceId, HoldID: r.HoldId,
		TransactionID: r.TransactionId, ExpiresIn: expiresIn,
		Reason: r.Reason, ActorID: r.ActorId, IdempotencyKey: r.IdempotencyKey,
		UpToAvailable: r.UpToAvailable,
	}, nil
}

var kindCodes = map[dw.Kind]walletpb.Code{
	dw.KindInvalid:           walletpb.Code_CODE_INVALID,
	dw.KindNotFound:          walletpb.Code_CODE_NOT_FOUND,
	dw.KindConflict:          walletpb.Code_CODE_CONFLICT,
	dw.KindInsufficientFunds: walletpb.Code_CODE_INSUFFICIENT_FUNDS,
	dw.KindUnavailable:       walletpb.Code_CODE_UNAVAILABLE,
}

// errorResponse is a failed request's answer: its failure, and the class of the failure in
// code for nodes of older versions.
func errorResponse(err error) *walletpb.Response {
	code, ok := kindCodes[dw.KindOf(err)]
	if !ok {
		code = walletpb.Code_CODE_INTERNAL
	}
	if dw.CodeOf(err) == dw.CodeIdempotencyConflict {
		code = walletpb.Code_CODE_IDEMPOTENCY_CONFLICT
	}
	return &walletpb.Response{Code: code, Failure: FailureOf(err)}
}

// ErrorOf turns a failed response back into an error of the taxonomy (nil for CODE_OK).
func ErrorOf(r *walletpb.Response) error {
	switch {
	case r.Code == walletpb.Code_CODE_OK:
		return nil
	case r.Failure != nil:
		return FailureError(r.Failure)
	}
	return legacyError(r)
}

// legacyError reads the failure of a node of an older version, which has no failure message.
func legacyError(r *walletpb.Response) error {
	var k dw.Kind
	switch r.Code {
	case walletpb.Code_CODE_INVALID, walletpb.Code_CODE_IDEMPOTENCY_CONFLICT:
		k = dw.KindInvalid
	case walletpb.Code_CODE_NOT_FOUND:
		k = dw.KindNotFound
	case walletpb.Code_CODE_CONFLICT:
		k = dw.KindConflict
	case walletpb.Code_CODE_INSUFFICIENT_FUNDS:
		k = dw.KindInsufficientFunds
	case walletpb.Code_CODE_RETRY, walletpb.Code_CODE_UNAVAILABLE:
		k = dw.KindUnavailable
	default:
		k = dw.KindInternal
	}
	//lint:ignore SA1019 older nodes' field, read for them only
	code := r.ErrorCode
	if code == "" {
		code = string(k)
	}
	//lint:ignore SA1019 as above
	return &dw.Error{Kind: k, Code: code, Message: r.Detail}
}

// TransactionPB converts a ledger entry to its wire form.
func TransactionPB(e wallet.Entry) *walletpb.Transaction {
	t := &walletpb.Transaction{
		Id: e.ID, WalletId: e.WalletID, Seq: e.Seq, Type: string(e.Type), Status: e.Status,
		Amount: e.Amount, BalanceDelta: e.BalanceDelta, HeldDelta: e.HeldDelta,
		BalanceAfter: e.BalanceAfter, HeldAfter: e.HeldAfter, ReferenceId: e.ReferenceID,
		IdempotencyKey: e.IdempotencyKey, HoldId: e.HoldID, RefundOf: e.RefundOf, Reason: e.Reason,
		ActorId: e.ActorID, CreatedAtUnixMicro: e.CreatedAt.UnixMicro(),
	}
	if !e.ExpiresAt.IsZero() {
		t.ExpiresAtUnixMicro = e.ExpiresAt.UnixMicro()
	}
	return t
}
