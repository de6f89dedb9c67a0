package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/ratelimit"
)

func init() {
	apiRoutes = append(apiRoutes, []route{
		{method: "GET", path: "/api/v1/payments/packages", summary: "The point packages on sale, and the payment providers enabled", status: 200, result: "PaymentPackages", handler: (*Server).paymentPackages},
		{method: "POST", path: "/api/v1/payments/checkout", class: ratelimit.ClassMoney, roles: signedIn, summary: "Buy a package: a pending payment and where to send the browser (a redirect, or for ECPay a form of its AIO fields to post); 400 unknown_provider or unknown_package, 503 provider_unavailable (the payment is stored as failed)", body: "CheckoutRequest", status: 201, result: "CheckoutStarted", handler: (*Server).paymentCheckout, idempotent: true},
		{method: "POST", path: "/api/v1/payments/webhooks/:provider", class: ratelimit.ClassMoney, summary: "A payment provider's server notification, verified by its signature against the raw body and answered as the provider expects (400 invalid_signature, 404 unknown_provider); a paid notification credits the points exactly once", status: 200, handler: (*Server).paymentWebhook},
		{method: "GET", path: "/api/v1/payments", roles: signedIn, summary: "Payments, newest first: the caller's own (an admin sees everyone's and may filter by user_id)", status: 200, result: "PaymentPage", handler: (*Server).listPayments},
		{method: "GET", path: "/api/v1/payments/:id", roles: signedIn, summary: "A payment (its owner or an admin)", status: 200, result: "Payment", handler: (*Server).getPayment},
		{method: "POST", path: "/api/v1/payments/:id/refund", class: ratelimit.ClassMoney, roles: admins, summary: "Refund a succeeded payment at its provider, then in the ledger, exactly once (409 payment_not_refundable, 409 insufficient_funds when the points were spent)", status: 200, result: "Payment", handler: (*Server).refundPayment},
	}...)
	routeQueries["/api/v1/payments"] = []string{"status", "provider", "user_id", "page_size", "cursor"}
	schemas["PaymentPackage"] = object([]string{"id", "points", "currency", "price", "price_minor"}, obj{"id": str(), "points": integer(),
		"currency": str(), "price": obj{"type": "number", "description": "in major units, e.g. 150 or 4.99"}, "price_minor": integer()})
	schemas["PaymentPackages"] = object([]string{"items", "providers"}, obj{"items": arrayOf("PaymentPackage"),
		"providers": obj{"type": "array", "items": str()}})
	schemas["CheckoutRequest"] = object([]string{"provider", "package"}, obj{"provider": str(), "package": str()})
	schemas["Payment"] = object(nil, obj{"id": str(), "user_id": str(), "wallet_id": str(), "provider": str(), "package": str(),
		"points": integer(), "currency": str(), "price": obj{"type": "number", "description": "in major units"}, "price_minor": integer(),
		"status": enum("pending", "succeeded", "failed", "refunded", "flagged"), "provider_ref": str(), "reason": str(),
		"transaction_id": str(), "created_at": dateTime(), "updated_at": dateTime(), "paid_at": nullable(dateTime()), "refunded_at": nullable(dateTime())})
	schemas["CheckoutStarted"] = object([]string{"payment", "redirect_url", "method"}, obj{"payment": ref("Payment"), "redirect_url": str(),
		"method": enum("GET", "POST"), "fields": obj{"type": "object", "additionalProperties": str(), "description": "POST: the form fields under the provider's own names (ECPay AIO: MerchantTradeNo, TotalAmount, CheckMacValue, …)"}})
	schemas["PaymentPage"] = object(nil, obj{"items": arrayOf("Payment"), "next_cursor": str()})
}

// PaymentPackage is the JSON form of a package on sale.
type PaymentPackage struct {
	ID         string      `json:"id"`
	Points     int64       `json:"points"`
	Currency   string      `json:"currency"`
	Price      json.Number `json:"price"`
	PriceMinor int64       `json:"price_minor"`
}

