package accounting

import (
	"testing"
	"time"
)

func TestResolvePrecedence(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rules := []Mapping{
		{ID: "g", Group: "physics", WalletID: "P", CreatedAt: t0},
		{ID: "a", Account: "proj1", WalletID: "A", CreatedAt: t0},
		{ID: "u", User: "carol", WalletID: "C", CreatedAt: t0},
		{ID: "exc", Group: "physics", User: "alice", WalletID: "ALICE", CreatedAt: t0},
		{ID: "excl", Group: "physics", User: "guest", CreatedAt: t0}, // exclusion
		{ID: "gc", Group: "physics", Cluster: "beta", WalletID: "PB", CreatedAt: t0},
		{ID: "g2-old", Group: "chem", WalletID: "OLD", CreatedAt: t0},
		{ID: "g2-new", Group: "chem", Cluster: "", Account: "", WalletID: "NEW", CreatedAt: t0.Add(time.Hour)},
	}
	r := NewResolver(rules)
	cases := []struct {
		cluster, user, account, group string
		want                          string // rule id, "" = unassigned
	}{
		{"alpha", "bob", "", "physics", "g"},
		{"beta", "bob", "", "physics", "gc"},          // the cluster breaks the tie
		{"alpha", "bob", "proj1", "physics", "a"},     // account beats group
		{"alpha", "carol", "proj1", "physics", "u"},   // user beats account
		{"alpha", "alice", "", "physics", "exc"},      // exception beats the group rule
		{"alpha", "alice", "proj1", "physics", "exc"}, // user+group (10) beats account (4)
		{"alpha", "alice", "", "chem", "g2-old"},      // the exception is only for physics
		{"alpha", "guest", "", "physics", "excl"},     // excluded: tracked, not charged
		{"alpha", "dave", "other", "nobody", ""},      // unassigned
		{"alpha", "", "", "", ""},                     // nothing to match
		{"alpha", "bob", "proj1x", "physicsx", ""},    // no partial matches
		{"alpha", "x", "", "chem", "g2-old"},          // equal rules: the older wins
	}
	for _, c := range cases {
		m, ok := r.Resolve(c.cluster, c.user, c.account, c.group)
		got := ""
		if ok {
			got = m.ID
		}
		if got != c.want {
			t.Errorf("Resolve(%q, %q, %q, %q) = %q, want %q", c.cluster, c.user, c.account, c.group, got, c.want)
		}
	}
}

func TestRatesEffectiveDates(t *testing.T) {
	d := func(m time.Month, day int) time.Time { return time.Date(2026, m, day, 0, 0, 0, 0, time.UTC) }
	rs := NewRates([]Rate{
		{ID: "any-jan", NodeHourMillipoints: 1000, EffectiveFrom: d(1, 1)},
		{ID: "any-mar", NodeHourMillipoints: 2000, GPUHourMillipoints: 10000, EffectiveFrom: d(3, 1)},
		{ID: "gpu-feb", Partition: "gpu", GPUHourMillipoints: 5000, EffectiveFrom: d(2, 1)},
		{ID: "alpha-gpu-jun", Cluster: "alpha", Partition: "gpu", GPUHourMillipoints: 7000, EffectiveFrom: d(6, 1)},
		{ID: "alpha-apr", Cluster: "alpha", NodeHourMillipoints: 3000, EffectiveFrom: d(4, 1)},
	})
	cases := []struct {
		cluster, partition string
		at                 time.Time
		want               string
	}{
		{"alpha", "cpu", d(1, 1).Add(-time.Second), ""}, // before any rate: not charged
		{"alpha", "cpu", d(1, 1), "any-jan"},            // effective from the first instant
		{"alpha", "cpu", d(2, 28), "any-jan"},
		{"alpha", "cpu", d(3, 1), "any-mar"},
		{"alpha", "cpu", d(4, 2), "alpha-apr"},     // cluster beats any
		{"beta", "cpu", d(4, 2), "any-mar"},        // other cluster
		{"alpha", "gpu", d(1, 15), "any-jan"},      // partition rate not yet in effect
		{"alpha", "gpu", d(2, 15), "gpu-feb"},      // partition beats any
		{"alpha", "gpu", d(5, 1), "gpu-feb"},       // partition beats cluster
		{"alpha", "gpu", d(6, 1), "alpha-gpu-jun"}, // cluster+partition beats partition
		{"beta", "gpu", d(6, 1), "gpu-feb"},
	}
	for _, c := range cases {
		r, ok := rs.For(c.cluster, c.partition, c.at)
		got := ""
		if ok {
			got = r.ID
		}
		if got != c.want {
			t.Errorf("For(%q, %q, %s) = %q, want %q", c.cluster, c.partition, c.at, got, c.want)
		}
	}

	// A CPU job of 2 nodes × 1.5 h at 2 points/node-hour = 6 points; a GPU job of 4 GPUs × 0.5 h
	// at 5 points/GPU-hour = 10 points.
	cpu := Record{Cluster: "beta", Partition: "cpu", Nodes: 2, Elapsed: 90 * time.Minute, End: d(3, 2)}
	gpu := Record{Cluster: "beta", Partition: "gpu", Nodes: 1, GPUs: 4, Elapsed: 30 * time.Minute, End: d(3, 2)}
	if got := rs.Price(&cpu); got != 6_000_000 {
		t.Errorf("cpu price = %d µpoints, want 6,000,000", got)
	}
	if got := rs.Price(&gpu); got != 10_000_000 {
		t.Errorf("gpu price = %d µpoints, want 10,000,000", got)
	}
	if got := Points(1_499_999); got != 1 {
		t.Errorf("Points(1.499999) = %d", got)
	}
	if got := Points(1_500_000); got != 2 {
		t.Errorf("Points(1.5) = %d", got)
	}
}

