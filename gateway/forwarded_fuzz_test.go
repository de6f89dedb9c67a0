package gateway

import (
	"net/netip"
	"strings"
	"testing"
)

func TestForwardedClient(t *testing.T) {
	t.Parallel()
	s := &Server{proxies: trustedProxies([]string{"10.0.0.0/8", "192.0.2.9", "2001:db8:ffff::/48"})}
	for _, tc := range []struct{ xff, want string }{
		{"", ""},
		{"198.51.100.1", "198.51.100.1"},
		{"203.0.113.7, 198.51.100.1", "198.51.100.1"},
		{"198.51.100.1, 10.1.2.3", "198.51.100.1"},
		{"198.51.100.1,10.1.2.3,192.0.2.9", "198.51.100.1"},
		{"10.1.1.1, 10.1.2.3", "10.1.1.1"}, // only proxies: the leftmost
		{"198.51.100.1:4711", "198.51.100.1"},
		{"[2001:db8::1]:4711, 2001:db8:ffff::1", "2001:db8::1"},
		{"::ffff:198.51.100.1", "198.51.100.1"},
		{"garbage", ""},
		{"198.51.100.1, garbage", ""},
		{"garbage, 198.51.100.1", "198.51.100.1"},
		{"garbage, 10.1.2.3", "10.1.2.3"},
		{"fe80::1%eth0", ""},
		{" , ", ""},
	} {
		if got := forwardedClient(tc.xff, s.trusted); got != tc.want {
			t.Errorf("forwardedClient(%q) = %q, want %q", tc.xff, got, tc.want)
		}
	}
}

// FuzzForwardedClient: X-Forwarded-For comes from anyone through the proxy. The answer is empty
// or a plain address that the header contains and that is not a trusted proxy unless every
// entry right of it is one.
func FuzzForwardedClient(f *testing.F) {
	for _, s := range []string{"198.51.100.1", "203.0.113.7, 198.51.100.1, 10.0.0.1", "[::1]:80", "x,,y", "::ffff:1.2.3.4",
		"fe80::1%eth0", strings.Repeat("10.0.0.1,", 50)} {
		f.Add(s)
	}
	s := &Server{proxies: trustedProxies([]string{"10.0.0.0/8"})}
	f.Fuzz(func(t *testing.T, xff string) {
		got := forwardedClient(xff, s.trusted)
		if got == "" {
			return
		}
		a, err := netip.ParseAddr(got)
		if err != nil || a.String() != got || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("forwardedClient(%q) = %q: not a plain address", xff, got)
		}
	})
}

func TestAddressKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ip, want string }{
		{"198.51.100.1", "198.51.100.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::9", "2001:db8:1:2::/64"},
		{"::1", "::/64"},
	} {
		if got := addressKey(tc.ip); got != tc.want {
			t.Errorf("addressKey(%q) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}
