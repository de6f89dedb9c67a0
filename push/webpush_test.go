package push_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/divinewhispers/dw/internal/pushtest"
	"github.com/divinewhispers/dw/push"
)

func newSender(t *testing.T) (*push.WebPush, *pushtest.Server) {
	t.Helper()
	keys, err := push.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Check(); err != nil {
		t.Fatal(err)
	}
	srv := pushtest.Start(t, keys.Public)
	return &push.WebPush{Keys: keys, Subject: "ops@example.com", Client: srv.Client()}, srv
}

func sub(d *pushtest.Device) push.Subscription {
	return push.Subscription{ID: d.ID, Kind: push.KindWebPush, Endpoint: d.Endpoint, P256dh: d.P256dh, Auth: d.Auth, Lang: "en"}
}

// TestWebPushDelivers: the push service accepts the VAPID signature and the device decrypts
// exactly the message sent.
func TestWebPushDelivers(t *testing.T) {
	t.Parallel()
	w, srv := newSender(t)
	d := srv.NewDevice(t)
	msg := push.NoticeMessage(push.Notice{JobID: "0193a000-0000-7000-8000-000000000001", Status: "completed"}, "zh-TW")
	if err := w.Send(t.Context(), sub(d), msg); err != nil {
		t.Fatal(err)
	}
	ds := srv.Deliveries(d.ID)
	if len(ds) != 1 || len(srv.Errors()) != 0 {
		t.Fatalf("deliveries %v, errors %v", ds, srv.Errors())
	}
	var got push.Message
	if err := json.Unmarshal(ds[0].Plaintext, &got); err != nil {
		t.Fatal(err)
	}
	if got != msg {
		t.Fatalf("decrypted %+v, sent %+v", got, msg)
	}
	if ds[0].Subject != "mailto:ops@example.com" || ds[0].TTL != "3600" || ds[0].Topic == "" || ds[0].Urgency != "normal" {
		t.Fatalf("headers: %+v", ds[0])
	}
}

// TestWebPushOutcomes: 410 is gone (the subscription is removed), 503 is a failure to retry, a
// device key of another device cannot be read by this one.
func TestWebPushOutcomes(t *testing.T) {
	t.Parallel()
	w, srv := newSender(t)
	gone, busy := srv.NewDevice(t), srv.NewDevice(t)
	srv.Gone(gone)
	srv.Fail(busy, 1)
	msg := push.Message{Title: "t", Body: "b", URL: "/", Tag: "x"}
	if err := w.Send(t.Context(), sub(gone), msg); !errors.Is(err, push.ErrGone) {
		t.Fatalf("gone device: %v", err)
	}
	if err := w.Send(t.Context(), sub(busy), msg); err == nil || errors.Is(err, push.ErrGone) {
		t.Fatalf("busy service: %v", err)
	}
	if err := w.Send(t.Context(), sub(busy), msg); err != nil {
		t.Fatalf("second try: %v", err)
	}
	other := srv.NewDevice(t)
	mixed := sub(other)
	mixed.P256dh = busy.P256dh // encrypted for busy, delivered to other: other cannot open it
	_ = w.Send(t.Context(), mixed, msg)
	if len(srv.Errors()) != 1 || len(srv.Deliveries(other.ID)) != 0 {
		t.Fatalf("a message for another device was read: errors %v", srv.Errors())
	}
}

func TestKeysCheck(t *testing.T) {
	t.Parallel()
	a, _ := push.GenerateKeys()
	b, _ := push.GenerateKeys()
	for name, k := range map[string]push.Keys{
		"mismatched": {Public: a.Public, Private: b.Private},
		"empty":      {},
		"garbage":    {Public: "!!", Private: "??"},
	} {
		if err := k.Check(); err == nil {
			t.Errorf("%s keys accepted", name)
		}
	}
}

func TestSubscribeInputValidate(t *testing.T) {
	t.Parallel()
	k, _ := push.GenerateKeys() // a valid P-256 public key stands in for a device's
	good := push.SubscribeInput{Endpoint: "https://push.example.com/x", P256dh: k.Public, Auth: "BTBZMqHH6r4Tts7J_aSIgg", Lang: "en"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*push.SubscribeInput){
		"http endpoint":    func(i *push.SubscribeInput) { i.Endpoint = "http://push.example.com/x" },
		"no endpoint":      func(i *push.SubscribeInput) { i.Endpoint = "" },
		"credentials":      func(i *push.SubscribeInput) { i.Endpoint = "https://u:p@push.example.com/x" },
		"short key":        func(i *push.SubscribeInput) { i.P256dh = "BAAA" },
		"not on curve":     func(i *push.SubscribeInput) { i.P256dh = "B" + k.Public[1:len(k.Public)-4] + "AAAA" },
		"long auth":        func(i *push.SubscribeInput) { i.Auth = "BTBZMqHH6r4Tts7J_aSIggAA" },
		"unknown language": func(i *push.SubscribeInput) { i.Lang = "fr" },
	} {
		in := good
		mod(&in)
		if err := in.Validate(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}
