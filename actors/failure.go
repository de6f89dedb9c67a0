package actors

import (
	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/protos/failurepb"
)

// Every grain reply carries a failure as one message, failurepb.Failure (kind, code, detail):
// FailureOf writes it, FailureError reads it back, the only two conversions.

// FailureOf is err as a reply's failure (nil for nil). An error without a kind is internal: its
// detail stays on this node.
func FailureOf(err error) *failurepb.Failure {
	if err == nil {
		return nil
	}
	return &failurepb.Failure{Kind: string(dw.KindOf(err)), Code: dw.CodeOf(err), Detail: dw.MessageOf(err)}
}

// FailureError is a reply's failure as an error of the taxonomy (nil for nil). A kind this node
// does not know (a newer node's) is internal.
func FailureError(f *failurepb.Failure) error {
	if f == nil {
		return nil
	}
	k := dw.Kind(f.Kind)
	switch k {
	case dw.KindInvalid, dw.KindNotFound, dw.KindConflict, dw.KindInsufficientFunds, dw.KindPaymentRequired,
		dw.KindUnauthorized, dw.KindForbidden, dw.KindRateLimited, dw.KindUnavailable, dw.KindInternal:
	default:
		k = dw.KindInternal
	}
	code := f.Code
	if code == "" {
		code = string(k)
	}
	return &dw.Error{Kind: k, Code: code, Message: f.Detail}
}

// errWrongGrain answers a command addressed to another grain than the one that got it.
var errWrongGrain = dw.Errorf(dw.KindInvalid, "command for another grain")
