package gateway

import (
	"github.com/gofiber/fiber/v2"
)

// SharedWallet is the JSON form of a wallet groups and projects charge to.
type SharedWallet struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Name string `json:"name"`
}

type sharedWalletRequest struct {
	Name string `json:"name"`
}

func (s *Server) createSharedWallet(c *fiber.Ctx) error {
	var req sharedWalletRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	w, err := s.cfg.Accounting.CreateSharedWallet(c.UserContext(), actorOf(c), req.Name)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(SharedWallet{ID: w.ID, Kind: w.Kind, Name: w.Name})
}
