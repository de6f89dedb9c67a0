package accounting

import (
	"math"
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
	if got := rs.Price(&cpu); got != 6*PriceUnitsPerPoint {
		t.Errorf("cpu price = %d units, want 6 points", got)
	}
	if got := rs.Price(&gpu); got != 10*PriceUnitsPerPoint {
		t.Errorf("gpu price = %d units, want 10 points", got)
	}
	for _, tc := range []struct{ units, points int64 }{
		{PriceUnitsPerPoint*3/2 - 1, 1}, // just under 1.5
		{PriceUnitsPerPoint * 3 / 2, 2}, // exactly 1.5: half up
		{PriceUnitsPerPoint/2 - 1, 0},
		{math.MaxInt64, math.MaxInt64 / PriceUnitsPerPoint}, // no overflow in the rounding
	} {
		if got := Points(tc.units); got != tc.points {
			t.Errorf("Points(%d) = %d, want %d", tc.units, got, tc.points)
		}
	}

	// A one-second job of one node: 1 node-second, shown as 0.000 node-hours, priced exactly at
	// 1 s × 2000 millipoints/h = 2000 units (1/1800 of a point); a charge of it alone rounds to
	// 0 points, and 900 such jobs in one charge make exactly half a point: 1.
	tiny := Record{Cluster: "beta", Partition: "cpu", Nodes: 1, Elapsed: time.Second, End: d(3, 2)}
	if s, p := tiny.NodeSeconds(), rs.Price(&tiny); s != 1 || FormatHours(s) != "0.000" || p != 2000 || Points(p) != 0 || Points(900*p) != 1 {
		t.Errorf("one-second job: %d node-seconds (%s h), price %d units, %d points alone, %d for 900; want 1, 0.000, 2000, 0, 1",
			s, FormatHours(s), p, Points(p), Points(900*p))
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
	}{
		// used in seconds, limit in milli-hours: 1 h = 1000 mh = 3600 s, 80 % of it 2880 s.
		{0, 1000, nil}, {2879, 1000, nil}, {2880, 1000, []int{80}}, {3599, 1000, []int{80}},
		{3600, 1000, []int{80, 100}}, {1 << 62, 3, []int{80, 100}}, {5, 0, nil},
		// 0.001 h = 3.6 s exactly: 3 s is past 80 % (2.88 s), not 100 %; 4 s is past both.
		{2, 1, nil}, {3, 1, []int{80}}, {4, 1, []int{80, 100}},
	}
	for _, c := range cases {
		got := Reached(c.used, c.limit)
		if len(got) != len(c.want) || (len(got) > 0 && got[len(got)-1] != c.want[len(c.want)-1]) {
			t.Errorf("Reached(%d, %d) = %v, want %v", c.used, c.limit, got, c.want)
		}
	}
}
