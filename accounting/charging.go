package accounting

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Mapping is a group-mapping rule: usage of jobs that match it is charged to WalletID. It
// matches on any of User, Account and Group (at least one is set) and, when Cluster is set, on
// that cluster only. A rule with no wallet is an exclusion: matching usage is tracked, never
// charged.
type Mapping struct {
	ID        string    `json:"id"`
	Cluster   string    `json:"cluster"`
	User      string    `json:"user"`
	Account   string    `json:"account"`
	Group     string    `json:"group"`
	WalletID  string    `json:"wallet_id"` // "" = exclusion
	Note      string    `json:"note"`
	CreatedAt time.Time `json:"created_at"`
}

// Specificity orders rules: a user counts 8, an account 4, a group 2, a cluster 1, so the rule
// naming the user always beats one naming only the account or group, and "group physics, user
// alice" (an exception) beats "group physics".
func (m Mapping) Specificity() int {
	s := 0
	if m.User != "" {
		s += 8
	}
	if m.Account != "" {
		s += 4
	}
	if m.Group != "" {
		s += 2
	}
	if m.Cluster != "" {
		s++
	}
	return s
}

// Matches reports whether the rule covers a job of this cluster, user, account and group.
func (m Mapping) Matches(cluster, user, account, group string) bool {
	return (m.Cluster == "" || m.Cluster == cluster) && (m.User == "" || m.User == user) &&
		(m.Account == "" || m.Account == account) && (m.Group == "" || m.Group == group)
}

// Resolver picks the rule for a job among many quickly: rules are indexed by the user,
// account or group they name, so a job is compared with the few rules that could match.
type Resolver struct {
	byUser, byAccount, byGroup map[string][]*Mapping
}

// NewResolver indexes rules. Among rules of equal specificity the older wins (then the
// smaller id), so the answer never depends on the order rules are given in.
func NewResolver(rules []Mapping) *Resolver {
	r := &Resolver{byUser: map[string][]*Mapping{}, byAccount: map[string][]*Mapping{}, byGroup: map[string][]*Mapping{}}
	for i := range rules {
		m := &rules[i]
		switch {
		case m.User != "":
			r.byUser[m.User] = append(r.byUser[m.User], m)
		case m.Account != "":
			r.byAccount[m.Account] = append(r.byAccount[m.Account], m)
		case m.Group != "":
			r.byGroup[m.Group] = append(r.byGroup[m.Group], m)
		}
	}
	return r
}

// Resolve returns the most specific rule matching the job, or false: the job is unassigned.
func (r *Resolver) Resolve(cluster, user, account, group string) (Mapping, bool) {
	var best *Mapping
	consider := func(list []*Mapping) {
		for _, m := range list {
			if !m.Matches(cluster, user, account, group) {
				continue
			}
			if best == nil || better(m, best) {
				best = m
			}
		}
	}
	consider(r.byUser[user])
	consider(r.byAccount[account])
	consider(r.byGroup[group])
	if best == nil {
		return Mapping{}, false
	}
	return *best, true
}

func better(a, b *Mapping) bool {
	if sa, sb := a.Specificity(), b.Specificity(); sa != sb {
		return sa > sb
	}
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.Before(b.CreatedAt)
	}
	return a.ID < b.ID
}

// Rate is a price: thousandths of a point per CPU node-hour and per GPU core-hour, for a
// cluster and partition ("" = any), from EffectiveFrom on.
type Rate struct {
	ID                  string    `json:"id"`
	Cluster             string    `json:"cluster"`
	Partition           string    `json:"partition"`
	NodeHourMillipoints int64     `json:"node_hour_millipoints"`
	GPUHourMillipoints  int64     `json:"gpu_hour_millipoints"`
	EffectiveFrom       time.Time `json:"effective_from"`
	CreatedAt           time.Time `json:"created_at"`
}

// Rates prices jobs. For a job of a cluster and partition that ended at t, the rate is the one
// in effect at t (latest EffectiveFrom ≤ t) of the most specific kind that has one: cluster and
// partition, then partition, then cluster, then any. No rate = 0: tracked, not charged.
type Rates struct {
	byScope map[[2]string][]Rate // sorted by EffectiveFrom
}

// NewRates indexes rates.
func NewRates(list []Rate) *Rates {
	rs := &Rates{byScope: map[[2]string][]Rate{}}
	for _, r := range list {
		k := [2]string{r.Cluster, r.Partition}
		rs.byScope[k] = append(rs.byScope[k], r)
	}
	for _, l := range rs.byScope {
		sort.Slice(l, func(i, j int) bool { return l[i].EffectiveFrom.Before(l[j].EffectiveFrom) })
	}
	return rs
}

// For returns the rate of a job, or false when none applies.
func (rs *Rates) For(cluster, partition string, at time.Time) (Rate, bool) {
	for _, k := range [][2]string{{cluster, partition}, {"", partition}, {cluster, ""}, {"", ""}} {
		l := rs.byScope[k]
		i := sort.Search(len(l), func(i int) bool { return l[i].EffectiveFrom.After(at) })
		if i > 0 {
			return l[i-1], true
		}
	}
	return Rate{}, false
}

