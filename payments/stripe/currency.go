package stripe

import (
	"math"
	"strings"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/payments"
)

// Stripe's minor units (https://docs.stripe.com/currencies): two decimals unless listed here.
var (
	stripeZeroDecimal = set("BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF")
	// Three-decimal currencies: Stripe wants the last digit 0 (whole hundredths).
	stripeThreeDecimal = set("BHD", "JOD", "KWD", "OMR", "TND")
	// Whole units only, though Stripe writes them with two decimals (its "special cases"):
	// 150 TWD is Stripe's 15000, and 150.50 TWD is refused. payments.Money counts these in
	// whole units (ECPay's TotalAmount, what people see).
	wholeUnits = set("TWD", "ISK")
)

func set(codes ...string) map[string]bool {
	m := make(map[string]bool, len(codes))
	for _, c := range codes {
		m[c] = true
	}
	return m
}

// stripeDecimals is how many decimals Stripe's amounts in currency c have.
func stripeDecimals(c string) int {
	switch {
	case stripeZeroDecimal[c]:
		return 0
	case stripeThreeDecimal[c]:
		return 3
	}
	return 2
}

// ourDecimals is how many decimals payments.Money's Minor has in currency c.
func ourDecimals(c string) int {
	if wholeUnits[c] {
		return 0
	}
	return stripeDecimals(c)
}

func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

// toStripe turns m into Stripe's currency (lower case) and amount.
//
// Errors: invalid (invalid_amount) when the currency is not three letters, the amount is not
// positive, or Stripe cannot charge it (a three-decimal amount whose last digit is not 0).
func toStripe(m payments.Money) (currency string, amount int64, err error) {
	if !validCurrency(m.Currency) {
		return "", 0, dw.Coded(dw.KindInvalid, "invalid_amount", "currency %q is not an upper-case ISO 4217 code", m.Currency)
	}
	if m.Minor <= 0 {
		return "", 0, dw.Coded(dw.KindInvalid, "invalid_amount", "amount %d %s is not positive", m.Minor, m.Currency)
	}
	if stripeThreeDecimal[m.Currency] && m.Minor%10 != 0 {
		return "", 0, dw.Coded(dw.KindInvalid, "invalid_amount", "Stripe charges %s only in whole hundredths: %d ends in %d", m.Currency, m.Minor, m.Minor%10)
	}
	f := factor(m.Currency)
	if m.Minor > math.MaxInt64/f {
		return "", 0, dw.Coded(dw.KindInvalid, "invalid_amount", "amount %d %s is too large", m.Minor, m.Currency)
	}
	return strings.ToLower(m.Currency), m.Minor * f, nil
}

// fromStripe is the inverse of toStripe: Stripe's currency (any case) and amount as Money.
//
// Errors: invalid (invalid_amount) when the currency is not three letters or the amount is
// not a whole number of our minor units (a fraction of a TWD).
func fromStripe(currency string, amount int64) (payments.Money, error) {
	c := strings.ToUpper(currency)
	if !validCurrency(c) {
		return payments.Money{}, dw.Coded(dw.KindInvalid, "invalid_amount", "currency %q is not an ISO 4217 code", currency)
	}
	f := factor(c)
	if amount%f != 0 {
		return payments.Money{}, dw.Coded(dw.KindInvalid, "invalid_amount", "Stripe amount %d %s is not a whole number of %s", amount, currency, c)
	}
	return payments.Money{Currency: c, Minor: amount / f}, nil
}

// factor is how many of Stripe's units make one of ours in currency c.
func factor(c string) int64 {
	f := int64(1)
	for range stripeDecimals(c) - ourDecimals(c) {
		f *= 10
	}
	return f
}
