package stripe

import (
	"math"
	"testing"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/payments"
)

func TestToStripe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		in           payments.Money
		wantCurrency string
		wantAmount   int64
		wantErr      bool
	}{
		{"TWD is whole dollars, two decimals at Stripe", payments.Money{Currency: "TWD", Minor: 150}, "twd", 15000, false},
		{"TWD large package", payments.Money{Currency: "TWD", Minor: 1500}, "twd", 150000, false},
		{"ISK is whole krónur, two decimals at Stripe", payments.Money{Currency: "ISK", Minor: 5}, "isk", 500, false},
		{"JPY is zero-decimal", payments.Money{Currency: "JPY", Minor: 500}, "jpy", 500, false},
		{"KRW is zero-decimal", payments.Money{Currency: "KRW", Minor: 1000}, "krw", 1000, false},
		{"UGX is zero-decimal", payments.Money{Currency: "UGX", Minor: 3700}, "ugx", 3700, false},
		{"USD cents", payments.Money{Currency: "USD", Minor: 499}, "usd", 499, false},
		{"HUF keeps its fillér", payments.Money{Currency: "HUF", Minor: 1050}, "huf", 1050, false},
		{"KWD three decimals ending in 0", payments.Money{Currency: "KWD", Minor: 5120}, "kwd", 5120, false},
		{"KWD three decimals not ending in 0", payments.Money{Currency: "KWD", Minor: 5124}, "", 0, true},
		{"lower-case currency", payments.Money{Currency: "twd", Minor: 150}, "", 0, true},
		{"not a code", payments.Money{Currency: "TW", Minor: 150}, "", 0, true},
		{"zero", payments.Money{Currency: "TWD", Minor: 0}, "", 0, true},
		{"negative", payments.Money{Currency: "USD", Minor: -1}, "", 0, true},
		{"overflows Stripe's units", payments.Money{Currency: "TWD", Minor: math.MaxInt64 / 10}, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, a, err := toStripe(tt.in)
			if tt.wantErr {
				if dw.CodeOf(err) != "invalid_amount" {
					t.Fatalf("toStripe(%+v) = %q %d, %v; want invalid_amount", tt.in, c, a, err)
				}
				return
			}
			if err != nil || c != tt.wantCurrency || a != tt.wantAmount {
				t.Fatalf("toStripe(%+v) = %q %d, %v; want %q %d", tt.in, c, a, err, tt.wantCurrency, tt.wantAmount)
			}
			back, err := fromStripe(c, a)
			if err != nil || back != tt.in {
				t.Fatalf("fromStripe(%q, %d) = %+v, %v; want %+v back", c, a, back, err, tt.in)
			}
		})
	}
}

func TestFromStripe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		currency string
		amount   int64
		want     payments.Money
		wantErr  bool
	}{
		{"twd", 15000, payments.Money{Currency: "TWD", Minor: 150}, false},
		{"TWD", 15000, payments.Money{Currency: "TWD", Minor: 150}, false},
		{"twd", 15050, payments.Money{}, true}, // 150.50 TWD: not a whole dollar
		{"isk", 550, payments.Money{}, true},
		{"jpy", 500, payments.Money{Currency: "JPY", Minor: 500}, false},
		{"usd", 499, payments.Money{Currency: "USD", Minor: 499}, false},
		{"kwd", 5124, payments.Money{Currency: "KWD", Minor: 5124}, false}, // Stripe would not send it; representable anyway
		{"twd", 0, payments.Money{Currency: "TWD", Minor: 0}, false},
		{"", 100, payments.Money{}, true},
		{"usdx", 100, payments.Money{}, true},
		{"u$d", 100, payments.Money{}, true},
	}
	for _, tt := range tests {
		got, err := fromStripe(tt.currency, tt.amount)
		if tt.wantErr {
			if dw.CodeOf(err) != "invalid_amount" {
				t.Errorf("fromStripe(%q, %d) = %+v, %v; want invalid_amount", tt.currency, tt.amount, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("fromStripe(%q, %d) = %+v, %v; want %+v", tt.currency, tt.amount, got, err, tt.want)
		}
	}
}
