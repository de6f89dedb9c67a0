package accounting

import "strings"

// QuotaInput is a wallet's quota for a period, which replaces the wallet's quota of that
// period. Wallet is a wallet id or a shared wallet's name; the limits are decimal hours with
// at most three decimals ("" or nil: 0, no limit), at least one above 0.
type QuotaInput struct {
	Wallet       string
	Period       string // month, quarter, year or total
	NodeHours    *string
	GPUCoreHours *string
}

func (in QuotaInput) quota(ps *Problems) Quota {
	q := Quota{Period: in.Period}
	if strings.TrimSpace(in.Wallet) == "" {
		ps.Add("wallet", "{wallet} is required (a wallet id or a shared wallet's name)")
	}
	if !ValidPeriod(in.Period) {
		ps.Add("period", "{period} %q must be "+Periods, in.Period)
	}
	if in.NodeHours != nil {
		q.NodeMilliHours = milliField(ps, "node_hours", *in.NodeHours)
	}
	if in.GPUCoreHours != nil {
		q.GPUMilliHours = milliField(ps, "gpu_core_hours", *in.GPUCoreHours)
	}
	if ps.Empty() && q.NodeMilliHours <= 0 && q.GPUMilliHours <= 0 {
		ps.Add("node_hours", "a quota needs {node_hours} or {gpu_core_hours} above 0")
	}
	tooLong(ps, maxText, "wallet", strings.TrimSpace(in.Wallet))
	return q
}

// Validate reports every problem of the quota, keyed by field. Errors: invalid.
func (in QuotaInput) Validate() error {
	var ps Problems
	in.quota(&ps)
	return ps.Err()
}
