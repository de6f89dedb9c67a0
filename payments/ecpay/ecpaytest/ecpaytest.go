// Package ecpaytest is an ECPay-protocol server for tests: on 127.0.0.1, it takes the AIO
// checkout form (AioCheckOut/V5), pays, declines or simulates orders by posting ECPay's signed
// server notification to the order's ReturnURL (resending until it is answered "1|OK", as
// ECPay does), and answers QueryTradeInfo/V5 and CreditDetail/DoAction. Helpers build forged,
// unsigned, duplicated and replayed notifications.
//
// It is a protocol double written from ECPay's documentation, not a copy of ECPay: it checks
// what a test needs checked (the form's CheckMacValue and fields, the query's TimeStamp) and
// keeps its orders in memory.
package ecpaytest

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/payments/ecpay"
)

// ECPay's public stage merchant for AIO payments (developers.ecpay.com.tw, 測試介接資訊):
// the default credentials of a Server.
const (
	StageMerchantID = "3002607"
	StageHashKey    = "pwFHCqoQZGmho4w6"
	StageHashIV     = "EkRm7iFT261dpevs"
)

// What the server answers in notifications.
const (
	RtnPaid       = "1"        // paid
	RtnATMIssued  = "2"        // an ATM account number was issued: not paid yet
	RtnCVSIssued  = "10100073" // a CVS payment code was issued: not paid yet
	RtnDeclined   = "10100058" // a decline (any code but 1, 2 and 10100073 is a failure)
	TradeUnpaid   = "0"        // TradeStatus
	TradePaid     = "1"        //
	TradeFailed   = "10200095" // the order was not established / not paid
	TradeNotFound = "10200047" // no such MerchantTradeNo
)

// Options configure a Server; the zero value is ECPay's stage merchant.
type Options struct {
	MerchantID, HashKey, HashIV string // "" = the Stage ones
	// Attempts is how many times a notification is posted until answered "1|OK"; 0 = 5
	// (ECPay: the first delivery and up to four resends a day).
	Attempts int
	// RetryWait is the pause between them; 0 = 20 ms (ECPay: several minutes).
	RetryWait time.Duration
	Client    *http.Client     // posts notifications; nil = a client with a 10 s timeout
	Now       func() time.Time // nil = time.Now
}

// Server is an ECPay-protocol server. Its methods are safe for concurrent use.
type Server struct {
	URL  string // the Base of an ecpay.Config
	opts Options
	hs   *httptest.Server

	down          atomic.Bool
	queries       atomic.Int64
	refused       atomic.Int64 // requests answered 503 while down
	actions       atomic.Int64 // DoAction calls answered
	refundRefusal atomic.Pointer[string]

	mu     sync.Mutex
	seq    int
	orders map[string]*Order
}

// Order is one checkout the server took.
type Order struct {
	Form            url.Values // the AIO form as posted
	MerchantTradeNo string
	TradeNo         string // ECPay's own number of the trade
	PaymentID       string // CustomField1
	ReturnURL       string
	TotalAmount     int64
	TradeStatus     string // TradeUnpaid, TradePaid, TradeFailed
	PaymentType     string // "Credit_CreditCard" once paid
	TradeDate       time.Time
	PaymentDate     time.Time
	Refunded        int64     // TWD refunded through DoAction
	Deliveries      []Attempt // every notification post, in order
}

// Attempt is one post of a notification.
type Attempt struct {
	Body   string // the form posted
	Status int    // the answer's status; 0 when the post failed
	Answer string // the answer's body
	Err    error  // the post's failure
}

// Acked reports whether the attempt was answered as ECPay expects: 200 "1|OK".
func (a Attempt) Acked() bool { return a.Err == nil && a.Status == http.StatusOK && a.Answer == "1|OK" }

// Delivery is a notification's posts until acknowledged or given up.
type Delivery struct {
	Attempts []Attempt
	Acked    bool
}

