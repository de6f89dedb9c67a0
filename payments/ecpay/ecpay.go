package ecpay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/payments"
	"github.com/google/uuid"
)

// ECPay's payment hosts.
const (
	ProductionBase = "https://payment.ecpay.com.tw"
	StageBase      = "https://payment-stage.ecpay.com.tw"
)

// The paths of the AIO APIs under Base.
const (
	PathCheckout  = "/Cashier/AioCheckOut/V5"
	PathQuery     = "/Cashier/QueryTradeInfo/V5"
	PathDoAction  = "/CreditDetail/DoAction"
	maxAnswerSize = 1 << 20
)

// Error codes of this provider (provider.go's contract).
const (
	codeInvalidSignature = "invalid_signature"
	codeUnavailable      = "provider_unavailable"
	codeRefused          = "provider_refused"
)

// Return codes and trade states ECPay documents (developers.ecpay.com.tw: 付款結果通知, 查詢訂單).
const (
	rtnPaid          = "1"        // RtnCode: paid
	rtnATMIssued     = "2"        // RtnCode: an ATM account number was issued; not paid yet
	rtnCVSIssued     = "10100073" // RtnCode: a CVS or barcode payment code was issued; not paid yet
	tradeUnpaid      = "0"        // TradeStatus: not paid (or the bank has not answered yet)
	tradePaid        = "1"        // TradeStatus: paid
	tradeNotFound    = "10200047" // TradeStatus: ECPay has no such MerchantTradeNo
	currencyTWD      = "TWD"
	merchantTradeLen = 20 // MerchantTradeNo: String(20), letters and digits
)

// taipei is Asia/Taipei, in which ECPay reads MerchantTradeDate. Taiwan has kept UTC+8 without
// daylight saving since 1979, so a fixed zone needs no tzdata on the host.
var taipei = time.FixedZone("Asia/Taipei", 8*60*60)

// Config is what New needs. HashKey and HashIV are secrets: never logged.
type Config struct {
	MerchantID string
	HashKey    string
	HashIV     string
	// Base is ECPay's payment host: "" = ProductionBase; StageBase for ECPay's test environment;
	// an ecpaytest server's URL in tests.
	Base string
	// ChoosePayment is AIO's ChoosePayment: "" = "ALL" (every method the merchant has), or
	// "Credit" (cards only: the only payments Refund can give back).
	ChoosePayment string
	HTTPClient    *http.Client     // nil = a client with a 30 s timeout
	Now           func() time.Time // nil = time.Now
}

// Provider is the ECPay provider. It is safe for concurrent use.
type Provider struct {
	cfg  Config
	base string
}

var _ payments.Provider = (*Provider)(nil)

// New returns the provider of cfg.
//
// Errors: invalid when a credential is missing or Base is not an http(s) URL.
func New(cfg Config) (*Provider, error) {
	var errs []error
	if cfg.MerchantID == "" || len(cfg.MerchantID) > 10 {
		errs = append(errs, errors.New("ecpay: the merchant id is 1 to 10 characters"))
	}
	if cfg.HashKey == "" || cfg.HashIV == "" {
		errs = append(errs, errors.New("ecpay: the hash key and hash iv are required"))
	}
	if cfg.Base == "" {
		cfg.Base = ProductionBase
	}
	u, err := url.Parse(cfg.Base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("ecpay: the base %q is not an http(s) URL", cfg.Base))
	}
	switch cfg.ChoosePayment {
	case "":
		cfg.ChoosePayment = "ALL"
	case "ALL", "Credit":
	default:
		errs = append(errs, fmt.Errorf("ecpay: ChoosePayment %q is neither ALL nor Credit", cfg.ChoosePayment))
	}
	if len(errs) > 0 {
		return nil, &dw.Error{Kind: dw.KindInvalid, Code: string(dw.KindInvalid), Message: errors.Join(errs...).Error()}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Provider{cfg: cfg, base: strings.TrimRight(cfg.Base, "/")}, nil
}

// Name is "ecpay".
func (p *Provider) Name() string { return "ecpay" }

// MerchantTradeNo is the MerchantTradeNo of our payment paymentID: 20 upper-case letters and
// digits (ECPay's limit; a UUID does not fit), the base-36 digits of a SHA-256 of the id.
// Distinct payments collide with a chance of about n²/2¹⁰⁴: never, in practice. ECPay refuses a
// MerchantTradeNo it has seen, so a payment is checked out at ECPay once.
func MerchantTradeNo(paymentID string) string {
	sum := sha256.Sum256([]byte("dw/ecpay/MerchantTradeNo/" + paymentID))
	n := new(big.Int).SetBytes(sum[:16])
	n.Mod(n, new(big.Int).Exp(big.NewInt(36), big.NewInt(merchantTradeLen), nil))
	s := strings.ToUpper(n.Text(36))
	return strings.Repeat("0", merchantTradeLen-len(s)) + s
}

