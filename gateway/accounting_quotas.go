package gateway

import (
	"encoding/json"
	"math/big"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/divinewhispers/dw/accounting"
)

// Quota is the JSON form of a quota with the usage of its current period. Hours are exact
// decimals; a limit of 0 is no limit on that metric, and its percent is null.
type Quota struct {
	ID                  string       `json:"id"`
	WalletID            string       `json:"wallet_id"`
	Period              string       `json:"period"`
	NodeHours           json.Number  `json:"node_hours"`
	GPUCoreHours        json.Number  `json:"gpu_core_hours"`
	PeriodStart         time.Time    `json:"period_start"`
	PeriodEnd           *time.Time   `json:"period_end"`          // null for the total period
	UsedNodeHours       json.Number  `json:"used_node_hours"`     // UsedNodeSeconds rounded once to 3 decimals
	UsedGPUCoreHours    json.Number  `json:"used_gpu_core_hours"` // UsedGPUSeconds rounded once to 3 decimals
	UsedNodeSeconds     int64        `json:"used_node_seconds"`   // exact
	UsedGPUSeconds      int64        `json:"used_gpu_seconds"`    // exact
	NodeHoursPercent    *json.Number `json:"node_hours_percent"`
	GPUCoreHoursPercent *json.Number `json:"gpu_core_hours_percent"`
	CreatedAt           time.Time    `json:"created_at"`
	UpdatedAt           time.Time    `json:"updated_at"`
}

func quotaJSON(q accounting.QuotaStatus) Quota {
	return Quota{ID: q.ID, WalletID: q.WalletID, Period: q.Period, NodeHours: milliJSON(q.NodeMilliHours),
		GPUCoreHours: milliJSON(q.GPUMilliHours), PeriodStart: q.PeriodStart.UTC(), PeriodEnd: q.PeriodEnd,
		UsedNodeHours: milliJSON(accounting.MilliHours(q.UsedNodeSeconds)), UsedGPUCoreHours: milliJSON(accounting.MilliHours(q.UsedGPUSeconds)),
		UsedNodeSeconds: q.UsedNodeSeconds, UsedGPUSeconds: q.UsedGPUSeconds,
		NodeHoursPercent: percent(q.UsedNodeSeconds, q.NodeMilliHours), GPUCoreHoursPercent: percent(q.UsedGPUSeconds, q.GPUMilliHours),
		CreatedAt: q.CreatedAt, UpdatedAt: q.UpdatedAt}
}

// percent is used (exact seconds) of limit (milli-hours) in percent, computed exactly and
// truncated to 3 decimals (so 79.9996 % is not shown as 80), or nil without a limit:
// used / 3600 / (limit / 1000) × 100, in thousandths of a percent used × 10^8 / (limit × 3600).
func percent(usedSeconds, limitMilliHours int64) *json.Number {
	if limitMilliHours <= 0 {
		return nil
	}
	p := new(big.Int).Mul(big.NewInt(usedSeconds), big.NewInt(100_000_000))
	p.Quo(p, new(big.Int).Mul(big.NewInt(limitMilliHours), big.NewInt(3600)))
	if !p.IsInt64() {
		return nil
	}
	n := milliJSON(p.Int64())
	return &n
}

type quotaRequest struct {
	Wallet       string          `json:"wallet"` // a wallet id or a shared wallet's name
	Period       string          `json:"period"`
	NodeHours    json.RawMessage `json:"node_hours"` // a decimal number or string
	GPUCoreHours json.RawMessage `json:"gpu_core_hours"`
}

// QuotaEvent is the JSON form of a quota threshold crossed in one period.
type QuotaEvent struct {
	QuotaID     string    `json:"quota_id"`
	WalletID    string    `json:"wallet_id"`
	Period      string    `json:"period"`
	PeriodStart time.Time `json:"period_start"`
	Metric      string    `json:"metric"` // node_hours or gpu_core_hours
	Threshold   int       `json:"threshold"`
	Used        float64   `json:"used"`         // hours, rounded once to 3 decimals
	Quota       float64   `json:"quota"`        // hours
	UsedSeconds *int64    `json:"used_seconds"` // exact; null for a crossing recorded before usage was kept in seconds
	CreatedAt   time.Time `json:"created_at"`
}

func (s *Server) listQuotas(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	wallet, err := uuidQuery(c, "wallet_id")
	if err != nil {
		return err
	}
	return s.quotas(c, wallet)
}

func (s *Server) quotas(c *fiber.Ctx, walletID string) error {
	page, err := listPage(c, accounting.PageQuotas)
	if err != nil {
		return err
	}
	qs, next, err := s.cfg.Accounting.Quotas(c.UserContext(), walletID, page)
	if err != nil {
		return queryErr(err)
	}
	items := make([]Quota, len(qs))
	for i, q := range qs {
		items[i] = quotaJSON(q)
	}
	return c.JSON(listJSON(items, next))
}

// walletQuotas is a wallet's quotas, for whoever may read the wallet.
func (s *Server) walletQuotas(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	id, err := walletParam(c)
	if err != nil {
		return err
	}
	if err := s.mayRead(c, id); err != nil {
		return err
	}
	return s.quotas(c, id)
}

func (s *Server) putQuota(c *fiber.Ctx) error {
	var req quotaRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	q, err := s.cfg.Accounting.SetQuota(c.UserContext(), actorOf(c), accounting.QuotaInput{Wallet: req.Wallet, Period: req.Period,
		NodeHours: decimalText(req.NodeHours), GPUCoreHours: decimalText(req.GPUCoreHours)})
	if err != nil {
		return err
	}
	return c.JSON(quotaJSON(q))
}

func (s *Server) deleteQuota(c *fiber.Ctx) error {
	id, err := idParam(c, "quota")
	if err != nil {
		return err
	}
	if err := s.cfg.Accounting.RemoveQuota(c.UserContext(), actorOf(c), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) listQuotaEvents(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	wallet, err := uuidQuery(c, "wallet_id")
	if err != nil {
		return err
	}
	page, err := listPage(c, accounting.PageQuotaEvents)
	if err != nil {
		return err
	}
	evs, next, err := s.cfg.Accounting.QuotaEvents(c.UserContext(), wallet, page)
	if err != nil {
		return queryErr(err)
	}
	items := make([]QuotaEvent, len(evs))
	for i, e := range evs {
		items[i] = QuotaEvent{QuotaID: e.QuotaID, WalletID: e.WalletID, Period: e.Period, PeriodStart: e.PeriodStart, Metric: e.Metric,
			Threshold: e.Threshold, Used: e.Used, Quota: e.Quota, UsedSeconds: e.UsedSeconds, CreatedAt: e.CreatedAt}
	}
	return c.JSON(listJSON(items, next))
}