// Start starts a server on 127.0.0.1, closed when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.MerchantID == "" {
		opts.MerchantID, opts.HashKey, opts.HashIV = StageMerchantID, StageHashKey, StageHashIV
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.RetryWait <= 0 {
		opts.RetryWait = 20 * time.Millisecond
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, orders: map[string]*Order{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+ecpay.PathCheckout, s.checkout)
	mux.HandleFunc("POST "+ecpay.PathQuery, s.query)
	mux.HandleFunc("POST "+ecpay.PathDoAction, s.doAction)
	s.hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.down.Load() {
			s.refused.Add(1)
			http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	s.URL = s.hs.URL
	t.Cleanup(s.Close)
	return s
}

// Close stops the server (the provider then cannot reach it).
func (s *Server) Close() { s.hs.Close() }

// Config is a provider configuration for this server.
func (s *Server) Config() ecpay.Config {
	return ecpay.Config{MerchantID: s.opts.MerchantID, HashKey: s.opts.HashKey, HashIV: s.opts.HashIV, Base: s.URL}
}

// SetDown makes every endpoint answer 503 (down) or work again.
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// SetRefundRefusal makes DoAction refuse refunds with msg (as ECPay refuses a card payment not
// captured yet); "" accepts them again.
func (s *Server) SetRefundRefusal(msg string) {
	if msg == "" {
		s.refundRefusal.Store(nil)
		return
	}
	s.refundRefusal.Store(&msg)
}

// Queries is how many QueryTradeInfo calls the server answered.
func (s *Server) Queries() int64 { return s.queries.Load() }

// Refused is how many requests the server answered 503 while down (SetDown).
func (s *Server) Refused() int64 { return s.refused.Load() }

// Actions is how many CreditDetail/DoAction calls (refunds) the server answered, taken or not.
func (s *Server) Actions() int64 { return s.actions.Load() }

// Order returns a copy of the order mtn.
func (s *Server) Order(mtn string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[mtn]
	if !ok {
		return Order{}, false
	}
	c := *o
	c.Form = cloneValues(o.Form)
	c.Deliveries = append([]Attempt(nil), o.Deliveries...)
	return c, true
}

// Sign sets v's CheckMacValue with the server's keys and returns v.
func (s *Server) Sign(v url.Values) url.Values {
	v.Set("CheckMacValue", ecpay.CheckMacValue(v, s.opts.HashKey, s.opts.HashIV))
	return v
}

// Forge returns a copy of v signed with keys other than the server's.
func Forge(v url.Values) url.Values {
	c := cloneValues(v)
	c.Set("CheckMacValue", ecpay.CheckMacValue(c, "forgedHashKey000", "forgedHashIV0000"))
	return c
}

// Unsigned returns a copy of v without CheckMacValue.
func Unsigned(v url.Values) url.Values {
	c := cloneValues(v)
	c.Del("CheckMacValue")
	return c
}

// Submit posts a checkout's form to its RedirectURL as the browser's auto-submitted form does,
// and returns the MerchantTradeNo of the order taken.
func (s *Server) Submit(ctx context.Context, co payments.Checkout) (string, error) {
	if co.Method != http.MethodPost {
		return "", fmt.Errorf("ecpaytest: checkout method %q, want POST", co.Method)
	}
	v := url.Values{}
	for k, f := range co.Fields {
		v.Set(k, f)
	}
	status, body, err := s.post(ctx, co.RedirectURL, v.Encode())
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("ecpaytest: the checkout was refused (%d): %s", status, body)
	}
	return v.Get("MerchantTradeNo"), nil
}

// Notification returns the signed notification ECPay would post about order mtn.
func (s *Server) Notification(mtn, rtnCode, rtnMsg string, simulated bool) (url.Values, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[mtn]
	if !ok {
		return nil, fmt.Errorf("ecpaytest: no order %s", mtn)
	}
	return s.notificationLocked(o, rtnCode, rtnMsg, simulated), nil
}

func (s *Server) notificationLocked(o *Order, rtnCode, rtnMsg string, simulated bool) url.Values {
	paid, pt := o.PaymentDate, o.PaymentType
	if paid.IsZero() {
		paid = s.opts.Now()
	}
	if pt == "" {
		pt = "Credit_CreditCard"
	}
	sim := "0"
	if simulated {
		sim = "1"
	}
	v := url.Values{
		"MerchantID":           {s.opts.MerchantID},
		"MerchantTradeNo":      {o.MerchantTradeNo},
		"StoreID":              {""},
		"RtnCode":              {rtnCode},
		"RtnMsg":               {rtnMsg},
		"TradeNo":              {o.TradeNo},
		"TradeAmt":             {strconv.FormatInt(o.TotalAmount, 10)},
		"PaymentDate":          {paid.In(taipei).Format(dateLayout)},
		"PaymentType":          {pt},
		"PaymentTypeChargeFee": {"0"},
		"TradeDate":            {o.TradeDate.In(taipei).Format(dateLayout)},
		"SimulatePaid":         {sim},
	}
	for i := 1; i <= 4; i++ {
		k := "CustomField" + strconv.Itoa(i)
		v.Set(k, o.Form.Get(k))
	}
	return s.Sign(v)
}