// Checkout returns the AIO form the browser posts to ECPay (no call to ECPay is made).
//
// Errors: invalid (provider_refused) when the price is not a positive TWD amount; invalid when
// the payment id or the notification URL is missing.
func (p *Provider) Checkout(_ context.Context, req payments.CheckoutRequest) (payments.Checkout, error) {
	price := req.Package.Price
	if price.Currency != currencyTWD {
		return payments.Checkout{}, refused("ECPay takes TWD only, not %q", price.Currency)
	}
	if price.Minor <= 0 {
		return payments.Checkout{}, refused("ECPay takes a positive whole TWD amount, not %d", price.Minor)
	}
	if req.PaymentID == "" || req.NotifyURL == "" {
		return payments.Checkout{}, dw.Errorf(dw.KindInvalid, "an ECPay checkout needs the payment id and the notification URL")
	}
	created := req.CreatedAt
	if created.IsZero() {
		created = p.cfg.Now()
	}
	desc := req.Description
	if desc == "" {
		desc = fmt.Sprintf("Divine Whispers %d points", req.Package.Points)
	}
	mtn := MerchantTradeNo(req.PaymentID)
	fields := map[string]string{
		"MerchantID":        p.cfg.MerchantID,
		"MerchantTradeNo":   mtn,
		"MerchantTradeDate": created.In(taipei).Format("2006/01/02 15:04:05"),
		"PaymentType":       "aio",
		"TotalAmount":       strconv.FormatInt(price.Minor, 10),
		"TradeDesc":         clean(desc, 200),
		// '#' separates items in ItemName: one item, so none.
		"ItemName":      clean(strings.ReplaceAll(desc, "#", " "), 400),
		"ReturnURL":     req.NotifyURL,
		"ChoosePayment": p.cfg.ChoosePayment,
		"EncryptType":   "1",
		"CustomField1":  req.PaymentID,
	}
	// ClientBackURL is ECPay's "back to the shop" link after paying. OrderResultURL is left
	// out on purpose: ECPay would make the browser POST the result there, and SuccessURL is a
	// page of the web app, served to GET.
	if req.SuccessURL != "" {
		fields["ClientBackURL"] = req.SuccessURL
	}
	if strings.HasPrefix(req.Language, "en") {
		fields["Language"] = "ENG" // "" is ECPay's Chinese page
	}
	fields["CheckMacValue"] = CheckMacValue(valuesOf(fields), p.cfg.HashKey, p.cfg.HashIV)
	return payments.Checkout{
		ProviderRef: mtn,
		RedirectURL: p.base + PathCheckout,
		Method:      http.MethodPost,
		Fields:      fields,
	}, nil
}

// ParseNotification verifies and reads ECPay's server notification to ReturnURL (a form).
//
// ECPay signs no timestamp, so a notification cannot be stale: a replayed one is a duplicate,
// and the payment service deduplicates on EventID (TradeNo and RtnCode) and on the payment's
// state. now is unused.
//
// Errors: invalid (invalid_signature) when the body is not a form of single-valued fields, its
// CheckMacValue is missing or wrong, it is for another MerchantID, or a paid one's TradeAmt is
// not a whole number.
func (p *Provider) ParseNotification(_ context.Context, _ http.Header, body []byte, _ time.Time) (payments.Notification, error) {
	f, err := readForm(body)
	if err != nil {
		return payments.Notification{}, badSignature("the notification is not a form: %v", err)
	}
	mac := f.Get("CheckMacValue")
	if mac == "" {
		return payments.Notification{}, badSignature("the notification carries no CheckMacValue")
	}
	if !validMac(f, mac, p.cfg.HashKey, p.cfg.HashIV) {
		return payments.Notification{}, badSignature("the notification's CheckMacValue does not match")
	}
	if f.Get("MerchantID") != p.cfg.MerchantID {
		return payments.Notification{}, badSignature("the notification is for another merchant")
	}
	rtn := f.Get("RtnCode")
	n := payments.Notification{
		PaymentID:   ourPaymentID(f.Get("CustomField1")),
		ProviderRef: f.Get("MerchantTradeNo"),
		Outcome:     outcomeOfRtnCode(rtn),
		Simulated:   f.Get("SimulatePaid") == "1",
	}
	ref := f.Get("TradeNo")
	if ref == "" {
		ref = n.ProviderRef
	}
	n.EventID = ref + ":" + rtn
	amt, err := parseAmount(f.Get("TradeAmt"))
	if err != nil && n.Outcome == payments.OutcomePaid {
		return payments.Notification{}, badSignature("the notification's TradeAmt %q is not a whole number", f.Get("TradeAmt"))
	}
	n.Amount = payments.Money{Currency: currencyTWD, Minor: amt}
	return n, nil
}

