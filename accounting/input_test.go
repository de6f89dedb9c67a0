package accounting_test

import (
	"slices"
	"strings"
	"testing"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
)

func ptr(s string) *string { return &s }

// fields returns the fields err's problems are keyed by, in order, and its code.
func fields(t *testing.T, err error) ([]string, string) {
	t.Helper()
	if err == nil {
		return nil, ""
	}
	inv, ok := accounting.AsInvalid(err)
	if !ok {
		t.Fatalf("%v is not an input's problems", err)
	}
	if dw.KindOf(err) != dw.KindInvalid || dw.CodeOf(err) != inv.Code {
		t.Fatalf("kind %s code %s, want invalid %s", dw.KindOf(err), dw.CodeOf(err), inv.Code)
	}
	var fs []string
	for _, p := range inv.Problems {
		fs = append(fs, p.Field)
	}
	return fs, inv.Code
}

func TestInputsReportEveryProblemByField(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		err    error
		fields []string
		code   string
	}{
		{"source ok", accounting.SourceInput{Name: "a", Dir: "/logs", Format: "pbs", Cluster: "c"}.Validate(), nil, ""},
		{"source empty", accounting.SourceInput{}.Validate(), []string{"name", "dir", "format", "cluster"}, "invalid"},
		{"source relative dir, bad zone", accounting.SourceInput{Name: "a", Dir: "logs", Format: "pbs", Cluster: "c", Timezone: "Mars/Olympus"}.Validate(),
			[]string{"dir", "timezone"}, "invalid"},
		{"source glob escapes", accounting.SourceInput{Name: "a", Dir: "/l", Format: "pbs", Cluster: "c", Glob: "../x"}.Validate(), []string{"glob"}, "glob_outside_dir"},
		{"source columns of pbs", accounting.SourceInput{Name: "a", Dir: "/l", Format: "pbs", Cluster: "c", Columns: []string{"JobID"}}.Validate(), []string{"columns"}, "invalid"},
		{"source long name", accounting.SourceInput{Name: strings.Repeat("n", 201), Dir: "/l", Format: "pbs", Cluster: "c"}.Validate(), []string{"name"}, "invalid"},
		{"mapping ok", accounting.MappingInput{Group: "g", Wallet: "w"}.Validate(), nil, ""},
		{"mapping exclusion", accounting.MappingInput{User: "u", Exclude: true}.Validate(), nil, ""},
		{"mapping empty", accounting.MappingInput{}.Validate(), []string{"user", "wallet"}, "invalid"},
		{"mapping wallet and exclude", accounting.MappingInput{User: "u", Wallet: "w", Exclude: true}.Validate(), []string{"exclude"}, "invalid"},
		{"rate ok", accounting.RateInput{NodeHourPoints: ptr("1.5")}.Validate(), nil, ""},
		{"rate no price", accounting.RateInput{Cluster: "a"}.Validate(), []string{"node_hour_points"}, "invalid"},
		{"rate bad prices and date", accounting.RateInput{NodeHourPoints: ptr("1.2345"), GPUHourPoints: ptr("-1"), EffectiveFrom: "soon"}.Validate(),
			[]string{"node_hour_points", "gpu_hour_points", "effective_from"}, "invalid"},
		{"quota ok", accounting.QuotaInput{Wallet: "w", Period: "month", NodeHours: ptr("10")}.Validate(), nil, ""},
		{"quota empty", accounting.QuotaInput{}.Validate(), []string{"wallet", "period"}, "invalid"},
		{"quota zero limits", accounting.QuotaInput{Wallet: "w", Period: "year", NodeHours: ptr("0")}.Validate(), []string{"node_hours"}, "invalid"},
	} {
		got, code := fields(t, c.err)
		if !slices.Equal(got, c.fields) || code != c.code {
			t.Errorf("%s: fields %v code %q, want %v %q (%v)", c.name, got, code, c.fields, c.code, c.err)
		}
	}
}

func TestProblemsNameFieldsAsTheAdapterDoes(t *testing.T) {
	t.Parallel()
	err := accounting.SourceInput{Name: "a", Dir: "/l", Format: "pbs", Cluster: "c", Glob: "../%s{dir}"}.Validate()
	inv, _ := accounting.AsInvalid(err)
	flag := func(f string) string { return "--" + f }
	got, want := inv.Render(flag, "\n"), `--glob "../%s{dir}" must select files of --dir itself: no path separator and no ".." (e.g. '*.log', 'sacct-*.txt*')`
	if got != want {
		t.Errorf("rendered with flags:\n got %s\nwant %s", got, want)
	}
	if got, want := dw.MessageOf(err), strings.ReplaceAll(want, "--", ""); got != want {
		t.Errorf("message:\n got %s\nwant %s", got, want)
	}
}

func TestPageLimit(t *testing.T) {
	t.Parallel()
	p := accounting.Page{Default: 100, Max: 1000}
	for _, c := range []struct{ in, want int }{{0, 100}, {1, 1}, {1000, 1000}, {-1, -1}, {1001, -1}} {
		got, err := p.Limit(c.in)
		if c.want < 0 && err == nil || c.want >= 0 && (err != nil || got != c.want) {
			t.Errorf("Limit(%d) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}