// Pay pays order mtn and notifies its ReturnURL until acknowledged.
func (s *Server) Pay(ctx context.Context, mtn string) (Delivery, error) {
	return s.settle(ctx, mtn, TradePaid, RtnPaid, "交易成功", false)
}

// PayLost pays order mtn as Pay does, but its notification is lost on the way: nothing is
// posted, and only QueryTradeInfo tells that the order is paid.
func (s *Server) PayLost(mtn string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[mtn]
	if !ok {
		return fmt.Errorf("ecpaytest: no order %s", mtn)
	}
	o.TradeStatus, o.PaymentDate, o.PaymentType = TradePaid, s.opts.Now(), "Credit_CreditCard"
	return nil
}

// PaySimulated sends the notification of ECPay's back-office "simulate payment"
// (SimulatePaid=1): the order stays unpaid.
func (s *Server) PaySimulated(ctx context.Context, mtn string) (Delivery, error) {
	return s.settle(ctx, mtn, "", RtnPaid, "交易成功", true)
}

// Fail declines order mtn and notifies its ReturnURL.
func (s *Server) Fail(ctx context.Context, mtn string) (Delivery, error) {
	return s.settle(ctx, mtn, TradeFailed, RtnDeclined, "付款失敗", false)
}

// IssueATM notifies that an ATM account number was issued for order mtn (RtnCode 2): it stays
// unpaid.
func (s *Server) IssueATM(ctx context.Context, mtn string) (Delivery, error) {
	return s.settle(ctx, mtn, "", RtnATMIssued, "Get VirtualAccount Succeeded", false)
}

// settle moves order mtn to status (unchanged when "") and delivers the notification.
func (s *Server) settle(ctx context.Context, mtn, status, rtnCode, rtnMsg string, simulated bool) (Delivery, error) {
	s.mu.Lock()
	o, ok := s.orders[mtn]
	if !ok {
		s.mu.Unlock()
		return Delivery{}, fmt.Errorf("ecpaytest: no order %s", mtn)
	}
	if status != "" {
		o.TradeStatus = status
		if status == TradePaid {
			o.PaymentDate, o.PaymentType = s.opts.Now(), "Credit_CreditCard"
		}
	}
	v := s.notificationLocked(o, rtnCode, rtnMsg, simulated)
	s.mu.Unlock()
	return s.Deliver(ctx, mtn, v)
}

// Deliver posts notification v to order mtn's ReturnURL until answered "1|OK", at most
// Options.Attempts times, Options.RetryWait apart. Like ECPay's, a resend carries another
// RtnMsg ("paid") and so another CheckMacValue: it is the same event (TradeNo, RtnCode).
func (s *Server) Deliver(ctx context.Context, mtn string, v url.Values) (Delivery, error) {
	var d Delivery
	v = cloneValues(v)
	for i := 0; i < s.opts.Attempts; i++ {
		if i > 0 {
			t := time.NewTimer(s.opts.RetryWait)
			select {
			case <-ctx.Done():
				t.Stop()
				return d, ctx.Err()
			case <-t.C:
			}
			// Only a notification signed with the server's keys is re-signed: a forged or
			// unsigned one is resent as it was.
			if v.Get("RtnMsg") != "paid" && v.Get("CheckMacValue") == ecpay.CheckMacValue(v, s.opts.HashKey, s.opts.HashIV) {
				v.Set("RtnMsg", "paid")
				s.Sign(v)
			}
		}
		a, err := s.Post(ctx, mtn, v.Encode())
		if err != nil {
			return d, err
		}
		d.Attempts = append(d.Attempts, a)
		if a.Acked() {
			d.Acked = true
			return d, nil
		}
	}
	return d, nil
}

