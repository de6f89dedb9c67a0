package persistence

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/divinewhispers/dw/push"
)

// TestPushNoticeOnJobEnd: finishing a job writes a notice in the same transaction, only for a
// user with a subscription, once per job; claims lease it to one caller.
func TestPushNoticeOnJobEnd(t *testing.T) {
	s, u := newTestStore(t)
	ctx := t.Context()
	other, err := s.CreateUser(ctx, "nopush@example.com", "not-a-hash", "user", AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SavePushSubscription(ctx, push.Subscription{UserID: u.ID, Kind: push.KindWebPush,
		Endpoint: "https://push.example.com/a", P256dh: "k", Auth: "a", Lang: "en"}); err != nil {
		t.Fatal(err)
	}
	finish := func(user User, key string, fail bool) string {
		t.Helper()
		j := newJob(user, key)
		if _, err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		started, ok, err := s.AcquireAndStart(ctx, j.ID, "node-a", time.Minute)
		if !ok || err != nil {
			t.Fatalf("start: %v %v", ok, err)
		}
		if fail {
			ok, err = s.FailJob(ctx, j.ID, started.Epoch, "llm_failed", "x")
		} else {
			ok, err = s.CompleteJob(ctx, j.ID, started.Epoch, json.RawMessage(`{}`), "m", time.Now().Add(time.Hour))
		}
		if !ok || err != nil {
			t.Fatalf("finish: %v %v", ok, err)
		}
		return j.ID
	}
	done, failed := finish(u, "k1", false), finish(u, "k2", true)
	finish(other, "k3", false) // no subscription: no notice

	got, err := s.ClaimPushNotices(ctx, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{done: "completed", failed: "failed"}
	if len(got) != 2 {
		t.Fatalf("claimed %+v, want the notices of %v", got, want)
	}
	for _, n := range got {
		if want[n.JobID] != n.Status || n.UserID != u.ID || n.Attempts != 1 {
			t.Fatalf("notice %+v", n)
		}
	}
	if again, _ := s.ClaimPushNotices(ctx, 10, time.Minute); len(again) != 0 {
		t.Fatalf("leased notices claimed again: %+v", again)
	}
	if err := s.RetryPushNotice(ctx, done, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishPushNotice(ctx, failed); err != nil {
		t.Fatal(err)
	}
	again, _ := s.ClaimPushNotices(ctx, 10, time.Minute)
	if len(again) != 1 || again[0].JobID != done || again[0].Attempts != 2 {
		t.Fatalf("after retry: %+v", again)
	}
}

// TestPushSubscriptionMoves: a device subscribing again under another user moves to that user.
func TestPushSubscriptionMoves(t *testing.T) {
	s, u := newTestStore(t)
	ctx := t.Context()
	v, err := s.CreateUser(ctx, "second@example.com", "not-a-hash", "user", AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	sub := push.Subscription{UserID: u.ID, Kind: push.KindWebPush, Endpoint: "https://push.example.com/d", P256dh: "k", Auth: "a", Lang: "en"}
	first, err := s.SavePushSubscription(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	sub.UserID, sub.Lang = v.ID, "zh-TW"
	second, err := s.SavePushSubscription(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || second.UserID != v.ID || second.Lang != "zh-TW" {
		t.Fatalf("moved: %+v", second)
	}
	if l, _ := s.PushSubscriptions(ctx, u.ID); len(l) != 0 {
		t.Fatalf("the first user still has %+v", l)
	}
	if err := s.DeletePushSubscription(ctx, u.ID, first.ID); err == nil {
		t.Fatal("another user removed the subscription")
	}
	if err := s.DeletePushSubscription(ctx, v.ID, first.ID); err != nil {
		t.Fatal(err)
	}
}
