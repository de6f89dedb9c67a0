// Package dw holds what every layer of Divine Whispers shares: the error taxonomy. Domain types
// live in their own packages (wallet, auth); adapters (actors, gateway, persistence, cluster)
// are tied together in cmd/dw.
package dw

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Kind is one of the few classes of failure that callers act on. The gateway maps each kind to
// one HTTP status in one table; the CLI maps them to messages.
type Kind string

const (
	KindInvalid           Kind = "invalid"
	KindNotFound          Kind = "not_found"
	KindConflict          Kind = "conflict"
	KindInsufficientFunds Kind = "insufficient_funds"
	KindPaymentRequired   Kind = "payment_required" // a paid job cannot be accepted: no points
	KindUnauthorized      Kind = "unauthorized"
	KindForbidden         Kind = "forbidden"
	KindRateLimited       Kind = "rate_limited"
	KindUnavailable       Kind = "unavailable"
	KindInternal          Kind = "internal"
)

// Error is a failure with a kind, a stable machine-readable code (often the kind itself, or a
// finer one such as "idempotency_conflict") and a message safe to show to the caller.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Err     error // the cause, for logs; never shown to callers
	// RetryAfter, when positive, tells the caller when to try again (HTTP Retry-After).
	RetryAfter time.Duration
	// Extensions are extra members of the problem document (e.g. a captcha challenge); they
	// must be safe to show to the caller.
	Extensions map[string]any
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an error of kind k whose code is the kind's name.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Code: string(k), Message: fmt.Sprintf(format, args...)}
}

// Coded returns an error of kind k with a finer code.
func Coded(k Kind, code, format string, args ...any) *Error {
	return &Error{Kind: k, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected error: its detail is logged, not shown.
func Internal(err error) *Error {
	return &Error{Kind: KindInternal, Code: string(KindInternal), Message: "internal error", Err: err}
}

// KindOf returns the kind of err: that of the first *Error in its chain, else internal.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// CodeOf returns the stable code of err ("internal" for errors without one).
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return string(KindInternal)
}

// MessageOf returns the message of err that is safe to show to a caller.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != KindInternal {
		return e.Message
	}
	return "internal error"
}

// RetryAfterOf returns how long the caller of err should wait before retrying (0: no advice).
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// ExtensionsOf returns the extra problem members of err (nil for none).
func ExtensionsOf(err error) map[string]any {
	var e *Error
	if errors.As(err, &e) && e.Kind != KindInternal {
		return e.Extensions
	}
	return nil
}

// Codes that cross the cluster in grain replies (besides the kinds' own names), in one place.
const (
	CodeIdempotencyConflict      = "idempotency_conflict"       // an Idempotency-Key reused with different parameters
	CodeRetry                    = "retry"                      // the wallet grain reloaded: send the request again
	CodeWalletUnavailable        = "wallet_unavailable"         // the wallet grain did not answer
	CodeHoldNotActive            = "hold_not_active"            // capture or release of a hold that is not active
	CodeTransactionNotRefundable = "transaction_not_refundable" // a refund of what is not a spend or capture
	CodeRefundExceedsSpend       = "refund_exceeds_spend"
	CodeInvalidIdempotencyKey    = "invalid_idempotency_key"
	CodeReservedIdempotencyKey   = "reserved_idempotency_key"
)

// FieldsExtension is the member of a problem document that keys an invalid input's messages by
// its fields (the JSON names): {"errors": {"display_name": "…", "language": "…"}}. Every
// input checked field by field (accounting, profiles, settings) answers so.
const FieldsExtension = "errors"

// FieldErrors is the invalid error of bad (field → message; nil when bad is empty): its message
// names each field in order, its FieldsExtension keys the messages by field.
func FieldErrors(bad map[string]string) error {
	if len(bad) == 0 {
		return nil
	}
	keys := make([]string, 0, len(bad))
	for k := range bad {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	fields := make(map[string]any, len(bad))
	for i, k := range keys {
		parts[i] = k + ": " + bad[k]
		fields[k] = bad[k]
	}
	e := Coded(KindInvalid, "invalid", "%s", strings.Join(parts, "; "))
	e.Extensions = map[string]any{FieldsExtension: fields}
	return e
}
