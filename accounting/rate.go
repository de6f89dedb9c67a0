package accounting

import (
	"strings"
	"time"
)

// RateInput is a new charge rate. Prices are decimal texts of points per node-hour and per GPU
// core-hour with at most three decimals (nil: not given; at least one is); EffectiveFrom is
// an RFC 3339 time or a date (UTC), "" for now.
type RateInput struct {
	Cluster        string
	Partition      string // "" = any partition
	NodeHourPoints *string
	GPUHourPoints  *string
	EffectiveFrom  string
}

// rate is the input as a Rate; effective from now unless it says otherwise.
func (in RateInput) rate(ps *Problems, now time.Time) Rate {
	r := Rate{Cluster: strings.TrimSpace(in.Cluster), Partition: strings.TrimSpace(in.Partition), EffectiveFrom: now}
	if in.NodeHourPoints != nil {
		r.NodeHourMillipoints = milliField(ps, "node_hour_points", *in.NodeHourPoints)
	}
	if in.GPUHourPoints != nil {
		r.GPUHourMillipoints = milliField(ps, "gpu_hour_points", *in.GPUHourPoints)
	}
	if in.NodeHourPoints == nil && in.GPUHourPoints == nil {
		ps.Add("node_hour_points", "give {node_hour_points} and/or {gpu_hour_points} (points per node-hour, per GPU core-hour)")
	}
	if in.EffectiveFrom != "" {
		t, ok := ParseTime(in.EffectiveFrom)
		if !ok {
			ps.Add("effective_from", "{effective_from} must be an RFC 3339 time (2026-01-31T12:00:00Z) or a date (2026-01-31, UTC)")
		}
		r.EffectiveFrom = t
	}
	tooLong(ps, maxText, "cluster", r.Cluster, "partition", r.Partition)
	return r
}

// Validate reports every problem of the rate, keyed by field. Errors: invalid.
func (in RateInput) Validate() error {
	var ps Problems
	in.rate(&ps, time.Time{})
	return ps.Err()
}

// milliField reads a decimal field as thousandths (ParseMilli), recording its problem.
func milliField(ps *Problems, field, text string) int64 {
	v, err := ParseMilli(text, "")
	if err != nil {
		ps.Add(field, "{"+field+"} %q must be a non-negative number with at most 3 decimals, e.g. 1.5", strings.TrimSpace(text))
	}
	return v
}
