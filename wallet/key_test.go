package wallet_test

import (
	"strings"
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/wallet"
)

func TestCheckClientKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		key, code string
	}{
		{"0195f3c2-7b7e-7c4e-9d5e-8e1f2a3b4c5d", ""},
		{"order 42 / try 1", ""},
		{strings.Repeat("k", wallet.MaxKeyLength), ""},
		{"", "invalid_idempotency_key"},
		{strings.Repeat("k", wallet.MaxKeyLength+1), "invalid_idempotency_key"},
		{"a\x00b", "invalid_idempotency_key"},
		{"a\xffb", "invalid_idempotency_key"},
		{"caf\u00e9", "invalid_idempotency_key"},
		{"a\tb", "invalid_idempotency_key"},
		{"job-hold:0195f3c2", "reserved_idempotency_key"},
		{"JOB-HOLD:x", "reserved_idempotency_key"},
		{"job-capture:x", "reserved_idempotency_key"},
		{"job-release:x", "reserved_idempotency_key"},
		{"usage-charge:7", "reserved_idempotency_key"},
		{"expire:x", "reserved_idempotency_key"},
		{"auto:x", "reserved_idempotency_key"},
		{"cli:x", "reserved_idempotency_key"},
		{"job-holder", ""},
	} {
		err := wallet.CheckClientKey(tc.key)
		if got := dw.CodeOf(err); (err == nil) != (tc.code == "") || (err != nil && got != tc.code) {
			t.Errorf("wallet.CheckClientKey(%q) = %v (code %q), want code %q", tc.key, err, got, tc.code)
		}
	}
	// The keys the system makes itself fall in a reserved namespace.
	st := wallet.State{Holds: map[string]wallet.HoldInfo{"h1": {ID: "h1", Amount: 1, ExpiresAt: time.Unix(0, 0)}}, Held: 1, Balance: 1}
	for _, e := range st.ExpireHolds(time.Unix(10, 0), func() string { return "id" }) {
		if wallet.CheckClientKey(e.IdempotencyKey) == nil {
			t.Errorf("the expiry key %q is not reserved", e.IdempotencyKey)
		}
	}
}

// TestCommandValidateStorable: text PostgreSQL cannot store (NUL, invalid UTF-8) is refused by
// Validate, not by the commit (whose failure the grain answers "retry", forever).
func TestCommandValidateStorable(t *testing.T) {
	t.Parallel()
	ok := wallet.Command{Type: wallet.Deposit, Amount: 5, IdempotencyKey: "k", ReferenceID: "r"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*wallet.Command){
		"NUL in reference_id":         func(c *wallet.Command) { c.ReferenceID = "a\x00b" },
		"invalid UTF-8 in reference":  func(c *wallet.Command) { c.ReferenceID = "a\xffb" },
		"NUL in key":                  func(c *wallet.Command) { c.IdempotencyKey = "k\x00" },
		"invalid UTF-8 in key":        func(c *wallet.Command) { c.IdempotencyKey = "k\xff" },
		"NUL in an adjustment reason": func(c *wallet.Command) { c.Type, c.Reason = wallet.Adjust, "\x00" },
	} {
		c := ok
		mutate(&c)
		if err := c.Validate(); dw.KindOf(err) != dw.KindInvalid {
			t.Errorf("%s: Validate = %v, want invalid", name, err)
		}
	}
}
