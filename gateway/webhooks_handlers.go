package gateway

import (
	"time"

	"github.com/gofiber/fiber/v2"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/webhooks"
)

func init() {
	apiRoutes = append(apiRoutes, []route{
		{method: "POST", path: "/api/v1/webhooks", roles: moneyMovers, summary: "Register a webhook endpoint for some events; the answer holds its signing secret, shown this once " +
			"(400 invalid naming url or events; 400 webhook_url_forbidden for a URL whose host is or resolves to a loopback, private, link-local or reserved address; 400 webhook_url_unresolvable)",
			body: "WebhookRequest", status: 201, result: "WebhookEndpointCreated", handler: (*Server).createWebhook},
		{method: "GET", path: "/api/v1/webhooks", roles: moneyMovers, summary: "The caller's webhook endpoints (an admin's: everyone's), without secrets", status: 200, result: "WebhookEndpointList", handler: (*Server).listWebhooks},
		{method: "GET", path: "/api/v1/webhooks/:id", roles: moneyMovers, summary: "A webhook endpoint, without its secret", status: 200, result: "WebhookEndpoint", handler: (*Server).getWebhook},
		{method: "DELETE", path: "/api/v1/webhooks/:id", roles: moneyMovers, summary: "Remove a webhook endpoint with its deliveries (those pending are not sent)", status: 204, handler: (*Server).deleteWebhook},
		{method: "GET", path: "/api/v1/webhooks/:id/deliveries", roles: moneyMovers, summary: "An endpoint's deliveries, newest first, each with every attempt (HTTP status, error, duration, next attempt)", status: 200, result: "WebhookDeliveryPage", handler: (*Server).listWebhookDeliveries},
		{method: "POST", path: "/api/v1/webhooks/:id/deliveries/:delivery/redeliver", roles: moneyMovers, summary: "Send a delivery again now (same webhook-id), whatever its status, with a fresh 24 h retry window", bodyOptional: true, status: 202, result: "WebhookDelivery", handler: (*Server).redeliverWebhook},
	}...)
	routeQueries["/api/v1/webhooks/:id/deliveries"] = []string{"page_size", "cursor"}
	events := obj{"type": "array", "items": enum(webhooks.EventTypes...)}
	endpoint := obj{"id": str(), "owner_id": str(), "url": str(), "events": events, "created_at": dateTime()}
	created := obj{"secret": obj{"type": "string", "description": "whsec_ + base64 of 32 random bytes: the Standard Webhooks signing secret, shown only in this answer"}}
	for k, v := range endpoint {
		created[k] = v
	}
	attempt := object(nil, obj{"attempt": integer(), "http_status": integer(), "error": str(), "duration_ms": integer(),
		"started_at": dateTime(), "next_attempt_at": nullable(dateTime())})
	schemas["WebhookRequest"] = object([]string{"url", "events"}, obj{"url": obj{"type": "string", "description": "http(s) URL of the receiver"}, "events": events})
	schemas["WebhookEndpoint"] = object(nil, endpoint)
	schemas["WebhookEndpointCreated"] = object([]string{"id", "url", "events", "secret", "created_at"}, created)
	schemas["WebhookEndpointList"] = items("WebhookEndpoint")
	schemas["WebhookDelivery"] = object(nil, obj{"id": str(), "endpoint_id": str(), "event_id": obj{"type": "string", "description": "the webhook-id header"},
		"event_type": enum(webhooks.EventTypes...), "status": enum(webhooks.StatusPending, webhooks.StatusSucceeded, webhooks.StatusFailed),
		"attempt_count": integer(), "next_attempt_at": dateTime(), "deadline": dateTime(), "last_http_status": integer(), "last_error": str(),
		"created_at": dateTime(), "succeeded_at": dateTime(), "attempts": obj{"type": "array", "items": attempt}})
	schemas["WebhookDeliveryPage"] = object([]string{"items"}, obj{"items": arrayOf("WebhookDelivery"), "next_cursor": str()})
}

// webhookEndpoint is an endpoint as the API shows it: never with its secret.
type webhookEndpoint struct {
	ID        string    `json:"id"`
	OwnerID   string    `json:"owner_id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	CreatedAt time.Time `json:"created_at"`
}

func toWebhookEndpoint(e webhooks.Endpoint) webhookEndpoint {
	return webhookEndpoint{ID: e.ID, OwnerID: e.OwnerID, URL: e.URL, Events: e.Events, CreatedAt: e.CreatedAt}
}

// webhookService is the node's webhooks core; errors: unavailable when there is none.
func (s *Server) webhookService() (*webhooks.Service, error) {
	if s.cfg.Webhooks == nil {
		return nil, dw.Coded(dw.KindUnavailable, "unavailable", "webhooks are not available on this node")
	}
	return s.cfg.Webhooks, nil
}

// webhookOwner is whose endpoints the caller may see: an admin everyone's (""), else their own.
func webhookOwner(c *fiber.Ctx) string {
	if cl := claimsOf(c); cl.Role != account.RoleAdmin {
		return cl.UserID
	}
	return ""
}

func (s *Server) createWebhook(c *fiber.Ctx) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	var in struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	if err := decode(c, &in, false); err != nil {
		return err
	}
	e, err := svc.Create(c.UserContext(), webhooks.CreateInput{OwnerID: claimsOf(c).UserID, URL: in.URL, Events: in.Events, IP: c.IP()})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(struct {
		webhookEndpoint
		Secret string `json:"secret"`
	}{toWebhookEndpoint(e), e.Secret})
}

func (s *Server) listWebhooks(c *fiber.Ctx) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	es, err := svc.List(c.UserContext(), webhookOwner(c))
	if err != nil {
		return err
	}
	out := make([]webhookEndpoint, len(es))
	for i, e := range es {
		out[i] = toWebhookEndpoint(e)
	}
	return c.JSON(fiber.Map{"items": out})
}

func (s *Server) getWebhook(c *fiber.Ctx) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	e, err := svc.Get(c.UserContext(), c.Params("id"), webhookOwner(c))
	if err != nil {
		return err
	}
	return c.JSON(toWebhookEndpoint(e))
}

func (s *Server) deleteWebhook(c *fiber.Ctx) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	if err := svc.Delete(c.UserContext(), c.Params("id"), webhookOwner(c), webhooks.Actor{UserID: claimsOf(c).UserID, IP: c.IP()}); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) listWebhookDeliveries(c *fiber.Ctx) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	size, err := pageSize(c)
	if err != nil {
		return err
	}
	ds, next, err := svc.Deliveries(c.UserContext(), c.Params("id"), webhookOwner(c), size, c.Query("cursor"))
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []webhooks.Delivery{}
	}
	return c.JSON(struct {
		Items      []webhooks.Delivery `json:"items"`
		NextCursor string              `json:"next_cursor,omitempty"`
	}{ds, next})
}

func (s *Server) redeliverWebhook(c *fiber.Ctx) error {
	svc, err := s.webhookService()
	if err != nil {
		return err
	}
	d, err := svc.Redeliver(c.UserContext(), c.Params("id"), webhookOwner(c), c.Params("delivery"))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(d)
}
