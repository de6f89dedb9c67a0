package ecpay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/payments/ecpay"
	"github.com/divinewhispers/dw/payments/ecpay/ecpaytest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const paymentID = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

// bundle is a provider against its own ECPay-protocol server, and a ReturnURL receiver that
// handles notifications the way the payment service does (verify, then acknowledge).
type bundle struct {
	ecpay *ecpaytest.Server
	p     *ecpay.Provider
	recv  *receiver
	ctx   context.Context
}

func setup(t *testing.T) *bundle {
	t.Helper()
	srv := ecpaytest.Start(t, ecpaytest.Options{})
	p, err := ecpay.New(srv.Config())
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{p: p}
	hs := httptest.NewServer(rc)
	t.Cleanup(hs.Close)
	rc.url = hs.URL + "/api/v1/payments/webhooks/ecpay"
	return &bundle{ecpay: srv, p: p, recv: rc, ctx: t.Context()}
}

// checkout starts a checkout of price TWD for id and posts it to the server, as the browser does.
func (b *bundle) checkout(t *testing.T, id string, price int64) string {
	t.Helper()
	co, err := b.p.Checkout(b.ctx, request(id, price, b.recv.url))
	if err != nil {
		t.Fatal(err)
	}
	mtn, err := b.ecpay.Submit(b.ctx, co)
	if err != nil {
		t.Fatal(err)
	}
	return mtn
}

func request(id string, price int64, notify string) payments.CheckoutRequest {
	return payments.CheckoutRequest{
		PaymentID:   id,
		Package:     payments.Package{ID: "small", Points: 100, Price: payments.Money{Currency: "TWD", Minor: price}},
		Description: "Divine Whispers 100 點 #1",
		Language:    "zh-TW",
		SuccessURL:  "https://dw.example.com/wallet?payment=" + id,
		CancelURL:   "https://dw.example.com/wallet",
		NotifyURL:   notify,
		CreatedAt:   time.Date(2026, 12, 4, 16, 30, 5, 0, time.UTC),
	}
}

// receiver is a ReturnURL: it parses each notification and acknowledges the valid ones,
// after failing the first failFirst of them with a 500.
type receiver struct {
	p   *ecpay.Provider
	url string

	mu        sync.Mutex
	failFirst int
	got       []payments.Notification
	errs      []error
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	n, err := rc.p.ParseNotification(r.Context(), r.Header, body, time.Now())
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err != nil {
		rc.errs = append(rc.errs, err)
		http.Error(w, dw.CodeOf(err), http.StatusBadRequest)
		return
	}
	rc.got = append(rc.got, n)
	if rc.failFirst > 0 {
		rc.failFirst--
		http.Error(w, "try again", http.StatusInternalServerError)
		return
	}
	ack := rc.p.Acknowledge()
	w.Header().Set("Content-Type", ack.ContentType)
	w.WriteHeader(ack.Status)
	w.Write(ack.Body)
}

func (rc *receiver) notifications() []payments.Notification {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]payments.Notification(nil), rc.got...)
}

func wantCode(t *testing.T, err error, kind dw.Kind, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s (%s)", code, kind)
	}
	if dw.KindOf(err) != kind || dw.CodeOf(err) != code {
		t.Fatalf("error %v: kind %s code %s, want %s %s", err, dw.KindOf(err), dw.CodeOf(err), kind, code)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]ecpay.Config{
		"no merchant":   {HashKey: "k", HashIV: "i"},
		"no key":        {MerchantID: "3002607", HashIV: "i"},
		"bad base":      {MerchantID: "3002607", HashKey: "k", HashIV: "i", Base: "ftp://x"},
		"bad payment":   {MerchantID: "3002607", HashKey: "k", HashIV: "i", ChoosePayment: "ATM"},
		"long merchant": {MerchantID: "12345678901", HashKey: "k", HashIV: "i"},
	} {
		if _, err := ecpay.New(cfg); dw.KindOf(err) != dw.KindInvalid {
			t.Errorf("%s: New = %v, want invalid", name, err)
		}
	}
	p, err := ecpay.New(ecpay.Config{MerchantID: "3002607", HashKey: "k", HashIV: "i"})
	if err != nil {
		t.Fatal(err)
	}
	co, err := p.Checkout(t.Context(), request(paymentID, 150, "https://dw.example.com/n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := co.RedirectURL, "https://payment.ecpay.com.tw/Cashier/AioCheckOut/V5"; got != want {
		t.Fatalf("default RedirectURL %s, want %s", got, want)
	}
	if p.Name() != "ecpay" {
		t.Fatalf("Name %q", p.Name())
	}
}

