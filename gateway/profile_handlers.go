package gateway

import (
	"github.com/gofiber/fiber/v2"

	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/ratelimit"
)

// The profile and the deletion of accounts (issue 12, account lifecycle).
func init() {
	apiRoutes = append(apiRoutes, []route{
		{method: "PATCH", path: "/api/v1/me", roles: signedIn, summary: "Change the caller's display name (at most 64 characters, trimmed, no control characters) and/or language (zh-TW or en); 400 invalid with the messages keyed by field under errors", body: "ProfilePatch", status: 200, result: "Me", handler: (*Server).patchMe},
		{method: "DELETE", path: "/api/v1/me", class: ratelimit.ClassAuth, roles: signedIn, summary: "Delete the caller's account after checking its password (403 invalid_credentials; 409 last_admin): open jobs cancelled, personal data removed or anonymised, every session ended; the ledger and the audit log stay", body: "AccountDeletion", status: 204, handler: (*Server).deleteMe},
		{method: "DELETE", path: "/api/v1/admin/users/:id", roles: admins, summary: "Delete a user as DELETE /api/v1/me does (409 last_admin; 404 for a user already deleted)", status: 204, handler: (*Server).deleteUser},
	}...)
	schemas["ProfilePatch"] = object(nil, obj{"display_name": obj{"type": "string", "maxLength": account.MaxDisplayName},
		"language": enum(account.Languages...)})
	schemas["AccountDeletion"] = object([]string{"password"}, obj{"password": str()})
	// Additive members of shared schemas: the profile on Me and User, and the errors keyed by
	// field of a 400 invalid.
	for _, name := range []string{"Me", "User"} {
		props := schemas[name].(obj)["properties"].(obj)
		props["display_name"] = str()
		props["language"] = obj{"type": "string", "enum": append([]string{""}, account.Languages...),
			"description": `the person's language; "" until chosen (at registration, or PATCH /api/v1/me)`}
	}
	schemas["Problem"].(obj)["properties"].(obj)["errors"] = obj{"type": "object", "additionalProperties": str(),
		"description": "with code invalid, where the route says so: a message per bad field (or setting key)"}
}

type profilePatch struct {
	DisplayName *string `json:"display_name"`
	Language    *string `json:"language"`
}

func (s *Server) patchMe(c *fiber.Ctx) error {
	var in profilePatch
	if err := decode(c, &in, false); err != nil {
		return err
	}
	u, err := s.cfg.Accounts.UpdateProfile(c.UserContext(), claimsOf(c).UserID, account.ProfileInput{
		DisplayName: in.DisplayName, Language: in.Language, IP: c.IP()})
	if err != nil {
		return err
	}
	return c.JSON(meOf(u))
}

type accountDeletion struct {
	Password string `json:"password"`
}

func (s *Server) deleteMe(c *fiber.Ctx) error {
	var in accountDeletion
	if err := decode(c, &in, false); err != nil {
		return err
	}
	if err := s.cfg.Accounts.DeleteSelf(c.UserContext(), claimsOf(c).UserID, in.Password, c.IP()); err != nil {
		return err
	}
	c.ClearCookie(refreshCookie)
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) deleteUser(c *fiber.Ctx) error {
	if err := s.cfg.Accounts.Delete(c.UserContext(), c.Params("id"), claimsOf(c).UserID, c.IP()); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