// Acknowledge is ECPay's expected answer: 200 text/plain "1|OK" (anything else is resent).
func (p *Provider) Acknowledge() payments.Ack {
	return payments.Ack{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte("1|OK")}
}

// Lookup asks QueryTradeInfo/V5 where the payment stands (providerRef is its MerchantTradeNo;
// "" = derived from paymentID). TradeStatus 1 is paid, 0 pending, anything else failed.
//
// Errors: not_found when ECPay has no such order (TradeStatus 10200047, e.g. a checkout the
// browser never posted); invalid (invalid_signature) when the answer's CheckMacValue is
// missing or wrong; unavailable (provider_unavailable) when ECPay cannot be reached, answers
// 5xx or throttles us (403); invalid (provider_refused) for any other answer.
func (p *Provider) Lookup(ctx context.Context, paymentID, providerRef string) (payments.Status, error) {
	mtn := providerRef
	if mtn == "" {
		mtn = MerchantTradeNo(paymentID)
	}
	t, err := p.queryTrade(ctx, mtn)
	if err != nil {
		return payments.Status{}, err
	}
	st := payments.Status{Amount: payments.Money{Currency: currencyTWD, Minor: t.amount}, ProviderRef: mtn}
	switch t.status {
	case tradePaid:
		st.Outcome = payments.OutcomePaid
	case tradeUnpaid:
		st.Outcome = payments.OutcomePending
	default: // 10200095 and the like: the order was not established or the payment failed
		st.Outcome = payments.OutcomeFailed
	}
	return st, nil
}

// Refund gives a paid credit-card payment back in full: it asks QueryTradeInfo for ECPay's
// TradeNo, then CreditDetail/DoAction with Action=R (退刷).
//
// ECPay refunds with R only a captured (關帳) card payment; merchants with the daily automatic
// capture have theirs captured at 20:15 Taiwan time, so a same-day refund before then is
// refused (provider_refused, ECPay's message in the detail) and can be retried afterwards.
// ATM, CVS and barcode payments cannot be refunded through the API at all.
// DoAction takes no reason: req.Reason stays in our records only.
//
// Errors: as Lookup's; invalid (provider_refused) when the amount is not TWD or exceeds the
// payment, the payment is not a paid card payment, or DoAction answers RtnCode ≠ 1.
func (p *Provider) Refund(ctx context.Context, req payments.RefundRequest) error {
	if req.Amount.Currency != currencyTWD || req.Amount.Minor <= 0 {
		return refused("ECPay refunds a positive TWD amount, not %d %s", req.Amount.Minor, req.Amount.Currency)
	}
	mtn := req.ProviderRef
	if mtn == "" {
		mtn = MerchantTradeNo(req.PaymentID)
	}
	t, err := p.queryTrade(ctx, mtn)
	if err != nil {
		return err
	}
	switch {
	case t.status != tradePaid:
		return refused("ECPay holds no payment for %s (TradeStatus %s)", mtn, t.status)
	case !strings.HasPrefix(t.paymentType, "Credit"):
		return refused("ECPay refunds only card payments through its API; %s (%s) is refunded in ECPay's back office", mtn, t.paymentType)
	case req.Amount.Minor > t.amount:
		return refused("the refund of %d TWD exceeds the payment of %d TWD", req.Amount.Minor, t.amount)
	case t.tradeNo == "":
		return refused("ECPay's answer about %s carries no TradeNo", mtn)
	}
	body, err := p.post(ctx, PathDoAction, url.Values{
		"MerchantID":      {p.cfg.MerchantID},
		"MerchantTradeNo": {mtn},
		"TradeNo":         {t.tradeNo},
		"Action":          {"R"},
		"TotalAmount":     {strconv.FormatInt(req.Amount.Minor, 10)},
	})
	if err != nil {
		return err
	}
	// DoAction's answer is a form without CheckMacValue (the official SDK does not verify it).
	f, err := readForm(body)
	if err != nil || f.Get("RtnCode") == "" {
		return refused("ECPay answered the refund with %q", snippet(body))
	}
	if f.Get("RtnCode") != "1" {
		return refused("ECPay refused the refund: %s (RtnCode %s)", f.Get("RtnMsg"), f.Get("RtnCode"))
	}
	return nil
}

// trade is what QueryTradeInfo says about one order.
type trade struct {
	status, tradeNo, paymentType string
	amount                       int64
}

func (p *Provider) queryTrade(ctx context.Context, mtn string) (trade, error) {
	body, err := p.post(ctx, PathQuery, url.Values{
		"MerchantID":      {p.cfg.MerchantID},
		"MerchantTradeNo": {mtn},
		// ECPay accepts a TimeStamp within 3 minutes of its clock.
		"TimeStamp": {strconv.FormatInt(p.cfg.Now().Unix(), 10)},
	})
	if err != nil {
		return trade{}, err
	}
	return p.parseTrade(body, mtn)
}