// PriceUnitsPerPoint is how many price units make a point. A price unit is a millipoint-second
// per hour, 1/3,600,000 of a point: a job's price in these units is exact in integers, its
// node-seconds (or GPU-seconds) × the rate in millipoints per hour.
const PriceUnitsPerPoint = 3_600_000

// Price returns what a job costs in price units (see PriceUnitsPerPoint): node-seconds ×
// millipoints per node-hour for a CPU job, GPU-seconds × millipoints per GPU core-hour for a
// GPU job. Exact: nothing is rounded until a charge sums its jobs (Points).
func (rs *Rates) Price(r *Record) int64 {
	at := r.End
	if at.IsZero() {
		at = r.Start
	}
	rate, ok := rs.For(r.Cluster, r.Partition, at)
	if !ok {
		return 0
	}
	return satAdd(satMul(r.NodeSeconds(), rate.NodeHourMillipoints), satMul(r.GPUSeconds(), rate.GPUHourMillipoints))
}

// Points rounds a sum of prices (price units) to whole points, once per charge, half up: a
// remainder of exactly half a point (1,800,000 units) or more rounds up. Integers only.
func Points(units int64) int64 {
	return units/PriceUnitsPerPoint + (units%PriceUnitsPerPoint+PriceUnitsPerPoint/2)/PriceUnitsPerPoint
}

func satMul(a, b int64) int64 {
	p := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	if !p.IsInt64() {
		return math.MaxInt64
	}
	return p.Int64()
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// ParseMilli reads a non-negative decimal with at most three decimals ("1.5", "100",
// "0.125") as thousandths: hours as milli-hours, points as millipoints. what names the value
// in the error.
func ParseMilli(s, what string) (int64, error) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if s == "" || whole == "" && frac == "" || len(frac) > 3 || strings.HasPrefix(whole, "-") || strings.HasPrefix(whole, "+") {
		return 0, fmt.Errorf("%s %q must be a non-negative number with at most 3 decimals, e.g. 1.5", what, s)
	}
	w := int64(0)
	if whole != "" {
		v, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || v > math.MaxInt64/1000-1 {
			return 0, fmt.Errorf("%s %q must be a non-negative number with at most 3 decimals, e.g. 1.5", what, s)
		}
		w = v
	}
	f := int64(0)
	if frac != "" {
		v, err := strconv.ParseInt(frac+strings.Repeat("0", 3-len(frac)), 10, 64)
		if err != nil || strings.HasPrefix(frac, "-") || strings.HasPrefix(frac, "+") {
			return 0, fmt.Errorf("%s %q must be a non-negative number with at most 3 decimals, e.g. 1.5", what, s)
		}
		f = v
	}
	return w*1000 + f, nil
}

// FormatMilli writes thousandths as a decimal without trailing zeros: 1500 → "1.5".
func FormatMilli(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	s := fmt.Sprintf("%s%d.%03d", sign, v/1000, v%1000)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// ParseTime reads a report or rate date as the API and the CLI take it: YYYY-MM-DD (the start
// of that UTC day) or an RFC 3339 time, in UTC.
func ParseTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.DateOnly, time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// Day is the start of t's UTC day: reports count in whole UTC days.
func Day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// DefaultRange is the range of a report that names none: from 1970-01-01 to tomorrow (the end
// is exclusive), so today is in it.
func DefaultRange(now time.Time) (from, to time.Time) {
	return time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), Day(now).AddDate(0, 0, 1)
}

// Quota periods.
const (
	PeriodMonth   = "month"
	PeriodQuarter = "quarter"
	PeriodYear    = "year"
	PeriodTotal   = "total"
)

// Periods lists the quota periods, for messages.
const Periods = "month, quarter, year or total"

// ValidPeriod reports whether p is a quota period.
func ValidPeriod(p string) bool {
	switch p {
	case PeriodMonth, PeriodQuarter, PeriodYear, PeriodTotal:
		return true
	}
	return false
}

// PeriodBounds returns the UTC period [start, end) of kind p that holds t. The total period
// starts at the zero date and never ends (end is the zero time).
func PeriodBounds(p string, t time.Time) (start, end time.Time) {
	t = t.UTC()
	y, m, _ := t.Date()
	switch p {
	case PeriodMonth:
		start = time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	case PeriodQuarter:
		start = time.Date(y, m-(m-1)%3, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 3, 0)
	case PeriodYear:
		start = time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(1, 0, 0)
	}
	return time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}
}

// Thresholds are the shares of a quota (in percent) whose crossing is recorded.
var Thresholds = []int{80, 100}

// Reached returns the thresholds that usedSeconds (node- or GPU-seconds, exact) has reached of
// a limit in milli-hours (a quota is given in hours with at most three decimals, which
// milli-hours hold exactly), in increasing order. The comparison is exact, in integers:
// usedSeconds / 3600 ≥ limit / 1000 × t / 100, that is usedSeconds × 100,000 ≥ limit × 3600 × t.
func Reached(usedSeconds, limitMilliHours int64) []int {
	var out []int
	if limitMilliHours <= 0 {
		return nil
	}
	used := new(big.Int).Mul(big.NewInt(usedSeconds), big.NewInt(100_000))
	for _, t := range Thresholds {
		if used.Cmp(new(big.Int).Mul(big.NewInt(limitMilliHours), big.NewInt(3600*int64(t)))) >= 0 {
			out = append(out, t)
		}
	}
	return out
}
