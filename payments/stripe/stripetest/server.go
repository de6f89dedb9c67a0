package stripetest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// APIVersion is the api_version the Server's events carry (stripe-go v82's).
const APIVersion = "2025-08-27.basil"

// Server is a stateful Stripe of our own for tests: the endpoints the provider uses (POST
// /v1/checkout/sessions, GET /v1/checkout/sessions/{id} with expand, POST /v1/refunds), with
// Stripe's idempotency keys and error shapes, and a hand to play the payer (Pay, Expire, …)
// and Stripe's webhook sender (Deliver, and the faulty deliveries). Any bearer key starting
// with sk_ is accepted. Safe for concurrent use.
type Server struct {
	URL    string // base URL, for stripe.Config.APIBase
	Secret string // the webhook signing secret (whsec_…)

	srv *httptest.Server
	mu  sync.Mutex
	// sessions by id; byIntent: session id by PaymentIntent id.
	sessions map[string]*Session
	byIntent map[string]string
	idem     map[string]idemEntry
	down     bool
}

// Session is a checkout session as the Server holds it.
type Session struct {
	ID                string
	Form              url.Values // the create request's parameters, as sent
	Status            string     // open, complete, expired
	PaymentStatus     string     // unpaid, paid
	Currency          string     // lower case, as Stripe writes it
	AmountTotal       int64      // in Stripe's units
	ClientReferenceID string
	Metadata          map[string]string
	IntentMetadata    map[string]string // payment_intent_data[metadata]; the charge inherits it
	CustomerEmail     string
	Locale            string
	SuccessURL        string
	CancelURL         string
	Created           int64
	ExpiresAt         int64
	PaymentIntent     string // pi_… once paid
	Charge            string // ch_… once paid
	Refunded          bool
	Refunds           []url.Values // each refund created (idempotent replays not counted)
}

type idemEntry struct {
	request string // method, path and canonical parameters
	status  int
	body    []byte
}

// Event is one webhook event: its id, type and JSON body as Stripe sends it.
type Event struct {
	ID   string
	Type string
	Body []byte
}

// Delivery is one webhook POST: the headers (Stripe-Signature) and the raw body.
type Delivery struct {
	Header http.Header
	Body   []byte
}

