package gateway

import (
	"bytes"
	"encoding/json"

	"github.com/gofiber/fiber/v2"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/settings"
)

// The runtime configuration (issue 12): settings operators change without a restart.
func init() {
	apiRoutes = append(apiRoutes, []route{
		{method: "GET", path: "/api/v1/admin/config", roles: admins, summary: "The runtime configuration: every setting with its value in force, its default (the node's flag, or built in) and where the value comes from (default, flag or database)", status: 200, result: "ConfigList", handler: (*Server).getConfig},
		{method: "PATCH", path: "/api/v1/admin/config", roles: admins, summary: "Change settings: {\"<key>\": value, …}; null puts a setting's default back. Every key is checked first (400 invalid, a message per bad key under errors; nothing changes); the change is stored, audited (config.changed, with old and new values) and in force on every node within seconds", body: "ConfigPatch", status: 200, result: "ConfigList", handler: (*Server).patchConfig},
	}...)
	anyJSON := obj{"description": "a JSON value: a number, a string (rates such as 20/m; periods such as 30d), or an object or array for settings that take one"}
	schemas["ConfigSetting"] = object([]string{"key", "value", "default", "source"}, obj{
		"key": str(), "value": anyJSON, "default": anyJSON, "source": enum(settings.SourceDefault, settings.SourceFlag, settings.SourceDatabase),
		"description": str(), "updated_at": nullable(dateTime()), "updated_by": nullable(str())})
	schemas["ConfigList"] = object([]string{"settings"}, obj{"settings": arrayOf("ConfigSetting")})
	schemas["ConfigPatch"] = obj{"type": "object", "additionalProperties": anyJSON,
		"description": "setting key → new value (null: back to the default); the keys are those GET /api/v1/admin/config lists"}
}

// ConfigList is every setting of the runtime configuration.
type ConfigList struct {
	Settings []settings.View `json:"settings"`
}

func (s *Server) configService() (*settings.Service, error) {
	if s.cfg.Settings == nil {
		return nil, dw.Coded(dw.KindUnavailable, "unavailable", "this node has no runtime configuration")
	}
	return s.cfg.Settings, nil
}

func (s *Server) getConfig(c *fiber.Ctx) error {
	svc, err := s.configService()
	if err != nil {
		return err
	}
	views, err := svc.List(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(ConfigList{Settings: orEmpty(views)})
}

func (s *Server) patchConfig(c *fiber.Ctx) error {
	svc, err := s.configService()
	if err != nil {
		return err
	}
	body := bytes.TrimSpace(c.Body())
	if len(body) == 0 || body[0] != '{' {
		return dw.Coded(dw.KindInvalid, "invalid_body", "send a JSON object of setting keys and their new values")
	}
	var in map[string]json.RawMessage
	if err := decode(c, &in, false); err != nil {
		return err
	}
	views, err := svc.Patch(c.UserContext(), settings.PatchInput{Values: in, ActorID: claimsOf(c).UserID, IP: c.IP()})
	if err != nil {
		return err
	}
	return c.JSON(ConfigList{Settings: orEmpty(views)})
}

func orEmpty(v []settings.View) []settings.View {
	if v == nil {
		return []settings.View{}
	}
	return v
}
