package gateway

import (
	"bytes"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/payments/sandbox"
)

// The sandbox provider's hosted checkout: a page of the node's own (payments/sandbox), served
// by every node.
func init() {
	pageRoutes = append(pageRoutes, []route{
		{method: "GET", path: "/pay/sandbox/:id", summary: "The sandbox provider's checkout page (HTML, zh-TW or English): Pay and Cancel buttons", status: 200, handler: (*Server).sandboxPage},
		{method: "POST", path: "/pay/sandbox/:id", summary: "A press of the sandbox page's button (form field action=pay or cancel): the sandbox notifies the node, then 303 to the success or cancel URL", status: 303, handler: (*Server).sandboxAct},
	}...)
}

var errNoSandboxPayment = dw.Errorf(dw.KindNotFound, "no sandbox checkout of that payment")

func (s *Server) sandboxRecord(c *fiber.Ctx) (sandbox.Record, error) {
	if s.cfg.Sandbox == nil {
		return sandbox.Record{}, dw.Coded(dw.KindNotFound, "unknown_provider", "the sandbox payment provider is off on this node")
	}
	id := c.Params("id")
	if _, err := uuid.Parse(id); err != nil {
		return sandbox.Record{}, errNoSandboxPayment
	}
	r, err := s.cfg.Sandbox.Page(c.UserContext(), id)
	if dw.KindOf(err) == dw.KindNotFound {
		return r, errNoSandboxPayment
	}
	return r, err
}

func (s *Server) sandboxPage(c *fiber.Ctx) error {
	r, err := s.sandboxRecord(c)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := sandbox.RenderPage(&b, r); err != nil {
		return dw.Internal(err)
	}
	c.Set(fiber.HeaderContentSecurityPolicy, sandbox.PageCSP)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(b.Bytes())
}

func (s *Server) sandboxAct(c *fiber.Ctx) error {
	r, err := s.sandboxRecord(c)
	if err != nil {
		return err
	}
	var pay bool
	switch c.FormValue("action") {
	case "pay":
		pay = true
	case "cancel":
	default:
		return dw.Coded(dw.KindInvalid, "invalid_body", "action must be pay or cancel")
	}
	next, err := s.cfg.Sandbox.Act(c.UserContext(), r.PaymentID, pay)
	if err != nil {
		return err
	}
	return c.Redirect(next, fiber.StatusSeeOther)
}