// NewServer starts a Server whose webhooks are signed with webhookSecret; it is closed when
// the test ends.
func NewServer(t testing.TB, webhookSecret string) *Server {
	t.Helper()
	s := &Server{
		Secret:   webhookSecret,
		sessions: map[string]*Session{},
		byIntent: map[string]string{},
		idem:     map[string]idemEntry{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Close stops the server (a provider down for good).
func (s *Server) Close() { s.srv.Close() }

// SetDown makes every API request answer 503 (true) or be served again (false).
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Session returns a copy of the session id and whether it exists.
func (s *Server) Session(id string) (Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok {
		return Session{}, false
	}
	c := *ss
	c.Form = maps.Clone(ss.Form)
	c.Metadata = maps.Clone(ss.Metadata)
	c.IntentMetadata = maps.Clone(ss.IntentMetadata)
	c.Refunds = slices.Clone(ss.Refunds)
	return c, true
}

// Sessions returns the ids of every session created, in no order.
func (s *Server) Sessions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Keys(s.sessions))
}

// Pay completes an open session as a card payment does (paid at once) and returns its
// checkout.session.completed event, not yet delivered.
func (s *Server) Pay(id string) (Event, error) {
	return s.transition(id, "checkout.session.completed", func(ss *Session) error {
		if ss.Status != "open" {
			return fmt.Errorf("session %s is %s, not open", id, ss.Status)
		}
		s.charge(ss)
		ss.Status, ss.PaymentStatus = "complete", "paid"
		return nil
	})
}

// PayLater completes an open session with a delayed payment method (a bank transfer): its
// checkout.session.completed event says payment_status unpaid. Settle it with
// AsyncSucceeded or AsyncFailed.
func (s *Server) PayLater(id string) (Event, error) {
	return s.transition(id, "checkout.session.completed", func(ss *Session) error {
		if ss.Status != "open" {
			return fmt.Errorf("session %s is %s, not open", id, ss.Status)
		}
		ss.Status, ss.PaymentStatus = "complete", "unpaid"
		return nil
	})
}

// AsyncSucceeded settles a PayLater session: checkout.session.async_payment_succeeded.
func (s *Server) AsyncSucceeded(id string) (Event, error) {
	return s.transition(id, "checkout.session.async_payment_succeeded", func(ss *Session) error {
		if ss.Status != "complete" || ss.PaymentStatus != "unpaid" {
			return fmt.Errorf("session %s is %s/%s, not awaiting a delayed payment", id, ss.Status, ss.PaymentStatus)
		}
		s.charge(ss)
		ss.PaymentStatus = "paid"
		return nil
	})
}

// AsyncFailed fails a PayLater session: checkout.session.async_payment_failed.
func (s *Server) AsyncFailed(id string) (Event, error) {
	return s.transition(id, "checkout.session.async_payment_failed", func(ss *Session) error {
		if ss.Status != "complete" || ss.PaymentStatus != "unpaid" {
			return fmt.Errorf("session %s is %s/%s, not awaiting a delayed payment", id, ss.Status, ss.PaymentStatus)
		}
		return nil
	})
}

// Expire expires an open session (the person never paid): checkout.session.expired.
func (s *Server) Expire(id string) (Event, error) {
	return s.transition(id, "checkout.session.expired", func(ss *Session) error {
		if ss.Status != "open" {
			return fmt.Errorf("session %s is %s, not open", id, ss.Status)
		}
		ss.Status = "expired"
		return nil
	})
}

// DashboardRefund refunds a paid session's charge as an operator would in Stripe's
// dashboard (not through the API) and returns the charge.refunded event.
func (s *Server) DashboardRefund(id string) (Event, error) {
	return s.transition(id, "charge.refunded", func(ss *Session) error {
		if ss.Charge == "" || ss.Refunded {
			return fmt.Errorf("session %s has no charge to refund", id)
		}
		ss.Refunded = true
		return nil
	})
}

// Event builds an event of type typ about session id as it stands: data.object is the
// session for checkout.session.* types and its charge for charge.* types. edit, when not
// nil, changes the object before it is written (an amount that differs, a missing field).
func (s *Server) Event(id, typ string, edit func(object map[string]any)) (Event, error) {
	return s.transition(id, typ, func(*Session) error { return nil }, edit)
}

func (s *Server) transition(id, typ string, change func(*Session) error, edits ...func(map[string]any)) (Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	if !ok {
		return Event{}, fmt.Errorf("no session %s", id)
	}
	if err := change(ss); err != nil {
		return Event{}, err
	}
	var obj map[string]any
	if strings.HasPrefix(typ, "charge.") {
		if ss.Charge == "" {
			return Event{}, fmt.Errorf("session %s has no charge", id)
		}
		obj = s.chargeJSON(ss)
	} else {
		obj = s.sessionJSON(ss, nil)
	}
	for _, edit := range edits {
		if edit != nil {
			edit(obj)
		}
	}
	evtID := newID("evt_")
	body, err := json.Marshal(map[string]any{
		"id": evtID, "object": "event", "api_version": APIVersion, "created": time.Now().Unix(),
		"type": typ, "livemode": false, "pending_webhooks": 1,
		"request": map[string]any{"id": nil, "idempotency_key": nil},
		"data":    map[string]any{"object": obj},
	})
	if err != nil {
		return Event{}, err
	}
	return Event{ID: evtID, Type: typ, Body: body}, nil
}

// charge gives a session its PaymentIntent and charge (s.mu held).
func (s *Server) charge(ss *Session) {
	if ss.PaymentIntent == "" {
		ss.PaymentIntent, ss.Charge = newID("pi_"), newID("ch_")
		s.byIntent[ss.PaymentIntent] = ss.ID
	}
}

// Signature is the Stripe-Signature header of body signed at t with each of secrets (several
// while a secret is being rolled).
func Signature(body []byte, t time.Time, secrets ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "t=%d", t.Unix())
	for _, secret := range secrets {
		mac := hmac.New(sha256.New, []byte(secret))
		fmt.Fprintf(mac, "%d.", t.Unix())
		mac.Write(body)
		b.WriteString(",v1=" + hex.EncodeToString(mac.Sum(nil)))
	}
	return b.String()
}

func delivery(body []byte, sig string) Delivery {
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	if sig != "" {
		h.Set("Stripe-Signature", sig)
	}
	return Delivery{Header: h, Body: slices.Clone(body)}
}

// Sign is e delivered as Stripe does at time at: signed with the server's secret.
func (s *Server) Sign(e Event, at time.Time) Delivery {
	return delivery(e.Body, Signature(e.Body, at, s.Secret))
}

