package accounting_test

import (
	"strings"
	"testing"
	"time"

	"github.com/divinewhispers/dw/accounting"
)

// The inputs come from outside (JSON bodies, flags): whatever they hold, Validate names only
// the input's own fields, and a message never expands a value as a field reference.
func FuzzInputs(f *testing.F) {
	f.Add("alpha", "/logs", "*.log", "slurm-sacct", "hpc1", "UTC", "1.5", "2026-01-01", "month", "physics")
	f.Add("", "logs", "../{dir}", "lsf", "", "Mars/Olympus", "1.2345", "soon", "week", "")
	f.Add("%s%d", "/%v", "[x", "pbs", "{cluster}", "%!", "-1", "%s", "{period}", "{wallet}")
	f.Fuzz(func(t *testing.T, name, dir, glob, format, cluster, zone, price, from, period, wallet string) {
		check := func(what string, err error, fields ...string) {
			if err == nil {
				return
			}
			inv, ok := accounting.AsInvalid(err)
			if !ok {
				t.Fatalf("%s: %v is not an input's problems", what, err)
			}
			for _, p := range inv.Problems {
				if !strings.Contains(" "+strings.Join(fields, " ")+" ", " "+p.Field+" ") {
					t.Errorf("%s: a problem of field %q, not one of %v", what, p.Field, fields)
				}
				flagged := p.Render(func(f string) string { return "--" + f })
				if strings.Contains(flagged, "%!") && !strings.Contains(name+dir+glob+format+cluster+zone+price+from+period+wallet, "%!") {
					t.Errorf("%s: a bad format: %s", what, flagged)
				}
			}
		}
		check("source", accounting.SourceInput{Name: name, Dir: dir, Glob: glob, Format: format, Cluster: cluster, Timezone: zone,
			Interval: time.Minute}.Validate(), "name", "dir", "glob", "format", "cluster", "timezone", "interval", "columns")
		check("mapping", accounting.MappingInput{Cluster: cluster, User: name, Group: glob, Wallet: wallet, Note: from}.Validate(),
			"cluster", "user", "account", "group", "wallet", "exclude", "note")
		check("rate", accounting.RateInput{Cluster: cluster, Partition: name, NodeHourPoints: &price, EffectiveFrom: from}.Validate(),
			"cluster", "partition", "node_hour_points", "gpu_hour_points", "effective_from")
		check("quota", accounting.QuotaInput{Wallet: wallet, Period: period, NodeHours: &price}.Validate(),
			"wallet", "period", "node_hours", "gpu_core_hours")
	})
}
