package gateway

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/persistence"
)

// UserPage is one page of users.
type UserPage struct {
	Items    []persistence.User `json:"items"`
	Total    int                `json:"total"`
	Page     int                `json:"page"`
	PageSize int                `json:"page_size"`
}

func (s *Server) listUsers(c *fiber.Ctx) error {
	size, err := pageSize(c)
	if err != nil {
		return err
	}
	page := 1
	if p := c.Query("page"); p != "" {
		page, err = strconv.Atoi(p)
		if err != nil || page < 1 || page > 1_000_000 {
			return dw.Coded(dw.KindInvalid, "invalid_query", "page must be a positive integer")
		}
	}
	role, err := oneOf(c, "role", account.Roles...)
	if err != nil {
		return err
	}
	status, err := oneOf(c, "status", "active", "suspended", "deleted")
	if err != nil {
		return err
	}
	sort, err := oneOf(c, "sort", "created_at", "-created_at", "email", "-email")
	if err != nil {
		return err
	}
	q := c.Query("q")
	if len(q) > 254 {
		return dw.Coded(dw.KindInvalid, "invalid_query", "q must be at most 254 bytes")
	}
	users, total, err := s.cfg.Store.ListUsers(c.UserContext(), persistence.UserFilter{
		Search: q, Role: role, Status: status, Sort: sort, Limit: size, Offset: (page - 1) * size})
	if err != nil {
		return err
	}
	if users == nil {
		users = []persistence.User{}
	}
	return c.JSON(UserPage{Items: users, Total: total, Page: page, PageSize: size})
}

type userPatch struct {
	Role   *string `json:"role"`
	Status *string `json:"status"`
}

func (s *Server) patchUser(c *fiber.Ctx) error {
	var in userPatch
	if err := decode(c, &in, false); err != nil {
		return err
	}
	u, err := s.cfg.Accounts.Update(c.UserContext(), c.Params("id"), account.UpdateInput{
		Role: in.Role, Status: in.Status, ActorID: claimsOf(c).UserID, IP: c.IP()})
	if err != nil {
		return err
	}
	return c.JSON(u)
}

// AuditPage is one page of the audit log.
type AuditPage struct {
	Items      []persistence.AuditEntry `json:"items"`
	NextCursor string                   `json:"next_cursor,omitempty"`
}

func (s *Server) listAudit(c *fiber.Ctx) error {
	f := persistence.AuditFilter{ActorID: c.Query("actor_id"), Action: c.Query("action"), TargetID: c.Query("target_id")}
	var err error
	if f.Limit, err = pageSize(c); err != nil {
		return err
	}
	if f.From, err = timeParam(c, "from"); err != nil {
		return err
	}
	if f.To, err = timeParam(c, "to"); err != nil {
		return err
	}
	if f.After, err = persistence.DecodeCursor(c.Query("cursor")); err != nil {
		return err
	}
	items, next, err := s.cfg.Store.ListAudit(c.UserContext(), f)
	if err != nil {
		return err
	}
	if items == nil {
		items = []persistence.AuditEntry{}
	}
	return c.JSON(AuditPage{Items: items, NextCursor: next})
}