// Forged is e signed now with a secret that is not the server's.
func (s *Server) Forged(e Event) Delivery {
	return delivery(e.Body, Signature(e.Body, time.Now(), "whsec_forged_"+newID("")))
}

// Unsigned is e with no Stripe-Signature header.
func (s *Server) Unsigned(e Event) Delivery { return delivery(e.Body, "") }

// Stale is e signed validly, age ago (a captured delivery replayed later).
func (s *Server) Stale(e Event, age time.Duration) Delivery {
	return s.Sign(e, time.Now().Add(-age))
}

// Tampered is e signed validly now, whose body was then changed by edit (of the event's
// data.object): the signature no longer matches.
func (s *Server) Tampered(e Event, edit func(object map[string]any)) Delivery {
	d := s.Sign(e, time.Now())
	var evt map[string]any
	if err := json.Unmarshal(e.Body, &evt); err == nil {
		if data, ok := evt["data"].(map[string]any); ok {
			if obj, ok := data["object"].(map[string]any); ok {
				edit(obj)
			}
		}
		if body, err := json.Marshal(evt); err == nil {
			d.Body = body
		}
	}
	return d
}

// Post sends d to url and returns the answer's status and body. Posting the same Delivery
// twice is a replay (same signature); Deliver twice is a duplicate (Stripe's retry: the same
// event, signed afresh).
func (s *Server) Post(ctx context.Context, url string, d Delivery) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.Body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range d.Header {
		req.Header[k] = slices.Clone(v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, body, err
}

// Deliver signs e now and posts it to url, as Stripe does; it returns the answer's status.
func (s *Server) Deliver(ctx context.Context, url string, e Event) (int, error) {
	status, _, err := s.Post(ctx, url, s.Sign(e, time.Now()))
	return status, err
}

// serve is the API.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if id, ok := strings.CutPrefix(r.URL.Path, "/pay/"); ok && r.Method == http.MethodGet {
		s.page(w, id)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer sk_") {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "", "", "Invalid API Key provided.")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "", "Invalid request body.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		writeError(w, http.StatusServiceUnavailable, "api_error", "", "", "Stripe is down (stripetest).")
		return
	}
	key := r.Header.Get("Idempotency-Key")
	request := r.Method + " " + r.URL.Path + " " + r.Form.Encode()
	if key != "" && r.Method == http.MethodPost {
		if e, ok := s.idem[key]; ok {
			if e.request != request {
				writeError(w, http.StatusBadRequest, "idempotency_error", "", "",
					"Keys for idempotent requests can only be used with the same parameters they were first used with.")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(e.status)
			_, _ = w.Write(e.body)
			return
		}
	}
	rec := httptest.NewRecorder()
	s.route(rec, r)
	if key != "" && r.Method == http.MethodPost && rec.Code < 500 {
		s.idem[key] = idemEntry{request: request, status: rec.Code, body: rec.Body.Bytes()}
	}
	maps.Copy(w.Header(), rec.Header())
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// page is the hosted checkout page a session's url leads to: a browser sent there by the
// system lands on a page naming the session (tests pay with Pay, not through the page).
func (s *Server) page(w http.ResponseWriter, id string) {
	s.mu.Lock()
	ss, ok := s.sessions[id]
	var status string
	var amount int64
	var currency string
	if ok {
		status, amount, currency = ss.Status, ss.AmountTotal, ss.Currency
	}
	s.mu.Unlock()
	if !ok {
		http.Error(w, "no such checkout session", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><title>stripetest checkout</title><h1>Checkout session %s</h1><p>%s: %d %s</p>\n",
		html.EscapeString(id), html.EscapeString(status), amount, html.EscapeString(currency))
}

// route answers one request (s.mu held).
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && path == "/v1/checkout/sessions":
		s.createSession(w, r.Form)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v1/checkout/sessions/"):
		id := strings.TrimPrefix(path, "/v1/checkout/sessions/")
		ss, ok := s.sessions[id]
		if !ok {
			writeError(w, http.StatusNotFound, "invalid_request_error", "resource_missing", "session", fmt.Sprintf("No such checkout.session: '%s'", id))
			return
		}
		writeJSON(w, s.sessionJSON(ss, expansions(r.Form)))
	case r.Method == http.MethodPost && path == "/v1/refunds":
		s.createRefund(w, r.Form)
	default:
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "", fmt.Sprintf("Unrecognized request URL (%s: %s).", r.Method, path))
	}
}

