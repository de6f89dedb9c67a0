package wallet

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	dw "github.com/divinewhispers/dw"
)

// Type is the type of a ledger entry (and of the command that makes it).
type Type string

const (
	Deposit Type = "deposit"
	Spend   Type = "spend"
	Refund  Type = "refund"
	Hold    Type = "hold"
	Capture Type = "capture"
	Release Type = "release"
	Adjust  Type = "adjust"
)

// Limits on commands. MaxAmount keeps every sum far from int64 overflow.
const (
	MaxAmount       = int64(1) << 50
	MaxHoldDuration = 30 * 24 * time.Hour
	MaxKeyLength    = 200
	MaxTextLength   = 500
)

// Command asks for one change to a wallet. Amount is positive, except for Adjust, where it is
// signed; for Capture and Refund, 0 means "all of it".
type Command struct {
	Type           Type
	Amount         int64
	ReferenceID    string
	HoldID         string        // Capture, Release
	TransactionID  string        // Refund: the spend or capture refunded
	ExpiresIn      time.Duration // Hold
	Reason         string        // Adjust, and system releases
	ActorID        string
	IdempotencyKey string
	// UpToAvailable makes a Spend take what is available when that is less than Amount (a
	// usage charge for work already done); the entry's Amount says what was taken. Nothing
	// available is still insufficient_funds.
	UpToAvailable bool
}

