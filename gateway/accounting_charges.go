package gateway

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/divinewhispers/dw/accounting"
)

// Charge is the JSON form of an aggregated usage charge.
type Charge struct {
	ID       int64  `json:"id"`
	WalletID string `json:"wallet_id"`
	Points   int64  `json:"points"`
	Records  int    `json:"records"`
	// NodeSeconds and GPUSeconds are the exact usage the charge covers; null for a charge made
	// before usage was kept in seconds, whose hours are the milli-hours it kept.
	NodeSeconds   *int64     `json:"node_seconds"`
	GPUSeconds    *int64     `json:"gpu_seconds"`
	NodeHours     float64    `json:"node_hours"`     // rounded once to 3 decimals
	GPUCoreHours  float64    `json:"gpu_core_hours"` // rounded once to 3 decimals
	Origin        string     `json:"origin"`
	Status        string     `json:"status"`
	ChargedPoints int64      `json:"charged_points"`
	TransactionID string     `json:"transaction_id,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	SettledAt     *time.Time `json:"settled_at,omitempty"`
}

func chargeJSON(ch accounting.Charge) Charge {
	return Charge{ID: ch.ID, WalletID: ch.WalletID, Points: ch.Points, Records: ch.Records, NodeSeconds: ch.NodeSeconds,
		GPUSeconds: ch.GPUSeconds, NodeHours: ch.NodeHours, GPUCoreHours: ch.GPUCoreHours, Origin: ch.Origin, Status: ch.Status,
		ChargedPoints: ch.ChargedPoints, TransactionID: ch.TransactionID, CreatedAt: ch.CreatedAt, SettledAt: ch.SettledAt}
}

func (s *Server) listCharges(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	var f accounting.ChargeFilter
	var err error
	if f.WalletID, err = uuidQuery(c, "wallet_id"); err != nil {
		return err
	}
	if f.Status, err = oneOf(c, "status", accounting.ChargeStatuses...); err != nil {
		return err
	}
	page, err := listPage(c, accounting.PageCharges)
	if err != nil {
		return err
	}
	f.Limit, f.Cursor = page.Limit, page.Cursor
	charges, next, err := s.cfg.Accounting.Charges(c.UserContext(), f)
	if err != nil {
		return queryErr(err)
	}
	items := make([]Charge, len(charges))
	for i, ch := range charges {
		items[i] = chargeJSON(ch)
	}
	return c.JSON(listJSON(items, next))
}
