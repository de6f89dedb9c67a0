package accounting

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

func TestParseElapsed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    time.Duration
		noValue bool // a special: fall back to the next source
		bad     bool
	}{
		{in: "1-02:03:04", want: 26*time.Hour + 3*time.Minute + 4*time.Second},
		{in: "02:03:04", want: 2*time.Hour + 3*time.Minute + 4*time.Second},
		{in: "03:04", want: 3*time.Minute + 4*time.Second},
		{in: "35:45.828", want: 35*time.Minute + 45*time.Second + 828*time.Millisecond},
		{in: "00:00:00", want: 0},
		{in: "100:00:00", want: 100 * time.Hour}, // leading field unbounded
		{in: "12-00:00:00", want: 288 * time.Hour},
		{in: "INVALID", noValue: true},
		{in: "UNLIMITED", noValue: true},
		{in: "Partition_Limit", noValue: true},
		{in: "", noValue: true},
		{in: "Unknown", noValue: true},
		{in: "1-25:00:00", bad: true},
		{in: "02:60:00", bad: true},
		{in: "1-02:03", bad: true},
		{in: "-02:03:04", bad: true},
		{in: "42", bad: true},
		{in: "a:b", bad: true},
		{in: "01:02:03:04", bad: true},
		{in: "03:04.", bad: true},
		{in: "999999-00:00:00", bad: true}, // beyond a century
	} {
		got, err := ParseElapsed(tc.in)
		switch {
		case tc.noValue:
			if !errors.Is(err, errNoValue) {
				t.Errorf("%q: %v, %v; want no value", tc.in, got, err)
			}
		case tc.bad:
			if err == nil || errors.Is(err, errNoValue) {
				t.Errorf("%q: %v, %v; want an error", tc.in, got, err)
			}
		case err != nil || got != tc.want:
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestSlurmJobIDs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
		step bool
		bad  bool
	}{
		{in: "123", want: []string{"123"}},
		{in: "123_4", want: []string{"123_4"}},
		{in: "123+0", want: []string{"123+0"}},
		{in: "123_[1-3]", want: []string{"123_1", "123_2", "123_3"}},
		{in: "123_[2-5,17]", want: []string{"123_2", "123_3", "123_4", "123_5", "123_17"}},
		{in: "123_[1-3%2]", want: []string{"123_1", "123_2", "123_3"}},
		{in: "123_[1-7:3]", want: []string{"123_1", "123_4", "123_7"}},
		{in: "123_[1,1]", want: []string{"123_1"}},
		{in: "123.batch", step: true},
		{in: "123.extern", step: true},
		{in: "123.interactive", step: true},
		{in: "123.0", step: true},
		{in: "123.0+1", step: true},
		{in: "123_4.batch", step: true},
		{in: "123+0.0", step: true},
		{in: "", bad: true},
		{in: "abc", bad: true},
		{in: "123_", bad: true},
		{in: "123_[3-1]", bad: true},
		{in: "123_[1-999999999]", bad: true},
		{in: "123_[]", bad: true},
		{in: "123+x", bad: true},
	} {
		got, step, err := appendJobIDs(nil, tc.in)
		if step != tc.step || (err != nil) != tc.bad || !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v step=%v err=%v; want %v step=%v bad=%v", tc.in, got, step, err, tc.want, tc.step, tc.bad)
		}
	}
}

func TestParseTRES(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want tres
		bad  bool
	}{
		{in: "billing=256,cpu=256,mem=3000M,node=32", want: tres{nodes: 32, cpus: 256, gpus: -1}},
		// Typed and untyped together: the untyped entry is the total; never their sum.
		{in: "billing=64,cpu=9,gres/cpu=9,gres/gpu:a100_3g.20gb=1,gres/gpu=1,mem=60G,node=1", want: tres{nodes: 1, cpus: 9, gpus: 1}},
		{in: "gres/gpu=4,gres/gpu:a100=2,gres/gpu:v100=2", want: tres{nodes: -1, cpus: -1, gpus: 4}},
		// Only typed entries: their sum.
		{in: "cpu=8,gres/gpu:a100=2,gres/gpu:v100=1,node=1", want: tres{nodes: 1, cpus: 8, gpus: 3}},
		{in: "gres/gpu=0,node=1", want: tres{nodes: 1, cpus: -1, gpus: 0}},
		{in: "", want: tres{nodes: -1, cpus: -1, gpus: -1}},
		{in: "gres/gpumem=40G,gres/gpuutil=50,node=2", want: tres{nodes: 2, cpus: -1, gpus: -1}},
		{in: "gres/gpu=x", bad: true},
		{in: "cpu", bad: true},
	} {
		got, err := parseTRES(tc.in)
		if (err != nil) != tc.bad || !tc.bad && got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestParseGRES(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"gpu:2", 2},
		{"gpu:k80:2(IDX:0-1)", 2},
		{"gpu:tesla:1,gpu:k80:2", 3},
		{"gpu:4,gpu:k80:2", 4},
		{"mps:100", -1},
		{"gpu", 1},
		{"", -1},
	} {
		if got, err := parseGRES(tc.in); err != nil || got != tc.want {
			t.Errorf("%q: %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestUnitSeconds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		units int
		d     time.Duration
		want  int64
	}{
		{4, 9000 * time.Second, 36_000},
		{1, time.Second, 1}, // a one-second job of one node: 1 node-second, not 0
		{1, 1800 * time.Millisecond, 1},
		{1, 999 * time.Millisecond, 0},
		{7, 3601 * time.Second, 25_207},
		{1 << 30, 100 * 8760 * time.Hour, 1 << 30 * 3_153_600_000},
		{0, time.Hour, 0},
		{1, -time.Hour, 0},
		{math.MaxInt64, math.MaxInt64, math.MaxInt64}, // saturates instead of wrapping
	} {
		if got := unitSeconds(tc.units, tc.d); got != tc.want {
			t.Errorf("%d × %v: %d, want %d", tc.units, tc.d, got, tc.want)
		}
	}
}

func TestMilliHoursRounding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		seconds int64
		milli   int64
		shown   string
	}{
		{0, 0, "0.000"},
		{1, 0, "0.000"}, // 0.28 milli-hours
		{2, 1, "0.001"}, // 0.56
		{9, 3, "0.003"}, // exactly 2.5: half up
		{3600, 1000, "1.000"},
		{5400, 1500, "1.500"},
		{9350, 2597, "2.597"}, // 2597.2
		{math.MaxInt64, 2_562_047_788_015_215_502, "2562047788015215.502"},
	} {
		if got, shown := MilliHours(tc.seconds), FormatHours(tc.seconds); got != tc.milli || shown != tc.shown {
			t.Errorf("%d s: %d milli-hours %q, want %d %q", tc.seconds, got, shown, tc.milli, tc.shown)
		}
	}
}

func TestStateAndFinished(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		running  bool
	}{
		{"COMPLETED", "COMPLETED", false},
		{"CANCELLED by 102216", "CANCELLED", false},
		{"CANCELLED+", "CANCELLED", false},
		{"cancelled", "CANCELLED", false},
		{"OUT_OF_MEMORY", "OUT_OF_MEMORY", false},
		{"REQUEUED", "REQUEUED", false}, // a finished run of a requeued job
		{"RUNNING", "RUNNING", true},
		{"PENDING", "PENDING", true},
		{"SUSPENDED", "SUSPENDED", true},
		{"", "", false},
	} {
		if got := normState(tc.in); got != tc.want || unfinished(got) != tc.running {
			t.Errorf("%q: %q unfinished=%v; want %q %v", tc.in, got, unfinished(got), tc.want, tc.running)
		}
	}
}
