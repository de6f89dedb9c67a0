package ecpay

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/payments"
)

// The public stage credentials of ECPay's AIO test merchant, which the seeds are signed with.
const fuzzMerchant, fuzzKey, fuzzIV = "3002607", "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs"

func fuzzProvider(f *testing.F) *Provider {
	p, err := New(Config{MerchantID: fuzzMerchant, HashKey: fuzzKey, HashIV: fuzzIV, Base: "http://127.0.0.1:9"})
	if err != nil {
		f.Fatal(err)
	}
	return p
}

// signedSeed is a notification signed with the fuzz credentials, so the fuzzer starts past the
// signature check (the committed corpus in testdata/fuzz holds more).
func signedSeed(kv ...string) []byte {
	v := form(kv...)
	v.Set("CheckMacValue", CheckMacValue(v, fuzzKey, fuzzIV))
	return []byte(v.Encode())
}

var upperHex64 = regexp.MustCompile(`^[0-9A-F]{64}$`)

// FuzzCheckMacValue checks the one-pass encoder against the SDK's three steps done literally
// (sdkEncode), and that any form's CheckMacValue verifies against itself and only in its form.
func FuzzCheckMacValue(f *testing.F) {
	for _, s := range []string{"", " ", "~", "!*()-_.", "%", "+", "a=b&c=d", "ItemName=神籤 ~(1)*!&TradeDesc=促銷方案",
		"CheckMacValue=x&a=1", "\x00\xff\xfe", "a=%E4%BF%83&A=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if got, want := string(ecpayURLEncode(raw)), sdkEncode(raw); got != want {
			t.Fatalf("ecpayURLEncode(%q) = %q, the SDK's steps give %q", raw, got, want)
		}
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		mac := CheckMacValue(v, fuzzKey, fuzzIV)
		if !upperHex64.MatchString(mac) {
			t.Fatalf("CheckMacValue %q is not 64 upper-case hex digits", mac)
		}
		if !validMac(v, mac, fuzzKey, fuzzIV) || !validMac(v, strings.ToLower(mac), fuzzKey, fuzzIV) {
			t.Fatal("a CheckMacValue does not verify its own form")
		}
		if validMac(v, mac, fuzzKey+"x", fuzzIV) {
			t.Fatal("a CheckMacValue verifies under another key")
		}
		v.Set("CheckMacValue", "anything") // never part of its own computation
		if CheckMacValue(v, fuzzKey, fuzzIV) != mac {
			t.Fatal("the CheckMacValue field changed the CheckMacValue")
		}
	})
}

// FuzzParseNotification feeds arbitrary bodies to ParseNotification: it never panics, refuses
// with invalid_signature, or accepts only a signed body of our merchant and reads it consistently.
func FuzzParseNotification(f *testing.F) {
	p := fuzzProvider(f)
	f.Add(signedSeed("MerchantID", fuzzMerchant, "MerchantTradeNo", "0A1B2C3D4E5F6G7H8I9J", "RtnCode", "1", "RtnMsg", "交易成功",
		"TradeNo", "2412041630050001", "TradeAmt", "150", "SimulatePaid", "0", "CustomField1", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"))
	f.Add(signedSeed("MerchantID", fuzzMerchant, "RtnCode", "10100073", "TradeAmt", ""))
	f.Add([]byte("MerchantID=3002607&RtnCode=1&CheckMacValue=00"))
	f.Add([]byte("%"))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := p.ParseNotification(t.Context(), http.Header{}, body, time.Now())
		if err != nil {
			if dw.KindOf(err) != dw.KindInvalid || dw.CodeOf(err) != codeInvalidSignature {
				t.Fatalf("error %v is not invalid_signature", err)
			}
			return
		}
		v, ferr := readForm(body)
		if ferr != nil {
			t.Fatalf("accepted a body that is not a form: %v", ferr)
		}
		if !validMac(v, v.Get("CheckMacValue"), fuzzKey, fuzzIV) || v.Get("MerchantID") != fuzzMerchant {
			t.Fatal("accepted an unsigned body or another merchant's")
		}
		switch n.Outcome {
		case payments.OutcomePaid, payments.OutcomePending, payments.OutcomeFailed:
		default:
			t.Fatalf("outcome %q", n.Outcome)
		}
		if !strings.HasSuffix(n.EventID, ":"+v.Get("RtnCode")) || n.Amount.Currency != "TWD" || n.Amount.Minor < 0 {
			t.Fatalf("notification %+v of %v", n, v)
		}
		if n.Simulated != (v.Get("SimulatePaid") == "1") || n.ProviderRef != v.Get("MerchantTradeNo") {
			t.Fatalf("notification %+v of %v", n, v)
		}
	})
}

// FuzzParseTrade feeds arbitrary answers to QueryTradeInfo's parser.
func FuzzParseTrade(f *testing.F) {
	p := fuzzProvider(f)
	f.Add(signedSeed("MerchantID", fuzzMerchant, "MerchantTradeNo", "ABC", "TradeNo", "2412041630050001", "TradeAmt", "150",
		"TradeStatus", "1", "PaymentType", "Credit_CreditCard"))
	f.Add(signedSeed("MerchantID", fuzzMerchant, "MerchantTradeNo", "ABC", "TradeStatus", "0", "TradeAmt", "150"))
	f.Add([]byte("TradeStatus=10200047"))
	f.Add([]byte("CheckMacValue Error"))
	f.Fuzz(func(t *testing.T, body []byte) {
		tr, err := p.parseTrade(body, "ABC")
		if err != nil {
			switch code := dw.CodeOf(err); code {
			case codeRefused, codeInvalidSignature, string(dw.KindNotFound):
			default:
				t.Fatalf("error code %q (%v)", code, err)
			}
			return
		}
		v, _ := readForm(body)
		if !validMac(v, v.Get("CheckMacValue"), fuzzKey, fuzzIV) || v.Get("MerchantTradeNo") != "ABC" || tr.status == "" {
			t.Fatalf("accepted %q as %+v", body, tr)
		}
	})
}