func expansions(form url.Values) map[string]bool {
	out := map[string]bool{}
	for k, vs := range form {
		if k == "expand" || strings.HasPrefix(k, "expand[") {
			for _, v := range vs {
				out[v] = true
			}
		}
	}
	return out
}

// Stripe's amounts of these currencies are in hundredths but must be whole units.
var wholeUnitCurrencies = map[string]bool{"twd": true, "isk": true}
var threeDecimalCurrencies = map[string]bool{"bhd": true, "jod": true, "kwd": true, "omr": true, "tnd": true}

func (s *Server) createSession(w http.ResponseWriter, f url.Values) {
	missing := func(param string) {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "parameter_missing", param, "Missing required param: "+param+".")
	}
	invalid := func(param, msg string) {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "parameter_invalid", param, msg)
	}
	for _, p := range []string{"mode", "success_url", "line_items[0][price_data][currency]", "line_items[0][price_data][unit_amount]",
		"line_items[0][price_data][product_data][name]", "line_items[0][quantity]"} {
		if f.Get(p) == "" {
			missing(p)
			return
		}
	}
	if f.Get("mode") != "payment" {
		invalid("mode", "stripetest serves mode payment only.")
		return
	}
	for k := range f {
		if strings.HasPrefix(k, "line_items[") && !strings.HasPrefix(k, "line_items[0]") {
			invalid(k, "stripetest serves one line item only.")
			return
		}
	}
	currency := f.Get("line_items[0][price_data][currency]")
	if len(currency) != 3 || strings.ToLower(currency) != currency {
		invalid("line_items[0][price_data][currency]", "Invalid currency: "+currency+". Stripe currently supports these currencies: lower-case ISO codes.")
		return
	}
	unit, err := strconv.ParseInt(f.Get("line_items[0][price_data][unit_amount]"), 10, 64)
	if err != nil || unit < 1 {
		invalid("line_items[0][price_data][unit_amount]", "Invalid integer: "+f.Get("line_items[0][price_data][unit_amount]"))
		return
	}
	qty, err := strconv.ParseInt(f.Get("line_items[0][quantity]"), 10, 64)
	if err != nil || qty < 1 {
		invalid("line_items[0][quantity]", "Invalid integer: "+f.Get("line_items[0][quantity]"))
		return
	}
	if wholeUnitCurrencies[currency] && unit%100 != 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_charge_amount_no_decimal_compatible", "line_items[0][price_data][unit_amount]",
			fmt.Sprintf("Invalid amount. Currency %s charges must be whole units: amounts evenly divisible by 100.", strings.ToUpper(currency)))
		return
	}
	if threeDecimalCurrencies[currency] && unit%10 != 0 {
		invalid("line_items[0][price_data][unit_amount]", "Amounts of three-decimal currencies must end in 0.")
		return
	}
	now := time.Now()
	expires := now.Add(24 * time.Hour).Unix()
	if v := f.Get("expires_at"); v != "" {
		at, err := strconv.ParseInt(v, 10, 64)
		if err != nil || at < now.Add(30*time.Minute).Unix() || at > now.Add(24*time.Hour).Unix() {
			invalid("expires_at", "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.")
			return
		}
		expires = at
	}
	ss := &Session{
		ID: newID("cs_test_"), Form: maps.Clone(f), Status: "open", PaymentStatus: "unpaid",
		Currency: currency, AmountTotal: unit * qty, ClientReferenceID: f.Get("client_reference_id"),
		Metadata: bracketed(f, "metadata"), IntentMetadata: bracketed(f, "payment_intent_data[metadata]"),
		CustomerEmail: f.Get("customer_email"), Locale: f.Get("locale"),
		SuccessURL: f.Get("success_url"), CancelURL: f.Get("cancel_url"),
		Created: now.Unix(), ExpiresAt: expires,
	}
	s.sessions[ss.ID] = ss
	writeJSON(w, s.sessionJSON(ss, nil))
}

// bracketed collects prefix[key]=value parameters.
func bracketed(f url.Values, prefix string) map[string]string {
	out := map[string]string{}
	for k, vs := range f {
		if rest, ok := strings.CutPrefix(k, prefix+"["); ok && strings.HasSuffix(rest, "]") && !strings.Contains(rest, "[") {
			out[strings.TrimSuffix(rest, "]")] = vs[0]
		}
	}
	return out
}

