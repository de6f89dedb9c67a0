package settings_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/divinewhispers/dw/settings"
)

func TestKinds(t *testing.T) {
	t.Parallel()
	price := settings.Int("price", "", 10, 0, 1000, false, func(int64) {})
	keep := settings.Duration("keep", "", 30*24*time.Hour, time.Hour, 365*24*time.Hour, true, false, func(time.Duration) {})
	strict := settings.Duration("strict", "", time.Hour, time.Hour, 48*time.Hour, false, false, func(time.Duration) {})
	for _, tc := range []struct {
		def  settings.Definition
		in   string
		want any // nil: refused
	}{
		{price, `0`, int64(0)},
		{price, `25`, int64(25)},
		{price, `1000`, int64(1000)},
		{price, `1001`, nil},
		{price, `-1`, nil},
		{price, `1.5`, nil},
		{price, `1e2`, nil},
		{price, `"10"`, nil},
		{price, `true`, nil},
		{price, `{}`, nil},
		{price, `99999999999999999999999`, nil},
		{keep, `"30d"`, "30d"},
		{keep, `"720h"`, "30d"},
		{keep, `"90m"`, "90m"},
		{keep, `"36h"`, "36h"},
		{keep, `"0"`, "0"},
		{keep, `"0s"`, "0"},
		{keep, `"59m"`, nil},
		{keep, `"366d"`, nil},
		{keep, `"-1h"`, nil},
		{keep, `"1.5d"`, nil},
		{keep, `"500ms"`, nil},
		{keep, `30`, nil},
		{keep, `""`, nil},
		{strict, `"0"`, nil},
		{strict, `"2d"`, "2d"},
		{strict, `"3d"`, nil},
	} {
		got, err := tc.def.Parse(json.RawMessage(tc.in))
		switch {
		case tc.want == nil && err == nil:
			t.Errorf("%s %s: accepted as %v", tc.def.Key, tc.in, got)
		case tc.want != nil && (err != nil || got != tc.want):
			t.Errorf("%s %s: got %v, %v; want %v", tc.def.Key, tc.in, got, err, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{0: "0", 48 * time.Hour: "2d", 25 * time.Hour: "25h", 61 * time.Minute: "61m", 90 * time.Second: "90s"} {
		if got := settings.FormatDuration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
		if back, err := settings.ParseDuration(want); err != nil || back != d {
			t.Errorf("%q: back to %v, %v", want, back, err)
		}
	}
}

// FuzzParse: whatever JSON value an admin sends, a setting's Parse either refuses it or
// returns a normal form that parses again to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`10`, `-1`, `"30d"`, `"720h"`, `"0"`, `"20/m"`, `null`, `1e400`, `"\u0000"`, `"9999999999d"`} {
		f.Add([]byte(s))
	}
	defs := []settings.Definition{
		settings.Int("n", "", 1, 0, 1_000_000, false, func(int64) {}),
		settings.Duration("d", "", time.Hour, time.Hour, 100*365*24*time.Hour, true, false, func(time.Duration) {}),
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, d := range defs {
			v, err := d.Parse(raw)
			if err != nil {
				continue
			}
			norm, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%s: normal form %v: %v", d.Key, v, err)
			}
			again, err := d.Parse(norm)
			if err != nil || again != v {
				t.Fatalf("%s %q: normal form %s parses to %v, %v", d.Key, raw, norm, again, err)
			}
		}
	})
}
