package node_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/internal/pushtest"
	"github.com/divinewhispers/dw/push"
)

// TestPushNotices: a person's subscribed browser hears that the interpretation is ready, the
// message encrypted for the browser (RFC 8291) and signed for the push service (VAPID) with the
// key the node generated into its data directory; a push service that fails is retried; a
// subscription the push service says is gone is removed.
func TestPushNotices(t *testing.T) {
	t.Parallel()
	srv := pushtest.Start(t, "")
	dir, dbURL := t.TempDir(), pgtest.NewDB(t)
	p := &proc{name: "push", http: freePort(t), bind: freePort(t), log: &bytes.Buffer{},
		env: []string{"SSL_CERT_FILE=" + srv.CertFile(t, dir)}} // the node trusts the test's push service
	p.args = serveArgs(p.name, p.http, p.bind, freePort(t), "--database-url", dbURL, "--data-dir", dir,
		"--price-interpretation", "10", "--push-allow-private")
	p.start(t)
	t.Cleanup(func() {
		if t.Failed() {
			p.dump(t)
		}
		p.kill()
	})
	base := "http://" + p.http
	waitFor(t, 30*time.Second, "dw serve ready", func() bool { return ready(base) })
	key := mustCall(t, 200, "GET", base+"/api/v1/push/key", "", "", nil)["public_key"].(string)
	if err := (push.Keys{Public: key}).Check(); err == nil {
		t.Fatal("Check accepted a pair without its private half")
	}
	srv.SetApplicationKey(key)

	admin := createAdmin(t, base, "--database-url", dbURL)
	token, wallet := register(t, base, "pushed@e2e.test")
	mustCall(t, 201, "POST", base+"/api/v1/wallets/"+wallet+"/deposits", admin, "topup-1", map[string]any{"amount": 100})

	subscribe := func(d *pushtest.Device, lang string) string {
		t.Helper()
		r := mustCall(t, 201, "POST", base+"/api/v1/push/subscriptions", token, "", map[string]any{
			"endpoint": d.Endpoint, "expirationTime": nil, "keys": map[string]string{"p256dh": d.P256dh, "auth": d.Auth}, "language": lang})
		return r["id"].(string)
	}
	phone, old := srv.NewDevice(t), srv.NewDevice(t)
	subscribe(phone, "en")
	subscribe(old, "zh-TW")
	srv.Gone(old)
	if r, _ := call(t, "POST", base+"/api/v1/push/subscriptions", token, "", map[string]any{
		"endpoint": "http://push.example.com/x", "keys": map[string]string{"p256dh": phone.P256dh, "auth": phone.Auth}}); r.status != 400 {
		t.Fatalf("a plain-http endpoint: %d %v", r.status, r.body)
	}

	slug := mustCall(t, 200, "GET", base+"/api/v1/poem-sets", "", "", nil)["items"].([]any)[0].(map[string]any)["slug"].(string)
	ask := func(key string) string {
		t.Helper()
		acc := mustCall(t, 202, "POST", base+"/api/v1/jobs", token, key, map[string]any{
			"type": "interpretation", "set": slug, "number": 7, "question": "會順利嗎？", "topic": "career"})
		return acc["job_id"].(string)
	}
	messages := func() []push.Message {
		var out []push.Message
		for _, d := range srv.Deliveries(phone.ID) {
			var m push.Message
			if err := json.Unmarshal(d.Plaintext, &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		return out
	}

	first := ask("push-job-1")
	waitFor(t, 30*time.Second, "the notice on the phone", func() bool { return len(messages()) == 1 })
	if m := messages()[0]; m.URL != "/jobs/"+first || m.Title != "Your interpretation is ready" || m.Tag != "job-"+first {
		t.Fatalf("notice %+v", m)
	}
	waitFor(t, 10*time.Second, "the gone subscription removed", func() bool {
		l := mustCall(t, 200, "GET", base+"/api/v1/push/subscriptions", token, "", nil)["items"].([]any)
		return len(l) == 1 && l[0].(map[string]any)["endpoint"] == phone.Endpoint
	})

	srv.Fail(phone, 1) // the push service is down for one attempt: the notice comes on the retry
	second := ask("push-job-2")
	waitFor(t, 30*time.Second, "the retried notice", func() bool { return len(messages()) == 2 })
	if m := messages()[1]; m.URL != "/jobs/"+second {
		t.Fatalf("second notice %+v", m)
	}
	if errs := srv.Errors(); len(errs) != 0 {
		t.Fatalf("the push service refused deliveries: %v", errs)
	}
}