// Payment is the JSON form of a payment.
type Payment struct {
	ID            string      `json:"id"`
	UserID        string      `json:"user_id"`
	WalletID      string      `json:"wallet_id"`
	Provider      string      `json:"provider"`
	Package       string      `json:"package"`
	Points        int64       `json:"points"`
	Currency      string      `json:"currency"`
	Price         json.Number `json:"price"`
	PriceMinor    int64       `json:"price_minor"`
	Status        string      `json:"status"`
	ProviderRef   string      `json:"provider_ref"`
	Reason        string      `json:"reason"`
	TransactionID string      `json:"transaction_id"`
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`
	PaidAt        *time.Time  `json:"paid_at"`
	RefundedAt    *time.Time  `json:"refunded_at"`
}

// CheckoutStarted is the answer to a checkout.
type CheckoutStarted struct {
	Payment     Payment           `json:"payment"`
	RedirectURL string            `json:"redirect_url"`
	Method      string            `json:"method"`
	Fields      map[string]string `json:"fields,omitempty"`
}

func paymentJSON(p payments.Payment) Payment {
	out := Payment{ID: p.ID, UserID: p.UserID, WalletID: p.WalletID, Provider: p.Provider, Package: p.PackageID,
		Points: p.Points, Currency: p.Price.Currency, Price: json.Number(p.Price.Major()), PriceMinor: p.Price.Minor,
		Status: string(p.Status), ProviderRef: p.ProviderRef, Reason: p.Reason, TransactionID: p.TransactionID,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
	if !p.PaidAt.IsZero() {
		out.PaidAt = &p.PaidAt
	}
	if !p.RefundedAt.IsZero() {
		out.RefundedAt = &p.RefundedAt
	}
	return out
}

var errNoPayments = &dw.Error{Kind: dw.KindUnavailable, Code: "payments_unavailable", Message: "payments are not enabled on this node"}

func (s *Server) paymentPackages(c *fiber.Ctx) error {
	if s.cfg.Payments == nil {
		return errNoPayments
	}
	pkgs := s.cfg.Payments.Packages()
	out := struct {
		Items     []PaymentPackage `json:"items"`
		Providers []string         `json:"providers"`
	}{Items: make([]PaymentPackage, len(pkgs)), Providers: s.cfg.Payments.Providers()}
	for i, p := range pkgs {
		out.Items[i] = PaymentPackage{ID: p.ID, Points: p.Points, Currency: p.Price.Currency, Price: json.Number(p.Price.Major()), PriceMinor: p.Price.Minor}
	}
	return c.JSON(out)
}

type checkoutRequest struct {
	Provider string `json:"provider"`
	Package  string `json:"package"`
}

func (s *Server) paymentCheckout(c *fiber.Ctx) error {
	if s.cfg.Payments == nil {
		return errNoPayments
	}
	var in checkoutRequest
	if err := decode(c, &in, false); err != nil {
		return err
	}
	cl := claimsOf(c)
	lang := "zh-TW"
	if strings.HasPrefix(strings.ToLower(c.Get(fiber.HeaderAcceptLanguage)), "en") {
		lang = "en"
	}
	p, replayed, err := s.cfg.Payments.Checkout(c.UserContext(), payments.CheckoutInput{UserID: cl.UserID, WalletID: cl.WalletID,
		Language: lang, Provider: in.Provider, Package: in.Package, IdempotencyKey: c.Get("Idempotency-Key")})
	if err != nil {
		return err
	}
	if replayed {
		c.Set("Idempotent-Replayed", "true")
	}
	return c.Status(fiber.StatusCreated).JSON(CheckoutStarted{Payment: paymentJSON(p), RedirectURL: p.Checkout.RedirectURL,
		Method: p.Checkout.Method, Fields: p.Checkout.Fields})
}

func (s *Server) paymentWebhook(c *fiber.Ctx) error {
	if s.cfg.Payments == nil {
		return errNoPayments
	}
	header := http.Header{}
	c.Request().Header.VisitAll(func(k, v []byte) { header.Add(string(k), string(v)) })
	ack, err := s.cfg.Payments.HandleNotification(c.UserContext(), c.Params("provider"), header, c.Body(), c.IP())
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, ack.ContentType)
	return c.Status(ack.Status).Send(ack.Body)
}

func (s *Server) listPayments(c *fiber.Ctx) error {
	if s.cfg.Payments == nil {
		return errNoPayments
	}
	cl := claimsOf(c)
	var f payments.ListFilter
	status, err := oneOf(c, "status", "pending", "succeeded", "failed", "refunded", "flagged")
	if err != nil {
		return err
	}
	f.Status, f.Provider, f.UserID, f.Cursor = payments.PaymentStatus(status), c.Query("provider"), c.Query("user_id"), c.Query("cursor")
	if cl.Role != account.RoleAdmin {
		f.UserID = cl.UserID
	}
	if f.Limit, err = pageSize(c); err != nil {
		return err
	}
	ps, next, err := s.cfg.Payments.List(c.UserContext(), f)
	if err != nil {
		return err
	}
	page := struct {
		Items      []Payment `json:"items"`
		NextCursor string    `json:"next_cursor,omitempty"`
	}{Items: make([]Payment, len(ps)), NextCursor: next}
	for i, p := range ps {
		page.Items[i] = paymentJSON(p)
	}
	return c.JSON(page)
}

func (s *Server) getPayment(c *fiber.Ctx) error {
	if s.cfg.Payments == nil {
		return errNoPayments
	}
	p, err := s.cfg.Payments.Get(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	if cl := claimsOf(c); cl.Role != account.RoleAdmin && cl.UserID != p.UserID {
		return dw.Errorf(dw.KindNotFound, "payment not found")
	}
	return c.JSON(paymentJSON(p))
}

func (s *Server) refundPayment(c *fiber.Ctx) error {
	if s.cfg.Payments == nil {
		return errNoPayments
	}
	if err := decode(c, &struct{}{}, true); err != nil {
		return err
	}
	p, err := s.cfg.Payments.Refund(c.UserContext(), claimsOf(c).UserID, c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(paymentJSON(p))
}
