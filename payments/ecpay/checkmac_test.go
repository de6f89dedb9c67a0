package ecpay

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/divinewhispers/dw/payments"
)

// form builds url.Values from name, value pairs.
func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// TestCheckMacValueVectors checks CheckMacValue against values published by ECPay and by
// independent implementations that pass against ECPay's stage environment.
func TestCheckMacValueVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		fields  url.Values
		key, iv string
		hash    func() hash.Hash
		want    string
	}{{
		// ECPay's own worked example: 全方位金流 API 技術文件, 附錄 / 檢查碼機制,
		// https://developers.ecpay.com.tw/?p=2902 (English: ?p=16623), stage merchant 3002607.
		name: "ecpay docs p=2902 AioCheckOut (CJK, spaces, URL)",
		fields: form("TradeDesc", "促銷方案", "PaymentType", "aio", "MerchantTradeDate", "2023/03/12 15:30:23",
			"MerchantTradeNo", "ecpay20230312153023", "MerchantID", "3002607",
			"ReturnURL", "https://www.ecpay.com.tw/receive.php", "ItemName", "Apple iphone 15",
			"TotalAmount", "30000", "ChoosePayment", "ALL", "EncryptType", "1"),
		key: "pwFHCqoQZGmho4w6", iv: "EkRm7iFT261dpevs", hash: sha256.New,
		want: "6C51C9E6888DE861FD62FB1DD17029FC742634498FD813DC43D4243B5685B840",
	}, {
		// The earlier edition of the same appendix, with the public stage merchant 2000132
		// (HashKey 5294y06JbISpM5x9, HashIV v77hoKGq4kWxNNIS); the value is asserted by the
		// tests of fall1600/ecpay (tests/MerchantTest.php, test_countChecksum) and of an Elixir
		// SDK (ECPayPayment.HashTest), which also pin the encoded string.
		name: "ecpay docs (2013 edition) AioCheckOut, merchant 2000132",
		fields: form("TradeDesc", "促銷方案", "PaymentType", "aio", "MerchantTradeDate", "2013/03/12 15:30:23",
			"MerchantTradeNo", "ecpay20130312153023", "MerchantID", "2000132",
			"ReturnURL", "https://www.ecpay.com.tw/receive.php", "ItemName", "Apple iphone 7 手機殼",
			"TotalAmount", "1000", "ChoosePayment", "ALL", "EncryptType", "1"),
		key: "5294y06JbISpM5x9", iv: "v77hoKGq4kWxNNIS", hash: sha256.New,
		want: "CFA9BDE377361FBDD8F160274930E815D1A8A2E3E80CE7D404C45FC9A0A1E407",
	}, {
		// A real stage payment notification (merchant 2000132) from omnipay-taiwan/omnipay-ecpay,
		// tests/Message/AcceptNotificationRequestTest.php: empty fields and a sorted-in
		// CheckMacValue that must be left out.
		name: "omnipay-ecpay notification, merchant 2000132",
		fields: form("CustomField1", "", "CustomField2", "", "CustomField3", "", "CustomField4", "",
			"MerchantID", "2000132", "MerchantTradeNo", "2821567410556", "PaymentDate", "2019/09/02 15:49:58",
			"PaymentType", "Credit_CreditCard", "PaymentTypeChargeFee", "1", "RtnCode", "1", "RtnMsg", "Succeeded",
			"SimulatePaid", "0", "StoreID", "", "TradeAmt", "4250", "TradeDate", "2019/09/02 15:49:16",
			"TradeNo", "1909021549160081", "CheckMacValue", "E7EC8DDC6C5C51B1A4D8BEA261246066858B38184C55FD3DD3D6DFF53F535A64"),
		key: "5294y06JbISpM5x9", iv: "v77hoKGq4kWxNNIS", hash: sha256.New,
		want: "E7EC8DDC6C5C51B1A4D8BEA261246066858B38184C55FD3DD3D6DFF53F535A64",
	}, {
		// A stage notification with CJK in RtnMsg, from fall1600/ecpay tests/MerchantTest.php
		// (test_validateResponse; its nulls are PHP's empty strings).
		name: "fall1600 notification with 交易成功",
		fields: form("CustomField1", "abc", "CustomField2", "def", "CustomField3", "fff", "CustomField4", "",
			"MerchantID", "2000132", "MerchantTradeNo", "1589634536", "PaymentDate", "2020/05/16 21:09:36",
			"PaymentType", "Credit_CreditCard", "PaymentTypeChargeFee", "20", "RtnCode", "1", "RtnMsg", "交易成功",
			"SimulatePaid", "0", "StoreID", "", "TradeAmt", "1000", "TradeDate", "2020/05/16 21:08:56",
			"TradeNo", "2005162108564884"),
		key: "5294y06JbISpM5x9", iv: "v77hoKGq4kWxNNIS", hash: sha256.New,
		want: "1FE882456C87E84D69CD9386B886E70BAD482513D0742D828AE724AEEA4AACFA",
	}, {
		// A notification ECPay's stage itself posted to a ReturnURL (merchant 3002607, a card
		// payment of 2025-10-14), published in "[教學] ecpay 綠界如何編碼 CheckMacValue",
		// https://www.tshopping.com.tw/thread-265081-1-1.html: ECPay's own signature, over
		// lower-case names with underscores (auth_code, red_de_amt) sorted case-insensitively.
		name:   "ecpay stage notification, merchant 3002607",
		fields: stageNotification(),
		key:    "pwFHCqoQZGmho4w6", iv: "EkRm7iFT261dpevs", hash: sha256.New,
		want: "EE759D314B59ACB73C8B9129620F90964D78C3EDE06B2661C63BB984AC41AC3E",
	}, {
		// ECPay's MD5 worked example (電子發票 附錄 / 檢查碼機制, https://developers.ecpay.com.tw/?p=38242):
		// the same encoding, underscores in names, '-' and ':' in values, an empty RtnMsg.
		name: "ecpay docs p=38242 MD5",
		fields: form("RtnCode", "1", "RtnMsg", "", "IA_Allow_No", "1909181313013546", "IA_Invoice_No", "UV11100019",
			"IA_Date", "2019-09-18 13:13:23", "IIS_Remain_Allowance_Amt", "0"),
		key: "ejCk326UnaZWKisg", iv: "q9jcZX8Ib9LM8wYk", hash: md5.New,
		want: "50A276E71DAE26343013958B405EEEA0",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := checkMac(tc.fields, tc.key, tc.iv, tc.hash); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestECPayURLEncode pins the encoding of the characters where PHP's urlencode, Go's
// QueryEscape and .NET's UrlEncode differ, against ECPay's URLEncode table (.NET 編碼(ecpay)
// column, https://support.ecpay.com.tw/16692) and PHP's documented urlencode.
func TestECPayURLEncode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		" ":        "+",      // space is + (urlencode, RFC 1866), not %20
		"~":        "%7e",    // PHP and .NET escape ~; Go's QueryEscape does not
		"-":        "-",      // .NET leaves - _ . ! * ( ) alone
		"_":        "_",      //
		".":        ".",      //
		"!":        "!",      // PHP gives %21, undone by the SDK
		"*":        "*",      // %2a, undone
		"(":        "(",      // %28, undone
		")":        ")",      // %29, undone
		"+":        "%2b",    //
		"'":        "%27",    //
		"\"":       "%22",    //
		"%":        "%25",    //
		"/":        "%2f",    //
		"@#":       "%40%23", //
		"AbC":      "abc",    // the whole string is lower-cased
		"促":        "%e4%bf%83",
		"\x00\xff": "%00%ff", // bytes, not runes: invalid UTF-8 passes through escaped
	} {
		if got := string(ecpayURLEncode(in)); got != want {
			t.Errorf("ecpayURLEncode(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCheckMacValueSpecialCharacters pins the signature of values with every character the
// encodings disagree on, next to the string the SDK's steps produce, computed step by step
// with Go's standard library (sdkEncode).
func TestCheckMacValueSpecialCharacters(t *testing.T) {
	t.Parallel()
	v := form("MerchantID", "2000132", "ItemName", "神籤 解說 ~ (100 點)*!", "TradeDesc", "a+b=c&d/e?f'g\"h",
		"itemname_lower", "x", "CheckMacValue", "ignored")
	raw := "HashKey=5294y06JbISpM5x9&ItemName=神籤 解說 ~ (100 點)*!&itemname_lower=x&MerchantID=2000132" +
		"&TradeDesc=a+b=c&d/e?f'g\"h&HashIV=v77hoKGq4kWxNNIS"
	if got, want := string(ecpayURLEncode(raw)), sdkEncode(raw); got != want {
		t.Fatalf("encoded\n got %s\nwant %s", got, want)
	}
	sum := sha256.Sum256([]byte(sdkEncode(raw)))
	if got, want := CheckMacValue(v, "5294y06JbISpM5x9", "v77hoKGq4kWxNNIS"), strings.ToUpper(hex.EncodeToString(sum[:])); got != want {
		t.Fatalf("CheckMacValue = %s, want %s", got, want)
	}
	// The same, pinned: computed a third way, with Python's urllib.parse.quote_plus(raw, safe="")
	// and ~ → %7E, lower-cased, the .NET replacements, hashlib.sha256.
	if got, want := CheckMacValue(v, "5294y06JbISpM5x9", "v77hoKGq4kWxNNIS"), "F27DB3D53101069DACE2A01C48D6EA5585942445B9FE47DF469F27DEACDCBCC3"; got != want {
		t.Fatalf("CheckMacValue = %s, want %s", got, want)
	}
}

// sdkEncode is UrlService::ecpayUrlEncode done literally: PHP's urlencode (Go's QueryEscape
// with ~ escaped as well), strtolower, then str_replace of the .NET table in the SDK's order.
func sdkEncode(s string) string {
	enc := strings.ReplaceAll(url.QueryEscape(s), "~", "%7E")
	enc = strings.ToLower(enc)
	for _, r := range [][2]string{{"%2d", "-"}, {"%5f", "_"}, {"%2e", "."}, {"%21", "!"}, {"%2a", "*"}, {"%28", "("}, {"%29", ")"}} {
		enc = strings.ReplaceAll(enc, r[0], r[1])
	}
	return enc
}

// stageNotification is the notification of the tshopping.com.tw vector, as ECPay posted it
// (its RtnMsg is 交易成功; the page shows its UTF-8 bytes read as Latin-1).
func stageNotification() url.Values {
	return form("AlipayID", "", "AlipayTradeNo", "", "amount", "80800", "ATMAccBank", "", "ATMAccNo", "",
		"auth_code", "777777", "card4no", "2222", "card6no", "431195", "CustomField1", "", "CustomField2", "",
		"CustomField3", "", "CustomField4", "", "eci", "0", "ExecTimes", "", "Frequency", "", "gwsr", "13955622",
		"MerchantID", "3002607", "MerchantTradeNo", "2025101423404152", "PayFrom", "", "PaymentDate", "2025/10/14 23:35:34",
		"PaymentNo", "", "PaymentType", "Credit_CreditCard", "PaymentTypeChargeFee", "1981", "PeriodAmount", "",
		"PeriodType", "", "process_date", "2025/10/14 23:35:34", "red_dan", "0", "red_de_amt", "0", "red_ok_amt", "0",
		"red_yet", "0", "RtnCode", "1", "RtnMsg", "交易成功", "SimulatePaid", "0", "staed", "0", "stage", "0", "stast", "0",
		"StoreID", "", "TenpayTradeNo", "", "TotalSuccessAmount", "", "TotalSuccessTimes", "", "TradeAmt", "80800",
		"TradeDate", "2025/10/14 23:35:01", "TradeNo", "2510142335016248", "WebATMAccBank", "", "WebATMAccNo", "",
		"WebATMBankName", "", "CheckMacValue", "EE759D314B59ACB73C8B9129620F90964D78C3EDE06B2661C63BB984AC41AC3E")
}

// TestParseStageNotification reads the notification ECPay's stage signed.
func TestParseStageNotification(t *testing.T) {
	t.Parallel()
	p, err := New(Config{MerchantID: "3002607", HashKey: "pwFHCqoQZGmho4w6", HashIV: "EkRm7iFT261dpevs"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := p.ParseNotification(t.Context(), nil, []byte(stageNotification().Encode()), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := payments.Notification{EventID: "2510142335016248:1", ProviderRef: "2025101423404152",
		Outcome: payments.OutcomePaid, Amount: payments.Money{Currency: "TWD", Minor: 80800}}
	if n != want {
		t.Fatalf("got  %+v\nwant %+v", n, want)
	}
}
