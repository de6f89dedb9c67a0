package sandbox_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/payments/sandbox"
	"github.com/divinewhispers/dw/persistence"
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, pgtest.Options{Migrate: persistence.Migrate}))
}

// at is the fixed time the fuzz corpus's signatures were made at ("t=1767225600").
var at = time.Unix(1767225600, 0)

func provider(t testing.TB) (*sandbox.Provider, []byte) {
	t.Helper()
	store, err := persistence.Open(context.Background(), pgtest.NewDB(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	key, err := store.SandboxKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sandbox.New(store, func() string { return "http://127.0.0.1:9" }), key
}

// TestParseNotification: a signature by the cluster's key over the raw body, within the
// tolerance, is read; anything else is invalid_signature.
func TestParseNotification(t *testing.T) {
	t.Parallel()
	p, key := provider(t)
	body, _ := json.Marshal(sandbox.Event{ID: "evt_1", PaymentID: "0196a6c4-5b2e-7c3e-8d6f-1a2b3c4d5e6f", Ref: "sbx_1",
		Outcome: payments.OutcomePaid, Currency: "TWD", AmountMinor: 150, Created: at.Unix()})
	sig := sandbox.Sign(key, body, at)
	for _, tc := range []struct {
		name   string
		header string
		body   string
		now    time.Time
		ok     bool
	}{
		{"signed", sig, string(body), at, true},
		{"rolled keys: one v1 matches", "t=1767225600,v1=00ff," + strings.TrimPrefix(sig, "t=1767225600,"), string(body), at, true},
		{"within tolerance", sig, string(body), at.Add(sandbox.Tolerance), true},
		{"stale", sig, string(body), at.Add(sandbox.Tolerance + time.Second), false},
		{"from the future", sig, string(body), at.Add(-sandbox.Tolerance - time.Second), false},
		{"unsigned", "", string(body), at, false},
		{"other key", sandbox.Sign([]byte("another key, not the cluster's"), body, at), string(body), at, false},
		{"body changed", sig, strings.Replace(string(body), "150", "1500", 1), at, false},
		{"re-serialised body", sig, strings.ReplaceAll(string(body), ",", ", "), at, false},
		{"no time", "v1=" + strings.SplitN(sig, "v1=", 2)[1], string(body), at, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := p.ParseNotification(t.Context(), http.Header{sandbox.SignatureHeader: {tc.header}}, []byte(tc.body), tc.now)
			if tc.ok {
				if err != nil || n.EventID != "evt_1" || n.Outcome != payments.OutcomePaid || n.Amount != (payments.Money{Currency: "TWD", Minor: 150}) {
					t.Errorf("got %+v, %v", n, err)
				}
				return
			}
			if dw.CodeOf(err) != "invalid_signature" {
				t.Errorf("got %+v, %v; want invalid_signature", n, err)
			}
		})
	}
}

// FuzzParseNotification: whatever the header and body, a notification is either refused as
// invalid_signature or signed by the key over exactly that body.
func FuzzParseNotification(f *testing.F) {
	key := []byte("fuzz key 0123456789abcdef0123456789")
	body := []byte(`{"id":"evt_1","type":"payment.paid","payment_id":"0196a6c4-5b2e-7c3e-8d6f-1a2b3c4d5e6f","ref":"sbx_1","outcome":"paid","currency":"TWD","amount_minor":150,"created":1767225600}`)
	f.Add(sandbox.Sign(key, body, at), body)
	f.Add("t=1767225600,v1=zz", body)
	f.Add("", []byte("{}"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		n, err := sandbox.Verify(key, http.Header{sandbox.SignatureHeader: {header}}, body, at)
		if err != nil {
			if dw.CodeOf(err) != "invalid_signature" {
				t.Fatalf("error %v", err)
			}
			return
		}
		if !strings.Contains(strings.ToLower(header), strings.TrimPrefix(sandbox.Sign(key, body, at), "t=1767225600,")) || n.EventID == "" {
			t.Fatalf("accepted %q over %q: %+v", header, body, n)
		}
	})
}