func TestCheckoutFields(t *testing.T) {
	t.Parallel()
	b := setup(t)
	co, err := b.p.Checkout(b.ctx, request(paymentID, 150, b.recv.url))
	if err != nil {
		t.Fatal(err)
	}
	if co.Method != "POST" || co.RedirectURL != b.ecpay.URL+"/Cashier/AioCheckOut/V5" {
		t.Fatalf("method %s redirect %s", co.Method, co.RedirectURL)
	}
	mtn := co.Fields["MerchantTradeNo"]
	if !regexp.MustCompile(`^[A-Z0-9]{20}$`).MatchString(mtn) || co.ProviderRef != mtn || mtn != ecpay.MerchantTradeNo(paymentID) {
		t.Fatalf("MerchantTradeNo %q, ProviderRef %q", mtn, co.ProviderRef)
	}
	want := map[string]string{
		"MerchantID":        ecpaytest.StageMerchantID,
		"MerchantTradeDate": "2026/12/05 00:30:05", // 16:30:05 UTC is 00:30:05 the next day in Taipei
		"PaymentType":       "aio",
		"TotalAmount":       "150",
		"TradeDesc":         "Divine Whispers 100 點 #1",
		"ItemName":          "Divine Whispers 100 點  1", // '#' would split the item
		"ReturnURL":         b.recv.url,
		"ClientBackURL":     "https://dw.example.com/wallet?payment=" + paymentID,
		"ChoosePayment":     "ALL",
		"EncryptType":       "1",
		"CustomField1":      paymentID,
	}
	for k, v := range want {
		if co.Fields[k] != v {
			t.Errorf("%s = %q, want %q", k, co.Fields[k], v)
		}
	}
	v := url.Values{}
	for k, f := range co.Fields {
		v.Set(k, f)
	}
	if got := ecpay.CheckMacValue(v, ecpaytest.StageHashKey, ecpaytest.StageHashIV); co.Fields["CheckMacValue"] != got {
		t.Fatalf("CheckMacValue %s, want %s", co.Fields["CheckMacValue"], got)
	}
	if _, ok := co.Fields["Language"]; ok {
		t.Fatalf("Language set for zh-TW: %q", co.Fields["Language"])
	}

	// The server takes the form (and the same form again, a browser's double submit).
	for range 2 {
		if got, err := b.ecpay.Submit(b.ctx, co); err != nil || got != mtn {
			t.Fatalf("Submit = %q, %v", got, err)
		}
	}
	o, ok := b.ecpay.Order(mtn)
	if !ok || o.TotalAmount != 150 || o.PaymentID != paymentID || o.ReturnURL != b.recv.url {
		t.Fatalf("order %+v", o)
	}
	// A tampered form is refused.
	tampered := co
	tampered.Fields = map[string]string{}
	for k, f := range co.Fields {
		tampered.Fields[k] = f
	}
	tampered.Fields["TotalAmount"] = "1"
	if _, err := b.ecpay.Submit(b.ctx, tampered); err == nil || !strings.Contains(err.Error(), "CheckMacValue Error") {
		t.Fatalf("tampered form: %v", err)
	}

	en := request("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c", 1500, b.recv.url)
	en.Language = "en"
	co, err = b.p.Checkout(b.ctx, en)
	if err != nil || co.Fields["Language"] != "ENG" || co.Fields["TotalAmount"] != "1500" {
		t.Fatalf("en checkout %v: %v", co.Fields, err)
	}
	if _, err := b.ecpay.Submit(b.ctx, co); err != nil {
		t.Fatal(err)
	}
}

func TestCheckoutRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	usd := request(paymentID, 499, b.recv.url)
	usd.Package.Price.Currency = "USD"
	_, err := b.p.Checkout(b.ctx, usd)
	wantCode(t, err, dw.KindInvalid, "provider_refused")
	_, err = b.p.Checkout(b.ctx, request(paymentID, 0, b.recv.url))
	wantCode(t, err, dw.KindInvalid, "provider_refused")
	_, err = b.p.Checkout(b.ctx, request(paymentID, 150, ""))
	wantCode(t, err, dw.KindInvalid, "invalid")
}

