package settings_test

import (
	"context"
	"encoding/json"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/settings"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m, pgtest.Options{Migrate: persistence.Migrate})
	if code == 0 {
		if err := goleak.Find(); err != nil {
			code = 1
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
		}
	}
	os.Exit(code)
}

// node is one process's view of the settings: its own pool and Service, a price it applies.
type node struct {
	svc   *settings.Service
	price atomic.Int64
	store *persistence.Store
}

func startNode(t *testing.T, url string, reload time.Duration) *node {
	t.Helper()
	store, err := persistence.Open(t.Context(), url, 4)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{store: store, svc: settings.New(store, nil)}
	n.svc.Reload = reload
	if err := n.svc.Register(
		settings.Int("price", "points per job", 10, 0, 1000, true, n.price.Store),
		settings.Duration("keep", "how long rows are kept", 24*time.Hour, time.Hour, 48*time.Hour, true, false, func(time.Duration) {}),
	); err != nil {
		t.Fatal(err)
	}
	if err := n.svc.Register(settings.Int("price", "again", 1, 0, 1, false, func(int64) {})); err == nil {
		t.Fatal("a key registered twice")
	}
	if err := n.svc.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; store.Close() })
	return n
}

func waitPrice(t *testing.T, n *node, want int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for n.price.Load() != want {
		if time.Now().After(deadline) {
			t.Fatalf("price %d after %v, want %d", n.price.Load(), within, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServiceAcrossNodes: a change through one node's Service is applied by it at once and by
// another within a second (NOTIFY); a bad change changes nothing; null puts the default back;
// a value written without a notification (another version, a restore) is applied at the next
// periodic reload; a stored value that no longer parses gives way to the default.
func TestServiceAcrossNodes(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDB(t)
	a, b := startNode(t, url, time.Hour), startNode(t, url, 300*time.Millisecond)
	ctx := t.Context()
	if a.price.Load() != 10 || b.price.Load() != 10 {
		t.Fatalf("defaults applied: %d %d", a.price.Load(), b.price.Load())
	}
	admin, err := a.store.CreateUser(ctx, "cfg-admin@example.com", "hash", "admin", persistence.AuditEntry{Action: "user.register"})
	if err != nil {
		t.Fatal(err)
	}

	_, err = a.svc.Patch(ctx, settings.PatchInput{ActorID: admin.ID, Values: map[string]json.RawMessage{
		"price": json.RawMessage(`7`), "keep": json.RawMessage(`"3d"`), "nope": json.RawMessage(`1`)}})
	errs, _ := dw.ExtensionsOf(err)["errors"].(map[string]any)
	if dw.CodeOf(err) != "invalid" || errs["keep"] == nil || errs["nope"] == nil || errs["price"] != nil || len(errs) != 2 {
		t.Fatalf("bad patch: %v %v", err, errs)
	}
	views, err := a.svc.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.price.Load() != 10 || string(views[1].Value) != "10" || views[1].Source != settings.SourceFlag {
		t.Fatalf("a refused patch changed something: %d %+v", a.price.Load(), views)
	}

	views, err = a.svc.Patch(ctx, settings.PatchInput{ActorID: admin.ID, Values: map[string]json.RawMessage{"price": json.RawMessage(`7`)}})
	if err != nil {
		t.Fatal(err)
	}
	if a.price.Load() != 7 { // applied before the answer, on the node that took the change
		t.Fatalf("node a: %d", a.price.Load())
	}
	if v := views[1]; v.Key != "price" || string(v.Value) != "7" || string(v.Default) != "10" || v.Source != settings.SourceDatabase ||
		v.UpdatedBy == nil || *v.UpdatedBy != admin.ID || v.UpdatedAt == nil {
		t.Fatalf("after the patch: %+v", v)
	}
	waitPrice(t, b, 7, time.Second)

	audits, _, err := a.store.ListAudit(ctx, persistence.AuditFilter{Action: "config.changed", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(audits) != 1 || audits[0].ActorID != admin.ID || audits[0].TargetID != "price" {
		t.Fatalf("audit: %+v", audits)
	}
	var detail struct {
		Changes map[string]struct{ Old, New int } `json:"changes"`
	}
	if err := json.Unmarshal(audits[0].Detail, &detail); err != nil || detail.Changes["price"].Old != 10 || detail.Changes["price"].New != 7 {
		t.Fatalf("audit detail %s: %v", audits[0].Detail, err)
	}

	if _, err := b.svc.Patch(ctx, settings.PatchInput{Values: map[string]json.RawMessage{"price": json.RawMessage(`null`)}}); err != nil {
		t.Fatal(err)
	}
	waitPrice(t, a, 10, time.Second)

	// Written without a notification: node b reloads by itself; node a (reload hourly) does not.
	if _, err := a.store.Pool().Exec(ctx, `INSERT INTO settings (key, value) VALUES ('price', '99')`); err != nil {
		t.Fatal(err)
	}
	waitPrice(t, b, 99, 3*time.Second)
	if a.price.Load() != 10 {
		t.Fatalf("node a applied a change it was not told of: %d", a.price.Load())
	}
	// A stored value that no longer parses: the default is in force.
	if _, err := a.store.Pool().Exec(ctx, `UPDATE settings SET value = '"ten"' WHERE key = 'price'`); err != nil {
		t.Fatal(err)
	}
	waitPrice(t, b, 10, 3*time.Second)
}
