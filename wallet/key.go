package wallet

import (
	"strings"

	dw "github.com/divinewhispers/dw"
)

// ReservedKeyPrefixes are the idempotency-key namespaces the system writes itself. A client key
// in one could pre-empt an internal operation: take a user's job hold ("job-hold:<job id>")
// before the job does, or answer a usage charge with an entry of the client's choosing.
// Where each is made: auto: the gateway and actors.Jobs (no key given); cli: internal/cli;
// expire: State.ExpireHolds; job-hold:, job-capture:, job-release: actors (jobs.go,
// job_grain.go); usage-charge: persistence.Charge.IdempotencyKey; payment:, payment-refund:
// payments.Service (the credit and the refund of a payment).
var ReservedKeyPrefixes = []string{"auto:", "cli:", "expire:", "job-hold:", "job-capture:", "job-release:", "usage-charge:",
	"payment:", "payment-refund:"}

// CheckClientKey checks an Idempotency-Key chosen by a client (HTTP header, also for jobs): 1 to
// MaxKeyLength bytes of printable ASCII (space to tilde), outside the reserved namespaces
// (compared without case). Errors: invalid, code invalid_idempotency_key or
// reserved_idempotency_key.
func CheckClientKey(key string) error {
	if key == "" || len(key) > MaxKeyLength {
		return dw.Coded(dw.KindInvalid, dw.CodeInvalidIdempotencyKey, "Idempotency-Key must be 1 to %d bytes", MaxKeyLength)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return dw.Coded(dw.KindInvalid, dw.CodeInvalidIdempotencyKey, "Idempotency-Key must be printable ASCII (a UUID is a good key)")
		}
	}
	lower := strings.ToLower(key)
	for _, p := range ReservedKeyPrefixes {
		if strings.HasPrefix(lower, p) {
			return dw.Coded(dw.KindInvalid, dw.CodeReservedIdempotencyKey, "Idempotency-Key may not start with %q: that namespace is the system's own", p)
		}
	}
	return nil
}