// Post posts body once to order mtn's ReturnURL and records the attempt.
func (s *Server) Post(ctx context.Context, mtn, body string) (Attempt, error) {
	s.mu.Lock()
	o, ok := s.orders[mtn]
	s.mu.Unlock()
	if !ok {
		return Attempt{}, fmt.Errorf("ecpaytest: no order %s", mtn)
	}
	a := Attempt{Body: body}
	a.Status, a.Answer, a.Err = s.post(ctx, o.ReturnURL, body)
	s.mu.Lock()
	o.Deliveries = append(o.Deliveries, a)
	s.mu.Unlock()
	return a, nil
}

// Replay posts the last notification of order mtn again, byte for byte.
func (s *Server) Replay(ctx context.Context, mtn string) (Attempt, error) {
	o, ok := s.Order(mtn)
	if !ok || len(o.Deliveries) == 0 {
		return Attempt{}, fmt.Errorf("ecpaytest: order %s has no notification to replay", mtn)
	}
	return s.Post(ctx, mtn, o.Deliveries[len(o.Deliveries)-1].Body)
}

func (s *Server) post(ctx context.Context, target, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

var (
	taipei     = time.FixedZone("Asia/Taipei", 8*60*60)
	tradeNoRE  = regexp.MustCompile(`^[A-Za-z0-9]{1,20}$`)
	dateLayout = "2006/01/02 15:04:05"
)

// checkout takes an AIO form: it checks what ECPay checks and answers a page.
func (s *Server) checkout(w http.ResponseWriter, r *http.Request) {
	f, err := s.signedForm(r)
	if err != nil {
		cashierPage(w, http.StatusBadRequest, err.Error())
		return
	}
	var problems []string
	need := func(ok bool, msg string) {
		if !ok {
			problems = append(problems, msg)
		}
	}
	mtn := f.Get("MerchantTradeNo")
	need(tradeNoRE.MatchString(mtn), "MerchantTradeNo is 1 to 20 letters and digits")
	_, err = time.ParseInLocation(dateLayout, f.Get("MerchantTradeDate"), taipei)
	need(err == nil, "MerchantTradeDate is yyyy/MM/dd HH:mm:ss")
	need(f.Get("PaymentType") == "aio", "PaymentType is aio")
	amount, err := strconv.ParseInt(f.Get("TotalAmount"), 10, 64)
	need(err == nil && amount > 0, "TotalAmount is a positive whole number")
	need(f.Get("TradeDesc") != "" && len(f.Get("TradeDesc")) <= 200, "TradeDesc is 1 to 200 bytes")
	need(f.Get("ItemName") != "" && len(f.Get("ItemName")) <= 400, "ItemName is 1 to 400 bytes")
	ret, err := url.Parse(f.Get("ReturnURL"))
	need(err == nil && (ret.Scheme == "http" || ret.Scheme == "https") && ret.Host != "", "ReturnURL is an http(s) URL")
	need(f.Get("ChoosePayment") == "ALL" || f.Get("ChoosePayment") == "Credit", "ChoosePayment is ALL or Credit")
	need(f.Get("EncryptType") == "1", "EncryptType is 1 (SHA-256)")
	for i := 1; i <= 4; i++ {
		need(len(f.Get("CustomField"+strconv.Itoa(i))) <= 50, "CustomField1-4 are at most 50 characters")
	}
	if len(problems) > 0 {
		cashierPage(w, http.StatusBadRequest, strings.Join(problems, "; "))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orders[mtn]; ok {
		if !sameForm(o.Form, f) {
			cashierPage(w, http.StatusBadRequest, "MerchantTradeNo "+mtn+" is taken (訂單編號重複)")
			return
		}
		cashierPage(w, http.StatusOK, "order "+mtn+": pay "+o.Form.Get("TotalAmount")+" TWD")
		return
	}
	s.seq++
	now := s.opts.Now()
	s.orders[mtn] = &Order{
		Form: f, MerchantTradeNo: mtn, PaymentID: f.Get("CustomField1"), ReturnURL: f.Get("ReturnURL"),
		TotalAmount: amount, TradeStatus: TradeUnpaid, TradeDate: now,
		TradeNo: now.In(taipei).Format("060102150405") + fmt.Sprintf("%04d", s.seq%10000),
	}
	cashierPage(w, http.StatusOK, "order "+mtn+": pay "+f.Get("TotalAmount")+" TWD")
}

// query answers QueryTradeInfo/V5: a signed form about one order.
func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	s.queries.Add(1)
	f, err := s.signedForm(r)
	if err != nil {
		plain(w, err.Error())
		return
	}
	ts, err := strconv.ParseInt(f.Get("TimeStamp"), 10, 64)
	if d := s.opts.Now().Sub(time.Unix(ts, 0)); err != nil || d > 3*time.Minute || d < -3*time.Minute {
		plain(w, "TimeStamp Error")
		return
	}
	mtn := f.Get("MerchantTradeNo")
	s.mu.Lock()
	o, ok := s.orders[mtn]
	var v url.Values
	if !ok {
		v = url.Values{"MerchantID": {s.opts.MerchantID}, "MerchantTradeNo": {mtn}, "TradeStatus": {TradeNotFound}, "TradeAmt": {"0"}}
	} else {
		v = url.Values{
			"MerchantID": {s.opts.MerchantID}, "MerchantTradeNo": {mtn}, "StoreID": {""}, "TradeNo": {o.TradeNo},
			"TradeAmt": {strconv.FormatInt(o.TotalAmount, 10)}, "PaymentType": {o.PaymentType},
			"HandlingCharge": {"0"}, "PaymentTypeChargeFee": {"0"},
			"TradeDate": {o.TradeDate.In(taipei).Format(dateLayout)}, "TradeStatus": {o.TradeStatus},
			"ItemName": {o.Form.Get("ItemName")}, "PaymentDate": {""},
		}
		if !o.PaymentDate.IsZero() {
			v.Set("PaymentDate", o.PaymentDate.In(taipei).Format(dateLayout))
		}
		for i := 1; i <= 4; i++ {
			k := "CustomField" + strconv.Itoa(i)
			v.Set(k, o.Form.Get(k))
		}
	}
	s.mu.Unlock()
	plain(w, s.Sign(v).Encode())
}

// doAction answers CreditDetail/DoAction: only Action=R (refund) of a paid card payment.
func (s *Server) doAction(w http.ResponseWriter, r *http.Request) {
	s.actions.Add(1)
	f, err := s.signedForm(r)
	if err != nil {
		plain(w, err.Error())
		return
	}
	mtn, tradeNo := f.Get("MerchantTradeNo"), f.Get("TradeNo")
	answer := func(code, msg string) {
		plain(w, url.Values{"MerchantID": {s.opts.MerchantID}, "MerchantTradeNo": {mtn}, "TradeNo": {tradeNo},
			"RtnCode": {code}, "RtnMsg": {msg}}.Encode())
	}
	if f.Get("Action") != "R" {
		answer("0", "ecpaytest answers Action=R only")
		return
	}
	if msg := s.refundRefusal.Load(); msg != nil {
		answer("0", *msg)
		return
	}
	amount, err := strconv.ParseInt(f.Get("TotalAmount"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[mtn]
	switch {
	case !ok || o.TradeNo != tradeNo:
		answer("0", "No such trade")
	case o.TradeStatus != TradePaid || !strings.HasPrefix(o.PaymentType, "Credit"):
		answer("0", "The trade is not a paid card payment")
	case err != nil || amount <= 0 || amount > o.TotalAmount-o.Refunded:
		answer("0", "TotalAmount exceeds what is left to refund")
	default:
		o.Refunded += amount
		answer("1", "")
	}
}

// signedForm reads a posted form and checks its MerchantID and CheckMacValue.
func (s *Server) signedForm(r *http.Request) (url.Values, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	f, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, fmt.Errorf("not a form: %v", err)
	}
	for k, v := range f {
		if len(v) > 1 {
			return nil, fmt.Errorf("%s is given %d times", k, len(v))
		}
	}
	if f.Get("MerchantID") != s.opts.MerchantID {
		return nil, fmt.Errorf("MerchantID Error")
	}
	if f.Get("CheckMacValue") != ecpay.CheckMacValue(f, s.opts.HashKey, s.opts.HashIV) {
		return nil, fmt.Errorf("CheckMacValue Error")
	}
	return f, nil
}

func cashierPage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><title>ecpaytest cashier</title><p>%s</p>\n", html.EscapeString(msg))
}

func plain(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8") // ECPay labels its form answers so
	io.WriteString(w, body)
}

func sameForm(a, b url.Values) bool { return a.Encode() == b.Encode() }

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, s := range v {
		c[k] = append([]string(nil), s...)
	}
	return c
}
