package gateway

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/divinewhispers/dw/accounting"
)

// Mapping is the JSON form of a group-mapping rule.
type Mapping struct {
	ID        string    `json:"id"`
	Cluster   string    `json:"cluster"`
	User      string    `json:"user"`
	Account   string    `json:"account"`
	Group     string    `json:"group"`
	WalletID  string    `json:"wallet_id"` // "" = exclusion
	Note      string    `json:"note"`
	CreatedAt time.Time `json:"created_at"`
	Exclude   bool      `json:"exclude"` // no wallet: matching usage is tracked, never charged
}

func mappingJSON(m accounting.Mapping) Mapping {
	return Mapping{ID: m.ID, Cluster: m.Cluster, User: m.User, Account: m.Account, Group: m.Group, WalletID: m.WalletID,
		Note: m.Note, CreatedAt: m.CreatedAt, Exclude: m.WalletID == ""}
}

// Reassigned is the JSON form of what a new mapping did to the usage unassigned until then.
type Reassigned struct {
	Records int64 `json:"records"` // unassigned jobs the rule now covers
	Charges int   `json:"charges"` // charges created for them (one per wallet)
	Points  int64 `json:"points"`  // their sum
}

type mappingRequest struct {
	Cluster string `json:"cluster"`
	User    string `json:"user"`
	Account string `json:"account"`
	Group   string `json:"group"`
	Wallet  string `json:"wallet"`  // a wallet id or a shared wallet's name
	Exclude bool   `json:"exclude"` // with no wallet: an exclusion rule
	Note    string `json:"note"`
}

func (s *Server) listMappings(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	page, err := listPage(c, accounting.PageMappings)
	if err != nil {
		return err
	}
	maps, next, err := s.cfg.Accounting.Mappings(c.UserContext(), page)
	if err != nil {
		return queryErr(err)
	}
	items := make([]Mapping, len(maps))
	for i, m := range maps {
		items[i] = mappingJSON(m)
	}
	return c.JSON(listJSON(items, next))
}

func (s *Server) createMapping(c *fiber.Ctx) error {
	var req mappingRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	m, re, err := s.cfg.Accounting.AddMapping(c.UserContext(), actorOf(c), accounting.MappingInput{Cluster: req.Cluster, User: req.User,
		Account: req.Account, Group: req.Group, Wallet: req.Wallet, Exclude: req.Exclude, Note: req.Note})
	if err != nil {
		return err
	}
	// Quota thresholds the mapping crossed are published by every node's quota-event loop.
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"mapping": mappingJSON(m),
		"reassigned": Reassigned{Records: re.Records, Charges: re.Charges, Points: re.Points}})
}

func (s *Server) deleteMapping(c *fiber.Ctx) error {
	id, err := idParam(c, "mapping")
	if err != nil {
		return err
	}
	if err := s.cfg.Accounting.RemoveMapping(c.UserContext(), actorOf(c), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
