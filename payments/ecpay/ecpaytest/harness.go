package ecpaytest

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/payments/paytest"
)

// Harness is ECPay's part in paytest's notification table, played by Server. The nodes under
// test take the checkout; the harness posts its form to Server as the browser does (the order
// then exists there) and builds ECPay's notifications of it, which the table posts to the
// nodes itself (ECPay's real stage could not reach them).
//
// Notifications say nothing to Server: an order stays unpaid there unless Pay paid it, so a
// reconciler asking QueryTradeInfo about the table's payments finds them pending and leaves
// them to the notifications.
type Harness struct{ Server *Server }

var _ paytest.Harness = Harness{}

// Provider implements paytest.Harness.
func (Harness) Provider() string { return "ecpay" }

// Order posts c's AIO form to the server (again: ECPay takes the same form twice) and returns
// its MerchantTradeNo.
func (h Harness) Order(t testing.TB, c paytest.Checkout) string {
	t.Helper()
	mtn, err := h.Server.Submit(context.Background(), payments.Checkout{RedirectURL: c.RedirectURL, Method: c.Method, Fields: c.Fields})
	if err != nil {
		t.Fatalf("ecpay checkout of payment %s: %v", c.PaymentID, err)
	}
	if o, ok := h.Server.Order(mtn); !ok || o.PaymentID != c.PaymentID {
		t.Fatalf("ecpay order %s is not payment %s's: %+v", mtn, c.PaymentID, o)
	}
	return mtn
}

// Pay implements paytest.Harness: the order is paid at the server (QueryTradeInfo says so),
// and nobody is told.
func (h Harness) Pay(t testing.TB, c paytest.Checkout) {
	t.Helper()
	if err := h.Server.PayLost(h.Order(t, c)); err != nil {
		t.Fatal(err)
	}
}

// Notification implements paytest.Harness: ECPay's notification to ReturnURL, paid (RtnCode 1)
// or declined, with TradeAmt amount. ECPay's notifications name no currency (they are TWD):
// asked for another, the case is skipped, for ECPay cannot send it.
func (h Harness) Notification(t testing.TB, c paytest.Checkout, outcome payments.Outcome, amount payments.Money) paytest.Delivery {
	t.Helper()
	if amount.Currency != "TWD" {
		t.Skipf("ECPay notifications carry TWD amounts only: a %s notification cannot be sent", amount.Currency)
	}
	rtn, msg := RtnPaid, "交易成功"
	switch outcome {
	case payments.OutcomePaid:
	case payments.OutcomeFailed:
		rtn, msg = RtnDeclined, "付款失敗"
	default:
		t.Fatalf("ecpay harness: no notification for outcome %s", outcome)
	}
	v := h.notification(t, c, rtn, msg)
	if v.Get("TradeAmt") != strconv.FormatInt(amount.Minor, 10) {
		v.Set("TradeAmt", strconv.FormatInt(amount.Minor, 10))
		h.Server.Sign(v)
	}
	return delivery(v.Encode())
}

func (h Harness) notification(t testing.TB, c paytest.Checkout, rtn, msg string) url.Values {
	t.Helper()
	v, err := h.Server.Notification(h.Order(t, c), rtn, msg, false)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Forgeries implements paytest.Harness: a paid notification unsigned, signed with other keys,
// changed after signing, signed for another merchant, and bodies that are no notification.
// ECPay signs no time, so no notification of ECPay's is stale: one captured and posted again
// is a duplicate (the table's duplicate case).
func (h Harness) Forgeries(t testing.TB, c paytest.Checkout) map[string]paytest.Delivery {
	t.Helper()
	paid := h.notification(t, c, RtnPaid, "交易成功")
	tampered := cloneValues(paid)
	tampered.Set("TradeAmt", tampered.Get("TradeAmt")+"0")
	merchant := cloneValues(paid)
	merchant.Set("MerchantID", "2000132")
	h.Server.Sign(merchant)
	return map[string]paytest.Delivery{
		"unsigned":         delivery(Unsigned(paid).Encode()),
		"forged":           delivery(Forge(paid).Encode()),
		"tampered":         delivery(tampered.Encode()),
		"another merchant": delivery(merchant.Encode()),
		"field twice":      delivery(paid.Encode() + "&RtnCode=1"),
		"not a form":       delivery("%zz"),
		"empty":            delivery(""),
	}
}

func delivery(body string) paytest.Delivery {
	return paytest.Delivery{Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, Body: []byte(body)}
}
