package interpret

import (
	"errors"
	"fmt"
	"time"

	dw "github.com/divinewhispers/dw"
)

// Every error Interpret returns is an *Error, which is also one of these two classes:
// errors.Is(err, ErrRetryable) means another attempt may succeed (the job runner backs off and
// retries), errors.Is(err, ErrPermanent) means it will not.
var (
	ErrRetryable = errors.New("interpret: retryable")
	ErrPermanent = errors.New("interpret: permanent")
)

// Stable error codes, recorded with a failed job and shown to its owner.
const (
	CodeInvalidRequest = "invalid_request"  // permanent: the request is malformed
	CodeRateLimited    = "llm_rate_limited" // retryable, after RetryAfter when the server said
	CodeUnavailable    = "llm_unavailable"  // retryable: 5xx, connection failure, stream cut short
	CodeTimeout        = "llm_timeout"      // retryable: the attempt ran out of time
	CodeBadOutput      = "llm_bad_output"   // retryable: the model's answer is not a valid reading
	CodeRejected       = "llm_rejected"     // permanent: the server refused the request (400, 401, 403, 404…)
	CodeCanceled       = "canceled"         // retryable: the caller's context was cancelled
)

// Error is a failed interpretation attempt.
type Error struct {
	Code       string
	Retryable  bool
	RetryAfter time.Duration // > 0 when the server asked for a pause (HTTP Retry-After)
	Message    string        // safe to show to the person who asked; never holds the API key
	Err        error         // the cause, for logs; its text is scrubbed of the API key
}

func (e *Error) Error() string {
	s := "interpret: " + e.Code + ": " + e.Message
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrRetryable) and errors.Is(err, ErrPermanent) classify e.
func (e *Error) Is(target error) bool {
	return (target == ErrRetryable && e.Retryable) || (target == ErrPermanent && !e.Retryable)
}

// As lets dw.KindOf, dw.CodeOf and dw.MessageOf read e as a *dw.Error of Kind().
func (e *Error) As(target any) bool {
	if t, ok := target.(**dw.Error); ok {
		*t = &dw.Error{Kind: e.Kind(), Code: e.Code, Message: e.Message, Err: e.Err}
		return true
	}
	return false
}

// Kind places e in the project's taxonomy. A model server's trouble is never the asker's fault:
// it is unavailable (retry later), or internal when the server rejects our request.
func (e *Error) Kind() dw.Kind {
	switch e.Code {
	case CodeInvalidRequest:
		return dw.KindInvalid
	case CodeRejected:
		return dw.KindInternal
	}
	if e.Retryable {
		return dw.KindUnavailable
	}
	return dw.KindInternal
}

// RetryAfter returns how long the server asked the caller to wait before retrying err, and
// whether it asked.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

func retryable(code, msg string, cause error) *Error {
	return &Error{Code: code, Retryable: true, Message: msg, Err: cause}
}

func permanent(code, msg string, cause error) *Error {
	return &Error{Code: code, Message: msg, Err: cause}
}
