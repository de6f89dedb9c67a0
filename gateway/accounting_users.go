package gateway

import (
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
)

// ClusterUser is the JSON form of a login seen in a cluster's logs, maybe linked to a user.
type ClusterUser struct {
	Cluster   string    `json:"cluster"`
	Login     string    `json:"login"`
	UserID    string    `json:"user_id,omitempty"`
	Email     string    `json:"email,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
}

func clusterUserJSON(u accounting.ClusterUser) ClusterUser {
	return ClusterUser{Cluster: u.Cluster, Login: u.Login, UserID: u.UserID, Email: u.Email, FirstSeen: u.FirstSeen}
}

func clusterUsersJSON(us []accounting.ClusterUser) []ClusterUser {
	out := make([]ClusterUser, len(us))
	for i, u := range us {
		out[i] = clusterUserJSON(u)
	}
	return out
}

func (s *Server) listClusterUsers(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	page, err := listPage(c, accounting.PageClusterUsers)
	if err != nil {
		return err
	}
	users, next, err := s.cfg.Accounting.ClusterUsers(c.UserContext(), c.Query("cluster"), c.Query("q"), page)
	if err != nil {
		return queryErr(err)
	}
	return c.JSON(listJSON(clusterUsersJSON(users), next))
}

type clusterUserLink struct {
	UserID *string `json:"user_id"` // "" unlinks
}

func (s *Server) linkClusterUser(c *fiber.Ctx) error {
	var req clusterUserLink
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if req.UserID == nil {
		return dw.Errorf(dw.KindInvalid, `user_id is required: a user id, or "" to unlink`)
	}
	userID := *req.UserID
	if userID != "" {
		id, err := uuid.Parse(userID)
		if err != nil {
			return dw.Errorf(dw.KindInvalid, `user_id must be a user id (a UUID), or "" to unlink`)
		}
		userID = id.String()
	}
	cluster, err1 := url.PathUnescape(c.Params("cluster"))
	login, err2 := url.PathUnescape(c.Params("login"))
	if err1 != nil || err2 != nil {
		return dw.Errorf(dw.KindNotFound, "cluster user not found")
	}
	cu, err := s.cfg.Accounting.LinkClusterUser(c.UserContext(), actorOf(c), cluster, login, userID)
	if err != nil {
		return err
	}
	return c.JSON(clusterUserJSON(cu))
}
