package gateway

import (
	"time"

	"github.com/gofiber/fiber/v2"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/push"
)

func init() {
	apiRoutes = append(apiRoutes, []route{
		{method: "GET", path: "/api/v1/push/key", summary: "The VAPID public key browsers subscribe with (PushManager.subscribe's applicationServerKey)", status: 200, result: "PushKey", handler: (*Server).pushKey},
		{method: "GET", path: "/api/v1/push/subscriptions", roles: signedIn, summary: "The caller's devices that get a notice when an interpretation ends", status: 200, result: "PushSubscriptionList", handler: (*Server).listPushSubscriptions},
		{method: "POST", path: "/api/v1/push/subscriptions", roles: signedIn, summary: "Subscribe this device (a PushSubscription's JSON; the same endpoint again updates it, also under another user)", body: "PushSubscriptionRequest", status: 201, result: "PushSubscription", handler: (*Server).subscribePush},
		{method: "DELETE", path: "/api/v1/push/subscriptions/:id", roles: signedIn, summary: "Stop notices to one of the caller's devices", status: 204, handler: (*Server).unsubscribePush},
	}...)
	schemas["PushKey"] = object([]string{"public_key"}, obj{"public_key": str()})
	schemas["PushSubscriptionRequest"] = object([]string{"endpoint", "keys"}, obj{"endpoint": str(),
		"keys":           object([]string{"p256dh", "auth"}, obj{"p256dh": str(), "auth": str()}),
		"expirationTime": nullable(number()), "language": enum("zh-TW", "en")})
	schemas["PushSubscription"] = object([]string{"id", "endpoint", "language", "created_at"}, obj{
		"id": str(), "endpoint": str(), "language": str(), "created_at": dateTime()})
	schemas["PushSubscriptionList"] = items("PushSubscription")
}

// pushSubscriptionRequest is a browser's PushSubscription.toJSON() plus the page's language.
type pushSubscriptionRequest struct {
	Endpoint       string   `json:"endpoint"`
	ExpirationTime *float64 `json:"expirationTime"`
	Keys           struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
	Language string `json:"language"`
}

type pushSubscriptionJSON struct {
	ID        string    `json:"id"`
	Endpoint  string    `json:"endpoint"`
	Language  string    `json:"language"`
	CreatedAt time.Time `json:"created_at"`
}

func pushSubscriptionOut(p push.Subscription) pushSubscriptionJSON {
	return pushSubscriptionJSON{ID: p.ID, Endpoint: p.Endpoint, Language: p.Lang, CreatedAt: p.CreatedAt}
}

func (s *Server) pushService() (*push.Service, error) {
	if s.cfg.Push == nil {
		return nil, dw.Coded(dw.KindUnavailable, "push_unavailable", "this node sends no push notices")
	}
	return s.cfg.Push, nil
}

func (s *Server) pushKey(c *fiber.Ctx) error {
	p, err := s.pushService()
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"public_key": p.Key})
}

func (s *Server) listPushSubscriptions(c *fiber.Ctx) error {
	p, err := s.pushService()
	if err != nil {
		return err
	}
	subs, err := p.Subscriptions(c.UserContext(), claimsOf(c).UserID)
	if err != nil {
		return err
	}
	out := make([]pushSubscriptionJSON, 0, len(subs))
	for _, x := range subs {
		out = append(out, pushSubscriptionOut(x))
	}
	return c.JSON(fiber.Map{"items": out})
}

func (s *Server) subscribePush(c *fiber.Ctx) error {
	p, err := s.pushService()
	if err != nil {
		return err
	}
	var in pushSubscriptionRequest
	if err := decode(c, &in, false); err != nil {
		return err
	}
	sub, err := p.Subscribe(c.UserContext(), claimsOf(c).UserID, push.SubscribeInput{
		Endpoint: in.Endpoint, P256dh: in.Keys.P256dh, Auth: in.Keys.Auth, Lang: in.Language})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(pushSubscriptionOut(sub))
}

func (s *Server) unsubscribePush(c *fiber.Ctx) error {
	p, err := s.pushService()
	if err != nil {
		return err
	}
	if err := p.Unsubscribe(c.UserContext(), claimsOf(c).UserID, c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
