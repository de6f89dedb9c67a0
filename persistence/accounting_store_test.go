package persistence_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/ingest"
	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/internal/testutil"
	"github.com/divinewhispers/dw/persistence"
)

// acctBundle is compute accounting's service over a store of its own, with one ingest root.
type acctBundle struct {
	svc   *accounting.Service
	store *persistence.Store
	root  string // the ingest root; logs is a directory inside it
	logs  string
	by    accounting.Actor
}

func setupAccounting(t *testing.T) acctBundle {
	t.Helper()
	s, err := persistence.Open(t.Context(), pgtest.NewDB(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	root := t.TempDir()
	logs := filepath.Join(root, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	svc := accounting.NewService(accounting.ServiceConfig{Store: persistence.AccountingStore{Store: s}, Dirs: ingest.Roots{root}})
	return acctBundle{svc: svc, store: s, root: root, logs: logs, by: accounting.Actor{IP: "test"}}
}

// audits counts the audit rows of an action.
func (b acctBundle) audits(t *testing.T, action string) int {
	t.Helper()
	var n int
	if err := b.store.Pool().QueryRow(t.Context(), `SELECT count(*) FROM audit_logs WHERE action = $1`, action).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// problemFields is the fields an error's problems are keyed by, and its code.
func problemFields(err error) ([]string, string) {
	inv, ok := accounting.AsInvalid(err)
	if !ok {
		return nil, dw.CodeOf(err)
	}
	var fs []string
	for _, p := range inv.Problems {
		fs = append(fs, p.Field)
	}
	return fs, inv.Code
}

func TestAccountingServiceSources(t *testing.T) {
	t.Parallel()
	b := setupAccounting(t)
	ctx := t.Context()

	src, err := b.svc.AddSource(ctx, b.by, accounting.SourceInput{Name: " alpha ", Dir: b.logs, Format: "slurm-sacct", Cluster: "hpc1", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	want := accounting.Source{ID: src.ID, Name: "alpha", Dir: b.logs, Glob: "*", Format: "slurm-sacct", Cluster: "hpc1",
		Interval: accounting.DefaultInterval, Timezone: "UTC", Enabled: true, Columns: []string{}, CreatedAt: src.CreatedAt}
	got, err := b.svc.Source(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Diff(t, "the stored source", want, got)

	for _, c := range []struct {
		name   string
		in     accounting.SourceInput
		fields []string
		code   string
	}{
		{"same name", accounting.SourceInput{Name: "alpha", Dir: b.logs, Format: "pbs", Cluster: "c"}, nil, "source_name_taken"},
		{"outside the root", accounting.SourceInput{Name: "etc", Dir: "/etc", Format: "pbs", Cluster: "c"}, []string{"dir"}, accounting.CodeOutsideRoots},
		{"glob escapes, bad zone", accounting.SourceInput{Name: "g", Dir: b.logs, Format: "pbs", Cluster: "c", Glob: "../*", Timezone: "Mars/Olympus"},
			[]string{"glob", "timezone"}, accounting.CodeGlobEscapes},
		{"missing dir inside the root", accounting.SourceInput{Name: "m", Dir: filepath.Join(b.root, "nope"), Format: "pbs", Cluster: "c"}, []string{"dir"}, "invalid"},
	} {
		_, err := b.svc.AddSource(ctx, b.by, c.in)
		fields, code := problemFields(err)
		testutil.Diff(t, c.name+": fields", c.fields, fields)
		if code != c.code {
			t.Errorf("%s: code %q, want %q (%v)", c.name, code, c.code, err)
		}
	}
	if n := b.audits(t, accounting.RefusedAction); n != 2 {
		t.Errorf("%d refusals audited, want 2 (outside the root, glob escaping)", n)
	}

	// A change keeps the directory unchecked unless it changes it.
	if err := os.Remove(b.logs); err != nil {
		t.Fatal(err)
	}
	off, interval := false, 2*time.Minute
	changed, err := b.svc.ChangeSource(ctx, b.by, src.ID, accounting.SourceChange{Enabled: &off, Interval: &interval})
	if err != nil {
		t.Fatal(err)
	}
	want.Enabled, want.Interval = false, interval
	testutil.Diff(t, "the changed source", want, changed)
	if _, err := b.svc.ChangeSource(ctx, b.by, src.ID, accounting.SourceChange{}); dw.KindOf(err) != dw.KindInvalid {
		t.Errorf("an empty change: %v, want invalid", err)
	}

	scanned := 0
	scan := func(context.Context, string) error { scanned++; return nil }
	if _, err := b.svc.RequestScan(ctx, b.by, src.ID, scan); dw.CodeOf(err) != "source_disabled" || scanned != 0 {
		t.Errorf("scan of a disabled source: %v, %d scans", err, scanned)
	}
	on := true
	if _, err := b.svc.ChangeSource(ctx, b.by, src.ID, accounting.SourceChange{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.RequestScan(ctx, b.by, src.ID, scan); err != nil || scanned != 1 || b.audits(t, "accounting.source.scan") != 1 {
		t.Errorf("scan: %v, %d scans, %d audited", err, scanned, b.audits(t, "accounting.source.scan"))
	}
	if _, _, err := b.svc.IngestErrors(ctx, "", accounting.PageRequest{Limit: accounting.PageIngestErrors.Max + 1}); dw.KindOf(err) != dw.KindInvalid {
		t.Errorf("a limit above the page: %v, want invalid", err)
	}
	if err := b.svc.RemoveSource(ctx, b.by, src.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.svc.Source(ctx, src.ID); dw.KindOf(err) != dw.KindNotFound {
		t.Errorf("a removed source: %v, want not_found", err)
	}
}

func TestAccountingServiceMappingsRatesQuotas(t *testing.T) {
	t.Parallel()
	b := setupAccounting(t)
	ctx := t.Context()

	if _, err := b.svc.CreateSharedWallet(ctx, b.by, "  "); dw.KindOf(err) != dw.KindInvalid {
		t.Errorf("a wallet without a name: %v, want invalid", err)
	}
	physics, err := b.svc.CreateSharedWallet(ctx, b.by, "physics")
	if err != nil {
		t.Fatal(err)
	}

	m, re, err := b.svc.AddMapping(ctx, b.by, accounting.MappingInput{Group: " physics ", Wallet: "physics", Note: "lab"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Diff(t, "the mapping", accounting.Mapping{ID: m.ID, Group: "physics", WalletID: physics.ID, Note: "lab", CreatedAt: m.CreatedAt}, m)
	testutil.Diff(t, "what it took over", accounting.Reassigned{}, re)
	for _, c := range []struct {
		name   string
		in     accounting.MappingInput
		fields []string
		code   string
	}{
		{"same match", accounting.MappingInput{Group: "physics", Exclude: true}, nil, "mapping_exists"},
		{"nothing", accounting.MappingInput{}, []string{"user", "wallet"}, "invalid"},
		{"unknown wallet", accounting.MappingInput{User: "ann", Wallet: "chemistry"}, nil, "wallet_not_found"},
	} {
		_, _, err := b.svc.AddMapping(ctx, b.by, c.in)
		fields, code := problemFields(err)
		testutil.Diff(t, c.name+": fields", c.fields, fields)
		if code != c.code {
			t.Errorf("%s: code %q, want %q (%v)", c.name, code, c.code, err)
		}
	}

	node := "1.5"
	r, err := b.svc.AddRate(ctx, b.by, accounting.RateInput{Cluster: "hpc1", NodeHourPoints: &node, EffectiveFrom: "2026-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Diff(t, "the rate", accounting.Rate{ID: r.ID, Cluster: "hpc1", NodeHourMillipoints: 1500,
		EffectiveFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), CreatedAt: r.CreatedAt}, r)

	hours := "10"
	q, err := b.svc.SetQuota(ctx, b.by, accounting.QuotaInput{Wallet: "physics", Period: accounting.PeriodMonth, NodeHours: &hours})
	if err != nil {
		t.Fatal(err)
	}
	if q.WalletID != physics.ID || q.NodeMilliHours != 10_000 || q.PeriodEnd == nil || !q.PeriodStart.Before(*q.PeriodEnd) {
		t.Errorf("quota %+v", q)
	}
	qs, _, err := b.svc.Quotas(ctx, physics.ID, accounting.PageRequest{})
	if err != nil || len(qs) != 1 {
		t.Fatalf("quotas %+v, %v", qs, err)
	}
	testutil.Diff(t, "the quota listed", q, qs[0])
	if _, _, err := b.svc.Charges(ctx, accounting.ChargeFilter{Status: "paid"}); dw.KindOf(err) != dw.KindInvalid {
		t.Errorf("charges of an unknown status: %v, want invalid", err)
	}
	if err := b.svc.RemoveQuota(ctx, b.by, q.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.RemoveQuota(ctx, b.by, q.ID); dw.KindOf(err) != dw.KindNotFound {
		t.Errorf("removing it again: %v, want not_found", err)
	}
}