func (s *Server) createRefund(w http.ResponseWriter, f url.Values) {
	pi := f.Get("payment_intent")
	if pi == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "parameter_missing", "payment_intent", "stripetest refunds by payment_intent only.")
		return
	}
	id, ok := s.byIntent[pi]
	if !ok {
		writeError(w, http.StatusNotFound, "invalid_request_error", "resource_missing", "payment_intent", fmt.Sprintf("No such payment_intent: '%s'", pi))
		return
	}
	ss := s.sessions[id]
	if ss.PaymentStatus != "paid" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "charge_not_refundable", "payment_intent", "This PaymentIntent has no successful charge to refund.")
		return
	}
	if ss.Refunded {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "charge_already_refunded", "", fmt.Sprintf("Charge %s has already been refunded.", ss.Charge))
		return
	}
	amount := ss.AmountTotal
	if v := f.Get("amount"); v != "" {
		a, err := strconv.ParseInt(v, 10, 64)
		if err != nil || a < 1 || a > ss.AmountTotal {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "amount_too_large", "amount", "Refund amount is greater than the unrefunded amount on the charge.")
			return
		}
		amount = a
	}
	if amount != ss.AmountTotal {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "parameter_invalid", "amount", "stripetest refunds whole charges only.")
		return
	}
	ss.Refunded = true
	ss.Refunds = append(ss.Refunds, maps.Clone(f))
	writeJSON(w, map[string]any{
		"id": newID("re_"), "object": "refund", "amount": amount, "currency": ss.Currency,
		"payment_intent": ss.PaymentIntent, "charge": ss.Charge, "status": "succeeded",
		"metadata": bracketed(f, "metadata"), "created": time.Now().Unix(),
	})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// sessionJSON writes a session as Stripe does, expanding what expand names (s.mu held).
func (s *Server) sessionJSON(ss *Session, expand map[string]bool) map[string]any {
	var u any
	if ss.Status == "open" {
		u = s.URL + "/pay/" + ss.ID
	}
	var pi any = nilIfEmpty(ss.PaymentIntent)
	if ss.PaymentIntent != "" && (expand["payment_intent"] || expand["payment_intent.latest_charge"]) {
		var charge any = ss.Charge
		if expand["payment_intent.latest_charge"] {
			charge = s.chargeJSON(ss)
		}
		pi = map[string]any{
			"id": ss.PaymentIntent, "object": "payment_intent", "amount": ss.AmountTotal, "amount_received": ss.AmountTotal,
			"currency": ss.Currency, "status": "succeeded", "metadata": ss.IntentMetadata, "latest_charge": charge,
		}
	}
	return map[string]any{
		"id": ss.ID, "object": "checkout.session", "mode": "payment", "livemode": false,
		"status": ss.Status, "payment_status": ss.PaymentStatus,
		"amount_subtotal": ss.AmountTotal, "amount_total": ss.AmountTotal, "currency": ss.Currency,
		"client_reference_id": nilIfEmpty(ss.ClientReferenceID), "metadata": ss.Metadata,
		"customer_email": nilIfEmpty(ss.CustomerEmail), "locale": nilIfEmpty(ss.Locale),
		"success_url": ss.SuccessURL, "cancel_url": nilIfEmpty(ss.CancelURL), "url": u,
		"created": ss.Created, "expires_at": ss.ExpiresAt, "payment_intent": pi,
	}
}

// chargeJSON writes a session's charge (s.mu held).
func (s *Server) chargeJSON(ss *Session) map[string]any {
	refunded := int64(0)
	if ss.Refunded {
		refunded = ss.AmountTotal
	}
	return map[string]any{
		"id": ss.Charge, "object": "charge", "amount": ss.AmountTotal, "amount_captured": ss.AmountTotal,
		"amount_refunded": refunded, "refunded": ss.Refunded, "currency": ss.Currency, "paid": true,
		"captured": true, "status": "succeeded", "payment_intent": ss.PaymentIntent, "metadata": ss.IntentMetadata,
		"livemode": false,
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", newID("req_"))
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, typ, code, param, msg string) {
	e := map[string]any{"type": typ, "message": msg}
	if code != "" {
		e["code"] = code
	}
	if param != "" {
		e["param"] = param
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", newID("req_"))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

func newID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
