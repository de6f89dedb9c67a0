package payments

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	dw "github.com/divinewhispers/dw"
)

// PaymentStatus is where a payment of ours stands.
type PaymentStatus string

const (
	StatusPending   PaymentStatus = "pending"   // created; the person is at the provider (or left)
	StatusSucceeded PaymentStatus = "succeeded" // the provider confirmed: the points are (being) credited
	StatusFailed    PaymentStatus = "failed"    // declined, cancelled, expired, or the provider was down
	StatusRefunded  PaymentStatus = "refunded"  // paid, then given back (at the provider and in the ledger)
	StatusFlagged   PaymentStatus = "flagged"   // the provider's word disagrees with ours: an admin looks
)

// Statuses lists every status, for filters.
var Statuses = []PaymentStatus{StatusPending, StatusSucceeded, StatusFailed, StatusRefunded, StatusFlagged}

// Payment is one purchase of a package.
type Payment struct {
	ID          string // a UUID
	UserID      string
	WalletID    string // credited on success
	Provider    string
	PackageID   string
	Points      int64
	Price       Money
	Status      PaymentStatus
	ProviderRef string // "" until the provider answered the checkout
	// Reason says why the payment failed or was flagged ("" otherwise).
	Reason string
	// TransactionID is the ledger deposit of the points ("" until credited); RefundTransactionID
	// the ledger entry that took them back.
	TransactionID       string
	RefundTransactionID string
	// Checkout is what the client was sent to (kept so a replayed Idempotency-Key gets it again).
	Checkout  Checkout
	CreatedAt time.Time
	UpdatedAt time.Time
	PaidAt    time.Time // zero until succeeded
	// RefundedAt is zero until refunded.
	RefundedAt time.Time
}

// Package ids, and the table of currency exponents (ISO 4217 minor units) the providers use.
var packageID = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

var zeroDecimal = map[string]bool{"TWD": true, "JPY": true, "KRW": true}

// Exponent is the number of minor-unit digits of a currency as providers count it: 0 for TWD,
// JPY and KRW, 2 for the rest.
func Exponent(currency string) int {
	if zeroDecimal[currency] {
		return 0
	}
	return 2
}

// MaxPackages bounds a package list; MaxPoints and MaxMinor bound one package.
const (
	MaxPackages = 20
	MaxPoints   = int64(1) << 40
	MaxMinor    = int64(1) << 40
)

// DefaultPackages is the package list when none is configured.
const DefaultPackages = "small:100:TWD:150,medium:500:TWD:690,large:1200:TWD:1500"

// Major is the amount of m in major units, as a decimal string: "150", "4.99".
func (m Money) Major() string {
	e := Exponent(m.Currency)
	if e == 0 {
		return strconv.FormatInt(m.Minor, 10)
	}
	s := fmt.Sprintf("%0*d", e+1, m.Minor)
	return s[:len(s)-e] + "." + s[len(s)-e:]
}

func (m Money) String() string { return m.Major() + " " + m.Currency }

// ParsePackages reads a package list "id:points:currency:price,…" (price in major units with at
// most the currency's decimals, e.g. small:100:TWD:150,intl:500:USD:4.99). Every problem is
// reported, each keyed by its field (packages[1].price: …). Errors: invalid (code
// invalid_packages).
func ParsePackages(s string) ([]Package, error) {
	var errs []error
	add := func(i int, field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("packages[%d].%s: %s", i, field, fmt.Sprintf(format, args...)))
	}
	var out []Package
	seen := map[string]bool{}
	items := strings.Split(strings.TrimSpace(s), ",")
	if strings.TrimSpace(s) == "" {
		return nil, dw.Coded(dw.KindInvalid, "invalid_packages", "packages: at least one package id:points:currency:price is needed")
	}
	if len(items) > MaxPackages {
		return nil, dw.Coded(dw.KindInvalid, "invalid_packages", "packages: at most %d packages", MaxPackages)
	}
	for i, item := range items {
		parts := strings.Split(strings.TrimSpace(item), ":")
		if len(parts) != 4 {
			errs = append(errs, fmt.Errorf("packages[%d]: %q is not id:points:currency:price", i, truncate(item)))
			continue
		}
		var p Package
		p.ID = parts[0]
		if !packageID.MatchString(p.ID) {
			add(i, "id", "%q must be 1 to 32 of a-z, 0-9, _ and -", truncate(p.ID))
		} else if seen[p.ID] {
			add(i, "id", "%q appears twice", p.ID)
		}
		seen[p.ID] = true
		points, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil || points <= 0 || points > MaxPoints {
			add(i, "points", "%q must be a whole number from 1 to %d", truncate(parts[1]), MaxPoints)
		}
		p.Points = points
		cur := parts[2]
		if len(cur) != 3 || strings.ToUpper(cur) != cur || strings.Trim(cur, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			add(i, "currency", "%q must be an ISO 4217 code in capitals, e.g. TWD", truncate(cur))
		}
		minor, err := parseMajor(parts[3], Exponent(cur))
		if err != nil {
			add(i, "price", "%s", err)
		}
		p.Price = Money{Currency: cur, Minor: minor}
		out = append(out, p)
	}
	if len(errs) > 0 {
		return nil, &dw.Error{Kind: dw.KindInvalid, Code: "invalid_packages", Message: errors.Join(errs...).Error()}
	}
	return out, nil
}

// parseMajor reads a positive decimal with at most exp decimals into minor units.
// FormatPackages writes pkgs as ParsePackages reads them (id:points:currency:price, the price
// in major units), so that ParsePackages(FormatPackages(p)) is p.
func FormatPackages(pkgs []Package) string {
	parts := make([]string, len(pkgs))
	for i, p := range pkgs {
		parts[i] = fmt.Sprintf("%s:%d:%s:%s", p.ID, p.Points, p.Price.Currency, p.Price.Major())
	}
	return strings.Join(parts, ",")
}

func parseMajor(s string, exp int) (int64, error) {
	whole, frac, dot := strings.Cut(s, ".")
	bad := fmt.Errorf("%q must be a positive amount with at most %d decimals", truncate(s), exp)
	if whole == "" || len(whole) > 13 || strings.Trim(whole, "0123456789") != "" || (dot && (frac == "" || len(frac) > exp)) ||
		strings.Trim(frac, "0123456789") != "" {
		return 0, bad
	}
	for len(frac) < exp {
		frac += "0"
	}
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || v <= 0 || v > MaxMinor {
		return 0, bad
	}
	return v, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