func TestParseMilli(t *testing.T) {
	good := map[string]int64{"0": 0, "1": 1000, "1.5": 1500, "0.125": 125, ".5": 500, "12.": 12000, " 7 ": 7000}
	for in, want := range good {
		if got, err := ParseMilli(in, "rate"); err != nil || got != want {
			t.Errorf("ParseMilli(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".", "-1", "+1", "1.2345", "abc", "1.-5", "1e3", "99999999999999999999", "1.+5"} {
		if _, err := ParseMilli(in, "rate"); err == nil {
			t.Errorf("ParseMilli(%q) accepted", in)
		}
	}
	for v, want := range map[int64]string{0: "0", 1500: "1.5", 125: "0.125", 2000: "2", -1500: "-1.5"} {
		if got := FormatMilli(v); got != want {
			t.Errorf("FormatMilli(%d) = %q, want %q", v, got, want)
		}
	}
}

func TestPeriodsAndThresholds(t *testing.T) {
	at := time.Date(2026, 8, 17, 13, 0, 0, 0, time.UTC)
	for p, want := range map[string][2]string{
		PeriodMonth:   {"2026-08-01", "2026-09-01"},
		PeriodQuarter: {"2026-07-01", "2026-10-01"},
		PeriodYear:    {"2026-01-01", "2027-01-01"},
	} {
		s, e := PeriodBounds(p, at)
		if s.Format(time.DateOnly) != want[0] || e.Format(time.DateOnly) != want[1] {
			t.Errorf("%s: %s..%s, want %s..%s", p, s.Format(time.DateOnly), e.Format(time.DateOnly), want[0], want[1])
		}
	}
	if s, e := PeriodBounds(PeriodQuarter, time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)); s.Month() != 10 || e.Year() != 2027 {
		t.Errorf("Q4: %s..%s", s, e)
	}
	cases := []struct {
		used, limit int64
		want        []int
	}{{0, 100, nil}, {79_999, 100_000, nil}, {80_000, 100_000, []int{80}}, {99_999, 100_000, []int{80}},
		{100_000, 100_000, []int{80, 100}}, {1 << 62, 3, []int{80, 100}}, {5, 0, nil}}
	for _, c := range cases {
		got := Reached(c.used, c.limit)
		if len(got) != len(c.want) || (len(got) > 0 && got[len(got)-1] != c.want[len(c.want)-1]) {
			t.Errorf("Reached(%d, %d) = %v, want %v", c.used, c.limit, got, c.want)
		}
	}
}
