package accounting

import "strings"

// UsageDimensions are the dimensions usage is grouped and filtered by, in the order messages
// list them.
var UsageDimensions = []string{"wallet", "user", "group", "account", "partition", "cluster"}

// UsageBuckets are the time buckets of a usage report ("" = one row per key over the range).
var UsageBuckets = []string{"day", "week", "month"}

// ChargeStatuses are the statuses charges are listed by.
var ChargeStatuses = []string{ChargePending, ChargeCharged, ChargeUnpaid}

// The wallet filter of a usage report names a wallet (an id or a shared wallet's name) or one of these.
const (
	WalletUnassigned = "unassigned" // usage no mapping covers
	WalletExcluded   = "excluded"   // usage an exclusion rule covers
)

// validate reports the problems of a usage query, keyed by its fields.
func (q UsageQuery) validate() error {
	var ps Problems
	switch {
	case q.GroupBy == "":
		ps.Add("group_by", "{group_by} is required: one of %s", strings.Join(UsageDimensions, ", "))
	case !oneOf(q.GroupBy, UsageDimensions):
		ps.Add("group_by", "{group_by} must be one of %s", strings.Join(UsageDimensions, ", "))
	}
	if q.Bucket != "" && !oneOf(q.Bucket, UsageBuckets) {
		ps.Add("bucket", "{bucket} must be one of %s", strings.Join(UsageBuckets, ", "))
	}
	for dim, v := range q.Filters {
		if !oneOf(dim, UsageDimensions) {
			ps.Add(dim, "cannot filter on %q: filters are %s", dim, strings.Join(UsageDimensions, ", "))
		} else if len(v) > maxText {
			ps.Add(dim, "{"+dim+"} must be at most %d bytes", maxText)
		}
	}
	if !q.From.Before(q.To) {
		ps.Add("from", "{from} (%s) must be a day before {to} (%s): {to} is exclusive", q.From.Format("2006-01-02"), q.To.Format("2006-01-02"))
	}
	return ps.Err()
}

func oneOf(v string, allowed []string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}