// Validate checks the command on its own, before any state is consulted. It returns an invalid
// error joining every problem found.
func (c Command) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Type {
	case Deposit, Spend, Hold:
		if c.Amount <= 0 || c.Amount > MaxAmount {
			add("amount must be between 1 and %d", MaxAmount)
		}
	case Capture, Refund:
		if c.Amount < 0 || c.Amount > MaxAmount {
			add("amount must be between 0 (all) and %d", MaxAmount)
		}
	case Adjust:
		if c.Amount == 0 || c.Amount > MaxAmount || c.Amount < -MaxAmount {
			add("amount must be non-zero and between -%d and %d", MaxAmount, MaxAmount)
		}
		if c.Reason == "" {
			add("reason is required for an adjustment")
		}
	case Release:
	default:
		add("unknown operation %q", c.Type)
	}
	if (c.Type == Capture || c.Type == Release) && c.HoldID == "" {
		add("hold_id is required")
	}
	if c.Type == Refund && c.TransactionID == "" {
		add("transaction_id is required")
	}
	if c.Type == Hold && (c.ExpiresIn <= 0 || c.ExpiresIn > MaxHoldDuration) {
		add("expires_in_seconds must be between 1 and %d", int64(MaxHoldDuration/time.Second))
	}
	if c.IdempotencyKey == "" || len(c.IdempotencyKey) > MaxKeyLength || !storable(c.IdempotencyKey) {
		add("idempotency key must be 1 to %d bytes of valid UTF-8 without NUL", MaxKeyLength)
	}
	for name, v := range map[string]string{"reference_id": c.ReferenceID, "reason": c.Reason} {
		if len(v) > MaxTextLength || !storable(v) {
			add("%s must be valid UTF-8 without NUL, of at most %d bytes", name, MaxTextLength)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &dw.Error{Kind: dw.KindInvalid, Code: string(dw.KindInvalid), Message: errors.Join(errs...).Error()}
}

// storable says whether PostgreSQL can keep s as text: valid UTF-8 without NUL. A command that
// passed Validate but failed at the commit would be answered "retry" on every attempt.
func storable(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// Hash fingerprints the command's parameters (not its key or actor), so that a replayed key can be
// told apart from a key reused for a different request.
func (c Command) Hash() []byte {
	h := sha256.New()
	var n [8]byte
	for _, s := range []string{string(c.Type), c.ReferenceID, c.HoldID, c.TransactionID, c.Reason} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	upTo := int64(0)
	if c.UpToAvailable {
		upTo = 1
	}
	for _, v := range []int64{c.Amount, int64(c.ExpiresIn), upTo} {
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write(n[:])
	}
	return h.Sum(nil)
}

// HoldInfo is an active hold.
type HoldInfo struct {
	ID        string
	Amount    int64
	ExpiresAt time.Time
}

// State is a wallet as its grain sees it: committed entries plus those accepted but not yet
// committed.
type State struct {
	ID      string
	Balance int64
	Held    int64
	Seq     int64
	Holds   map[string]HoldInfo
	// Refundable maps a spend or capture entry to the amount still refundable. The grain loads an
	// entry into it before a refund of it is applied.
	Refundable map[string]int64
}

// Available is what can be spent or held now.
func (s *State) Available() int64 { return s.Balance - s.Held }

// Entry is one ledger row.
type Entry struct {
	ID             string
	WalletID       string
	Seq            int64
	Type           Type
	Status         string
	Amount         int64
	BalanceDelta   int64
	HeldDelta      int64
	BalanceAfter   int64
	HeldAfter      int64
	ReferenceID    string
	IdempotencyKey string
	RequestHash    []byte
	HoldID         string
	RefundOf       string
	ExpiresAt      time.Time // holds only
	Reason         string
	ActorID        string
	CreatedAt      time.Time
}

// ErrInsufficientFunds is returned when a spend, hold or negative adjustment exceeds what is available.
var ErrInsufficientFunds = dw.Errorf(dw.KindInsufficientFunds, "insufficient funds")

// Apply applies c to s and returns the entry that records it, with id as its ID. On error s is
// unchanged. Errors: invalid (bad command, capture or refund larger than what is left),
// not_found (no such active hold or refundable entry), insufficient_funds.
func (s *State) Apply(c Command, now time.Time, id string) (Entry, error) {
	if err := c.Validate(); err != nil {
		return Entry{}, err
	}
	e := Entry{
		ID: id, WalletID: s.ID, Type: c.Type, Status: "success", ReferenceID: c.ReferenceID,
		IdempotencyKey: c.IdempotencyKey, RequestHash: c.Hash(), Reason: c.Reason,
		ActorID: c.ActorID, CreatedAt: now,
	}
	switch c.Type {
	case Deposit:
		if s.Balance > math.MaxInt64-MaxAmount-c.Amount {
			return Entry{}, dw.Errorf(dw.KindInvalid, "deposit would overflow the balance")
		}
		e.Amount, e.BalanceDelta = c.Amount, c.Amount
	case Spend:
		amount := c.Amount
		if c.UpToAvailable && amount > s.Available() && s.Available() > 0 {
			amount = s.Available()
		}
		if amount > s.Available() {
			return Entry{}, ErrInsufficientFunds
		}
		e.Amount, e.BalanceDelta = amount, -amount
	case Hold:
		if c.Amount > s.Available() {
			return Entry{}, ErrInsufficientFunds
		}
		e.Amount, e.HeldDelta, e.HoldID = c.Amount, c.Amount, id
		e.ExpiresAt = now.Add(c.ExpiresIn)
	case Capture:
		h, ok := s.Holds[c.HoldID]
		if !ok {
			return Entry{}, dw.Coded(dw.KindNotFound, dw.CodeHoldNotActive, "hold %s is not active on this wallet (unknown, captured, released or expired)", c.HoldID)
		}
		amount := c.Amount
		if amount == 0 {
			amount = h.Amount
		}
		if amount > h.Amount {
			return Entry{}, dw.Errorf(dw.KindInvalid, "capture of %d exceeds the hold of %d", amount, h.Amount)
		}
		// A capture closes the hold: what is not captured is released by the same entry.
		e.Amount, e.BalanceDelta, e.HeldDelta, e.HoldID = amount, -amount, -h.Amount, h.ID
	case Release:
		h, ok := s.Holds[c.HoldID]
		if !ok {
			return Entry{}, dw.Coded(dw.KindNotFound, dw.CodeHoldNotActive, "hold %s is not active on this wallet (unknown, captured, released or expired)", c.HoldID)
		}
		e.Amount, e.HeldDelta, e.HoldID = h.Amount, -h.Amount, h.ID
	case Refund:
		left, ok := s.Refundable[c.TransactionID]
		if !ok {
			return Entry{}, dw.Coded(dw.KindNotFound, dw.CodeTransactionNotRefundable, "transaction %s is not a spend or capture of this wallet", c.TransactionID)
		}
		amount := c.Amount
		if amount == 0 {
			amount = left
		}
		if amount == 0 || amount > left {
			return Entry{}, dw.Coded(dw.KindInvalid, dw.CodeRefundExceedsSpend, "refund of %d exceeds the %d still refundable", amount, left)
		}
		e.Amount, e.BalanceDelta, e.RefundOf = amount, amount, c.TransactionID
	case Adjust:
		if c.Amount < 0 && -c.Amount > s.Available() {
			return Entry{}, ErrInsufficientFunds
		}
		if c.Amount > 0 && s.Balance > math.MaxInt64-MaxAmount-c.Amount {
			return Entry{}, dw.Errorf(dw.KindInvalid, "adjustment would overflow the balance")
		}
		e.Amount, e.BalanceDelta = abs(c.Amount), c.Amount
	}
	s.commit(&e)
	return e, nil
}

// ExpireHolds releases every hold whose expiry is at or before now, returning one release entry
// per hold (idempotency key "expire:<hold id>"). newID gives each entry its ID.
func (s *State) ExpireHolds(now time.Time, newID func() string) []Entry {
	var out []Entry
	for _, h := range s.Holds {
		if h.ExpiresAt.After(now) {
			continue
		}
		c := Command{Type: Release, HoldID: h.ID, Reason: "expired", IdempotencyKey: "expire:" + h.ID}
		e := Entry{
			ID: newID(), WalletID: s.ID, Type: Release, Status: "success", Amount: h.Amount,
			HeldDelta: -h.Amount, HoldID: h.ID, Reason: "expired", IdempotencyKey: c.IdempotencyKey,
			RequestHash: c.Hash(), CreatedAt: now,
		}
		s.commit(&e)
		out = append(out, e)
	}
	return out
}

// NextExpiry is the earliest expiry of an active hold, or the zero time.
func (s *State) NextExpiry() time.Time {
	var t time.Time
	for _, h := range s.Holds {
		if t.IsZero() || h.ExpiresAt.Before(t) {
			t = h.ExpiresAt
		}
	}
	return t
}

// commit folds a valid entry into the state and stamps it with the next sequence number.
func (s *State) commit(e *Entry) {
	s.Seq++
	s.Balance += e.BalanceDelta
	s.Held += e.HeldDelta
	e.Seq, e.BalanceAfter, e.HeldAfter = s.Seq, s.Balance, s.Held
	switch e.Type {
	case Hold:
		if s.Holds == nil {
			s.Holds = map[string]HoldInfo{}
		}
		s.Holds[e.ID] = HoldInfo{ID: e.ID, Amount: e.Amount, ExpiresAt: e.ExpiresAt}
	case Capture, Release:
		delete(s.Holds, e.HoldID)
	case Refund:
		s.Refundable[e.RefundOf] -= e.Amount
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
