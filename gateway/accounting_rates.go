package gateway

import (
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/divinewhispers/dw/accounting"
)

// Rate is the JSON form of a charge rate: prices in points and in thousandths of a point.
type Rate struct {
	ID                  string      `json:"id"`
	Cluster             string      `json:"cluster"`
	Partition           string      `json:"partition"`
	NodeHourMillipoints int64       `json:"node_hour_millipoints"`
	GPUHourMillipoints  int64       `json:"gpu_hour_millipoints"`
	EffectiveFrom       time.Time   `json:"effective_from"`
	CreatedAt           time.Time   `json:"created_at"`
	NodeHourPoints      json.Number `json:"node_hour_points"`
	GPUHourPoints       json.Number `json:"gpu_hour_points"`
}

func rateJSON(r accounting.Rate) Rate {
	return Rate{ID: r.ID, Cluster: r.Cluster, Partition: r.Partition, NodeHourMillipoints: r.NodeHourMillipoints,
		GPUHourMillipoints: r.GPUHourMillipoints, EffectiveFrom: r.EffectiveFrom, CreatedAt: r.CreatedAt,
		NodeHourPoints: milliJSON(r.NodeHourMillipoints), GPUHourPoints: milliJSON(r.GPUHourMillipoints)}
}

type rateRequest struct {
	Cluster        string          `json:"cluster"`
	Partition      string          `json:"partition"`
	NodeHourPoints json.RawMessage `json:"node_hour_points"` // a decimal number or string
	GPUHourPoints  json.RawMessage `json:"gpu_hour_points"`
	EffectiveFrom  string          `json:"effective_from"`
}

func (s *Server) listRates(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	page, err := listPage(c, accounting.PageRates)
	if err != nil {
		return err
	}
	rates, next, err := s.cfg.Accounting.Rates(c.UserContext(), page)
	if err != nil {
		return queryErr(err)
	}
	items := make([]Rate, len(rates))
	for i, r := range rates {
		items[i] = rateJSON(r)
	}
	return c.JSON(listJSON(items, next))
}

func (s *Server) createRate(c *fiber.Ctx) error {
	var req rateRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	out, err := s.cfg.Accounting.AddRate(c.UserContext(), actorOf(c), accounting.RateInput{Cluster: req.Cluster, Partition: req.Partition,
		NodeHourPoints: decimalText(req.NodeHourPoints), GPUHourPoints: decimalText(req.GPUHourPoints), EffectiveFrom: req.EffectiveFrom})
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(rateJSON(out))
}

func (s *Server) deleteRate(c *fiber.Ctx) error {
	id, err := idParam(c, "rate")
	if err != nil {
		return err
	}
	if err := s.cfg.Accounting.RemoveRate(c.UserContext(), actorOf(c), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