// parseTrade reads QueryTradeInfo's answer about mtn, a form signed with CheckMacValue.
func (p *Provider) parseTrade(body []byte, mtn string) (trade, error) {
	f, err := readForm(body)
	if err != nil || f.Get("TradeStatus") == "" {
		return trade{}, refused("ECPay answered the query with %q", snippet(body))
	}
	t := trade{status: f.Get("TradeStatus"), tradeNo: f.Get("TradeNo"), paymentType: f.Get("PaymentType")}
	if t.status == tradeNotFound {
		// Checked before the signature: a forged "not found" credits nothing.
		return trade{}, dw.Errorf(dw.KindNotFound, "ECPay has no order %s", mtn)
	}
	mac := f.Get("CheckMacValue")
	if mac == "" || !validMac(f, mac, p.cfg.HashKey, p.cfg.HashIV) {
		return trade{}, badSignature("ECPay's answer about %s is not signed with our key", mtn)
	}
	if f.Get("MerchantID") != p.cfg.MerchantID || f.Get("MerchantTradeNo") != mtn {
		return trade{}, badSignature("ECPay's answer is about another order than %s", mtn)
	}
	if t.amount, err = parseAmount(f.Get("TradeAmt")); err != nil && t.status == tradePaid {
		return trade{}, refused("ECPay's TradeAmt %q for %s is not a whole number", f.Get("TradeAmt"), mtn)
	}
	return t, nil
}

// post signs fields, posts them to path and returns the answer's body.
func (p *Provider) post(ctx context.Context, path string, fields url.Values) ([]byte, error) {
	fields.Set("CheckMacValue", CheckMacValue(fields, p.cfg.HashKey, p.cfg.HashIV))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+path, strings.NewReader(fields.Encode()))
	if err != nil {
		return nil, dw.Internal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, unavailable(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerSize))
	if err != nil {
		return nil, unavailable(err)
	}
	switch {
	case resp.StatusCode == http.StatusForbidden:
		// ECPay answers 403 to a merchant calling too fast and asks for 30 minutes' pause.
		e := unavailable(fmt.Errorf("POST %s: 403", path))
		e.Message = "ECPay throttles our API calls (403): try again in 30 minutes"
		e.RetryAfter = 30 * time.Minute
		return nil, e
	case resp.StatusCode >= 500:
		return nil, unavailable(fmt.Errorf("POST %s: %s", path, resp.Status))
	case resp.StatusCode != http.StatusOK:
		return nil, refused("ECPay answered %s to %s", resp.Status, path)
	}
	return body, nil
}

// readForm parses a form body, refusing a field given twice (which value was signed?).
func readForm(body []byte) (url.Values, error) {
	f, err := url.ParseQuery(string(bytes.TrimSpace(body)))
	if err != nil {
		return nil, err
	}
	for k, v := range f {
		if len(v) > 1 {
			return nil, fmt.Errorf("the field %q is given %d times", k, len(v))
		}
	}
	return f, nil
}

func outcomeOfRtnCode(rtn string) payments.Outcome {
	switch rtn {
	case rtnPaid:
		return payments.OutcomePaid
	case rtnATMIssued, rtnCVSIssued:
		return payments.OutcomePending
	default:
		return payments.OutcomeFailed
	}
}

// ourPaymentID is CustomField1 when it holds one of our payment ids (a UUID), else "".
func ourPaymentID(s string) string {
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return ""
	}
	return id.String()
}

func parseAmount(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a whole amount: %q", s)
	}
	return n, nil
}

// clean drops control characters and cuts s to at most max bytes on a rune boundary.
func clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	for len(s) > max {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

func valuesOf(m map[string]string) url.Values {
	v := make(url.Values, len(m))
	for k, s := range m {
		v.Set(k, s)
	}
	return v
}

// snippet is the start of an unexpected answer, for an error's detail.
func snippet(b []byte) string {
	s := strings.ToValidUTF8(string(bytes.TrimSpace(b)), "?")
	if len(s) > 200 {
		s = clean(s, 200) + "…"
	}
	return s
}

func refused(format string, args ...any) *dw.Error {
	return dw.Coded(dw.KindInvalid, codeRefused, format, args...)
}

func badSignature(format string, args ...any) *dw.Error {
	return dw.Coded(dw.KindInvalid, codeInvalidSignature, format, args...)
}

func unavailable(err error) *dw.Error {
	e := dw.Coded(dw.KindUnavailable, codeUnavailable, "ECPay cannot be reached")
	e.Err = err
	return e
}