func TestMerchantTradeNoDistinct(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := range 10000 {
		id := fmt.Sprintf("0193a1b2-c3d4-7e5f-8a9b-%012x", i)
		m := ecpay.MerchantTradeNo(id)
		if len(m) != 20 || seen[m] {
			t.Fatalf("MerchantTradeNo(%s) = %s (len %d, seen %v)", id, m, len(m), seen[m])
		}
		seen[m] = true
	}
}

func TestNotifications(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mtn := b.checkout(t, paymentID, 150)
	o, _ := b.ecpay.Order(mtn)
	signed := func(rtn, msg string, sim bool) url.Values {
		v, err := b.ecpay.Notification(mtn, rtn, msg, sim)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	edit := func(v url.Values, k, val string) url.Values {
		v.Set(k, val)
		return b.ecpay.Sign(v)
	}
	for _, tc := range []struct {
		name    string
		body    string
		want    payments.Notification
		errCode string
	}{
		{name: "paid", body: signed("1", "交易成功", false).Encode(),
			want: payments.Notification{EventID: o.TradeNo + ":1", PaymentID: paymentID, ProviderRef: mtn, Outcome: payments.OutcomePaid, Amount: payments.Money{Currency: "TWD", Minor: 150}}},
		{name: "resent with another RtnMsg is the same event", body: signed("1", "paid", false).Encode(),
			want: payments.Notification{EventID: o.TradeNo + ":1", PaymentID: paymentID, ProviderRef: mtn, Outcome: payments.OutcomePaid, Amount: payments.Money{Currency: "TWD", Minor: 150}}},
		{name: "failed", body: signed(ecpaytest.RtnDeclined, "付款失敗", false).Encode(),
			want: payments.Notification{EventID: o.TradeNo + ":" + ecpaytest.RtnDeclined, PaymentID: paymentID, ProviderRef: mtn, Outcome: payments.OutcomeFailed, Amount: payments.Money{Currency: "TWD", Minor: 150}}},
		{name: "simulated", body: signed("1", "交易成功", true).Encode(),
			want: payments.Notification{EventID: o.TradeNo + ":1", PaymentID: paymentID, ProviderRef: mtn, Outcome: payments.OutcomePaid, Amount: payments.Money{Currency: "TWD", Minor: 150}, Simulated: true}},
		{name: "ATM number issued is pending", body: signed("2", "Get VirtualAccount Succeeded", false).Encode(),
			want: payments.Notification{EventID: o.TradeNo + ":2", PaymentID: paymentID, ProviderRef: mtn, Outcome: payments.OutcomePending, Amount: payments.Money{Currency: "TWD", Minor: 150}}},
		{name: "CVS code issued is pending", body: signed("10100073", "Get CVS Code Succeeded", false).Encode(),
			want: payments.Notification{EventID: o.TradeNo + ":10100073", PaymentID: paymentID, ProviderRef: mtn, Outcome: payments.OutcomePending, Amount: payments.Money{Currency: "TWD", Minor: 150}}},
		{name: "mismatched amount passes through", body: edit(signed("1", "交易成功", false), "TradeAmt", "15").Encode(),
			want: payments.Notification{EventID: o.TradeNo + ":1", PaymentID: paymentID, ProviderRef: mtn, Outcome: payments.OutcomePaid, Amount: payments.Money{Currency: "TWD", Minor: 15}}},
		{name: "not our payment id", body: edit(signed("1", "交易成功", false), "CustomField1", "someone else's").Encode(),
			want: payments.Notification{EventID: o.TradeNo + ":1", ProviderRef: mtn, Outcome: payments.OutcomePaid, Amount: payments.Money{Currency: "TWD", Minor: 150}}},
		{name: "lower-case CheckMacValue", body: func() string {
			v := signed("1", "交易成功", false)
			v.Set("CheckMacValue", strings.ToLower(v.Get("CheckMacValue")))
			return v.Encode()
		}(), want: payments.Notification{EventID: o.TradeNo + ":1", PaymentID: paymentID, ProviderRef: mtn, Outcome: payments.OutcomePaid, Amount: payments.Money{Currency: "TWD", Minor: 150}}},
		{name: "forged", body: ecpaytest.Forge(signed("1", "交易成功", false)).Encode(), errCode: "invalid_signature"},
		{name: "missing CheckMacValue", body: ecpaytest.Unsigned(signed("1", "交易成功", false)).Encode(), errCode: "invalid_signature"},
		{name: "amount changed after signing", body: func() string {
			v := signed("1", "交易成功", false)
			v.Set("TradeAmt", "15000")
			return v.Encode()
		}(), errCode: "invalid_signature"},
		{name: "other merchant", body: edit(signed("1", "交易成功", false), "MerchantID", "2000132").Encode(), errCode: "invalid_signature"},
		{name: "field given twice", body: signed("1", "交易成功", false).Encode() + "&TradeAmt=1", errCode: "invalid_signature"},
		{name: "paid without a whole TradeAmt", body: edit(signed("1", "交易成功", false), "TradeAmt", "150.5").Encode(), errCode: "invalid_signature"},
		{name: "not a form", body: "%zz", errCode: "invalid_signature"},
		{name: "empty", body: "", errCode: "invalid_signature"},
		{name: "JSON", body: `{"RtnCode":"1"}`, errCode: "invalid_signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := b.p.ParseNotification(b.ctx, http.Header{}, []byte(tc.body), time.Now())
			if tc.errCode != "" {
				wantCode(t, err, dw.KindInvalid, tc.errCode)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestAcknowledge(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ack := b.p.Acknowledge()
	if ack.Status != 200 || string(ack.Body) != "1|OK" || !strings.HasPrefix(ack.ContentType, "text/plain") {
		t.Fatalf("ack %+v", ack)
	}
}

// TestDelivery pays through the server: its notification reaches the receiver, is resent
// while not acknowledged (another RtnMsg, the same EventID), then stops; duplicates and a
// byte-for-byte replay carry the same EventID; forged ones are refused.
func TestDelivery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mtn := b.checkout(t, paymentID, 150)
	b.recv.mu.Lock()
	b.recv.failFirst = 2
	b.recv.mu.Unlock()
	d, err := b.ecpay.Pay(b.ctx, mtn)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Acked || len(d.Attempts) != 3 {
		t.Fatalf("delivery acked %v after %d attempts, want acked after 3", d.Acked, len(d.Attempts))
	}
	if !strings.Contains(d.Attempts[0].Body, "RtnMsg=%E4%BA%A4%E6%98%93%E6%88%90%E5%8A%9F") || !strings.Contains(d.Attempts[1].Body, "RtnMsg=paid") {
		t.Fatalf("resends carry RtnMsg %q then %q", d.Attempts[0].Body, d.Attempts[1].Body)
	}
	if _, err := b.ecpay.Replay(b.ctx, mtn); err != nil {
		t.Fatal(err)
	}
	if d, err := b.ecpay.Deliver(b.ctx, mtn, ecpaytest.Forge(mustNotification(t, b, mtn))); err != nil || d.Acked || len(d.Attempts) != 5 {
		t.Fatalf("forged delivery: acked %v after %d attempts (%v), want refused 5 times", d.Acked, len(d.Attempts), err)
	}
	ns := b.recv.notifications()
	if len(ns) != 4 { // three attempts and the replay; forged ones never parse
		t.Fatalf("%d notifications parsed, want 4", len(ns))
	}
	for _, n := range ns {
		if n.EventID != ns[0].EventID || n.Outcome != payments.OutcomePaid || n.PaymentID != paymentID || n.Amount.Minor != 150 {
			t.Fatalf("notification %+v differs from %+v", n, ns[0])
		}
	}
	o, _ := b.ecpay.Order(mtn)
	if o.TradeStatus != ecpaytest.TradePaid || len(o.Deliveries) != 9 {
		t.Fatalf("order status %s with %d deliveries", o.TradeStatus, len(o.Deliveries))
	}
	for _, a := range o.Deliveries[4:] {
		if a.Status != http.StatusBadRequest || !strings.Contains(a.Answer, "invalid_signature") {
			t.Fatalf("forged delivery answered %d %q", a.Status, a.Answer)
		}
	}
}

func mustNotification(t *testing.T, b *bundle, mtn string) url.Values {
	t.Helper()
	v, err := b.ecpay.Notification(mtn, "1", "交易成功", false)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLookup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := []string{paymentID, "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5e"}
	paid, failed, simulated, pending := b.checkout(t, ids[0], 150), b.checkout(t, ids[1], 1500), b.checkout(t, ids[2], 150), b.checkout(t, ids[3], 150)
	for _, f := range []func() (ecpaytest.Delivery, error){
		func() (ecpaytest.Delivery, error) { return b.ecpay.Pay(b.ctx, paid) },
		func() (ecpaytest.Delivery, error) { return b.ecpay.Fail(b.ctx, failed) },
		func() (ecpaytest.Delivery, error) { return b.ecpay.PaySimulated(b.ctx, simulated) },
	} {
		if _, err := f(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		id, ref string
		want    payments.Status
	}{
		{ids[0], paid, payments.Status{Outcome: payments.OutcomePaid, Amount: payments.Money{Currency: "TWD", Minor: 150}, ProviderRef: paid}},
		{ids[0], "", payments.Status{Outcome: payments.OutcomePaid, Amount: payments.Money{Currency: "TWD", Minor: 150}, ProviderRef: paid}},
		{ids[1], failed, payments.Status{Outcome: payments.OutcomeFailed, Amount: payments.Money{Currency: "TWD", Minor: 1500}, ProviderRef: failed}},
		{ids[2], simulated, payments.Status{Outcome: payments.OutcomePending, Amount: payments.Money{Currency: "TWD", Minor: 150}, ProviderRef: simulated}},
		{ids[3], pending, payments.Status{Outcome: payments.OutcomePending, Amount: payments.Money{Currency: "TWD", Minor: 150}, ProviderRef: pending}},
	} {
		got, err := b.p.Lookup(b.ctx, tc.id, tc.ref)
		if err != nil || got != tc.want {
			t.Errorf("Lookup(%s, %q) = %+v, %v; want %+v", tc.id, tc.ref, got, err, tc.want)
		}
	}
	_, err := b.p.Lookup(b.ctx, "0193a1b2-c3d4-7e5f-8a9b-000000000000", "")
	wantCode(t, err, dw.KindNotFound, "not_found")
	if b.ecpay.Queries() != 6 {
		t.Fatalf("%d queries", b.ecpay.Queries())
	}
}

func TestRefund(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mtn := b.checkout(t, paymentID, 150)
	refund := payments.RefundRequest{PaymentID: paymentID, ProviderRef: mtn, Amount: payments.Money{Currency: "TWD", Minor: 150}, Reason: "asked"}
	wantCode(t, b.p.Refund(b.ctx, refund), dw.KindInvalid, "provider_refused") // not paid yet
	if _, err := b.ecpay.Pay(b.ctx, mtn); err != nil {
		t.Fatal(err)
	}
	b.ecpay.SetRefundRefusal("訂單狀態錯誤 (not captured)")
	err := b.p.Refund(b.ctx, refund)
	wantCode(t, err, dw.KindInvalid, "provider_refused")
	if !strings.Contains(dw.MessageOf(err), "not captured") {
		t.Fatalf("refusal message %q does not carry ECPay's RtnMsg", dw.MessageOf(err))
	}
	b.ecpay.SetRefundRefusal("")
	over := refund
	over.Amount.Minor = 151
	wantCode(t, b.p.Refund(b.ctx, over), dw.KindInvalid, "provider_refused")
	usd := refund
	usd.Amount.Currency = "USD"
	wantCode(t, b.p.Refund(b.ctx, usd), dw.KindInvalid, "provider_refused")

	noRef := refund
	noRef.ProviderRef = ""
	if err := b.p.Refund(b.ctx, noRef); err != nil {
		t.Fatal(err)
	}
	if o, _ := b.ecpay.Order(mtn); o.Refunded != 150 {
		t.Fatalf("refunded %d", o.Refunded)
	}
	// A second refund of the whole payment is refused by ECPay: nothing is left.
	wantCode(t, b.p.Refund(b.ctx, refund), dw.KindInvalid, "provider_refused")
	_, err = b.p.Lookup(b.ctx, "", "NOSUCHORDER")
	wantCode(t, err, dw.KindNotFound, "not_found")
	err = b.p.Refund(b.ctx, payments.RefundRequest{ProviderRef: "NOSUCHORDER", Amount: payments.Money{Currency: "TWD", Minor: 1}})
	wantCode(t, err, dw.KindNotFound, "not_found")
}

func TestProviderDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mtn := b.checkout(t, paymentID, 150)
	b.ecpay.SetDown(true)
	_, err := b.p.Lookup(b.ctx, paymentID, mtn)
	wantCode(t, err, dw.KindUnavailable, "provider_unavailable")
	err = b.p.Refund(b.ctx, payments.RefundRequest{ProviderRef: mtn, Amount: payments.Money{Currency: "TWD", Minor: 150}})
	wantCode(t, err, dw.KindUnavailable, "provider_unavailable")
	// Checkout needs no call to ECPay: it works while ECPay is down.
	if _, err := b.p.Checkout(b.ctx, request(paymentID, 150, b.recv.url)); err != nil {
		t.Fatal(err)
	}
	b.ecpay.SetDown(false)
	if st, err := b.p.Lookup(b.ctx, paymentID, mtn); err != nil || st.Outcome != payments.OutcomePending {
		t.Fatalf("after recovery: %+v, %v", st, err)
	}
	b.ecpay.Close()
	_, err = b.p.Lookup(b.ctx, paymentID, mtn)
	wantCode(t, err, dw.KindUnavailable, "provider_unavailable")
	if errors.Unwrap(err) == nil {
		t.Fatal("the unavailable error keeps no cause for the log")
	}
}

// TestOtherAnswers covers answers an ECPay-protocol server cannot be made to give: throttling,
// unsigned or forged answers, and pages that are not forms.
func TestOtherAnswers(t *testing.T) {
	t.Parallel()
	const key, iv, merchant = ecpaytest.StageHashKey, ecpaytest.StageHashIV, ecpaytest.StageMerchantID
	signed := func(v url.Values, k, i string) string {
		v.Set("CheckMacValue", ecpay.CheckMacValue(v, k, i))
		return v.Encode()
	}
	answer := url.Values{"MerchantID": {merchant}, "MerchantTradeNo": {"ABC"}, "TradeNo": {"1"}, "TradeAmt": {"150"}, "TradeStatus": {"1"}, "PaymentType": {"Credit_CreditCard"}}
	for _, tc := range []struct {
		name   string
		status int
		body   string
		kind   dw.Kind
		code   string
	}{
		{"throttled", http.StatusForbidden, "", dw.KindUnavailable, "provider_unavailable"},
		{"502", http.StatusBadGateway, "", dw.KindUnavailable, "provider_unavailable"},
		{"404", http.StatusNotFound, "", dw.KindInvalid, "provider_refused"},
		{"error text", http.StatusOK, "CheckMacValue Error", dw.KindInvalid, "provider_refused"},
		{"unsigned", http.StatusOK, answer.Encode(), dw.KindInvalid, "invalid_signature"},
		{"forged", http.StatusOK, signed(cloneOf(answer), "forgedHashKey000", "forgedHashIV0000"), dw.KindInvalid, "invalid_signature"},
		{"other order", http.StatusOK, signed(with(answer, "MerchantTradeNo", "XYZ"), key, iv), dw.KindInvalid, "invalid_signature"},
		{"other merchant", http.StatusOK, signed(with(answer, "MerchantID", "2000132"), key, iv), dw.KindInvalid, "invalid_signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer hs.Close()
			p, err := ecpay.New(ecpay.Config{MerchantID: merchant, HashKey: key, HashIV: iv, Base: hs.URL})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Lookup(t.Context(), "", "ABC")
			wantCode(t, err, tc.kind, tc.code)
			if tc.name == "throttled" && dw.RetryAfterOf(err) != 30*time.Minute {
				t.Fatalf("Retry-After %v", dw.RetryAfterOf(err))
			}
		})
	}
}

func cloneOf(v url.Values) url.Values {
	c := url.Values{}
	for k, s := range v {
		c[k] = append([]string(nil), s...)
	}
	return c
}

func with(v url.Values, k, s string) url.Values {
	c := cloneOf(v)
	c.Set(k, s)
	return c
}
