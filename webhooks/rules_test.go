package webhooks_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/webhooks"
)

func TestValidateURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.com/dw", true},
		{"http://hooks.example.com:8080/a?b=c", true},
		{"https://[2001:4860::8888]/x", true},
		{"", false},
		{"ftp://example.com/", false},
		{"file:///etc/passwd", false},
		{"gopher://example.com", false},
		{"https://", false},
		{"https:///path", false},
		{"https://user:pw@example.com/", false},
		{"https://example.com/#frag", false},
		{"https://example.com:99999/", false},
		{"https://example.com:0/", false},
		{"https://exa mple.com/", false},
		{"https://example.com/\x00", false},
		{"https://[fe80::1%25eth0]/", false},
		{"mailto:a@example.com", false},
		{"//example.com/", false},
	} {
		_, err := webhooks.ValidateURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateURL(%q) = %v, want ok %v", tc.url, err, tc.ok)
		}
		if err != nil && dw.KindOf(err) != dw.KindInvalid {
			t.Errorf("ValidateURL(%q): kind %s", tc.url, dw.KindOf(err))
		}
	}
}

func TestForbiddenIP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ip        string
		forbidden bool
	}{
		{"127.0.0.1", true}, {"127.255.0.9", true}, {"10.1.2.3", true}, {"172.16.0.1", true}, {"172.31.255.255", true},
		{"192.168.1.1", true}, {"169.254.169.254", true}, {"100.64.0.1", true}, {"100.127.255.254", true},
		{"0.0.0.0", true}, {"224.0.0.1", true}, {"255.255.255.255", true},
		{"::1", true}, {"::", true}, {"fc00::1", true}, {"fd12:3456::1", true}, {"fe80::1", true}, {"ff02::1", true},
		{"::ffff:127.0.0.1", true}, {"::ffff:10.0.0.1", true}, {"64:ff9b::7f00:1", true}, {"2002:7f00:1::", true},
		{"8.8.8.8", false}, {"93.184.216.34", false}, {"172.32.0.1", false}, {"100.128.0.1", false},
		{"2001:4860:4860::8888", false}, {"::ffff:8.8.8.8", false},
	} {
		if got := webhooks.ForbiddenIP(netip.MustParseAddr(tc.ip)); got != tc.forbidden {
			t.Errorf("ForbiddenIP(%s) = %v, want %v", tc.ip, got, tc.forbidden)
		}
	}
}

// TestCheckURLForbidden: without --webhook-allow-private, a URL whose host is or resolves to a
// forbidden address is refused with webhook_url_forbidden; with it, it is accepted.
func TestCheckURLForbidden(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"http://127.0.0.1/", "http://127.0.0.1:8080/hook", "http://10.0.0.8/", "http://172.16.3.4/", "http://192.168.0.10/",
		"http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[fc00::1]/", "http://[fd00::7]/", "http://[fe80::1]/",
		"http://[::ffff:127.0.0.1]/", "http://100.64.0.1/", "http://localhost:9/", "http://0.0.0.0/", "http://[::]/",
	} {
		_, err := webhooks.Guard{}.CheckURL(t.Context(), u)
		if dw.CodeOf(err) != "webhook_url_forbidden" {
			t.Errorf("%s: %v, want webhook_url_forbidden", u, err)
		}
		if _, err := (webhooks.Guard{AllowPrivate: true}).CheckURL(t.Context(), u); err != nil {
			t.Errorf("%s with allow-private: %v", u, err)
		}
	}
	if _, err := (webhooks.Guard{}).CheckURL(t.Context(), "https://93.184.216.34/hook"); err != nil {
		t.Errorf("a public address: %v", err)
	}
}

func TestValidateEvents(t *testing.T) {
	t.Parallel()
	got, err := webhooks.ValidateEvents([]string{"job.failed", "job.completed"})
	if err != nil || len(got) != 2 || got[0] != "job.completed" {
		t.Errorf("got %v, %v", got, err)
	}
	for _, in := range [][]string{nil, {}, {"job.completed", "job.completed"}, {"job.exploded"}, {""}} {
		if _, err := webhooks.ValidateEvents(in); dw.KindOf(err) != dw.KindInvalid {
			t.Errorf("ValidateEvents(%q) = %v, want invalid", in, err)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	b := webhooks.Backoff{Base: 10 * time.Second, Max: time.Hour, MaxAge: 24 * time.Hour, Jitter: 0.2}
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {10, time.Hour}, {100, time.Hour}} {
		for range 20 {
			got := b.Wait(tc.n)
			if got < tc.want*8/10 || got > tc.want*12/10 {
				t.Errorf("Wait(%d) = %v, want %v ± 20%%", tc.n, got, tc.want)
			}
		}
	}
	now := time.Now()
	if _, ok := b.Next(3, now, now.Add(time.Minute)); !ok {
		t.Error("a retry within the deadline was refused")
	}
	if _, ok := b.Next(10, now, now.Add(time.Minute)); ok {
		t.Error("a retry past the deadline was allowed")
	}
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, b := webhooks.NewSecret(), webhooks.NewSecret()
	if a == b || len(a) != len("whsec_")+44 || a[:6] != "whsec_" {
		t.Errorf("secrets %q %q", a, b)
	}
}

var _ = context.Background
