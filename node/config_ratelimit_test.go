package node_test

import (
	"strings"
	"testing"

	"github.com/divinewhispers/dw/node"
)

// TestConfigRateLimits: bad rate-limit settings are refused with a message naming the flag.
func TestConfigRateLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  func(*node.Config)
		want string // "" = valid
	}{
		{"defaults", func(*node.Config) {}, ""},
		{"off", func(c *node.Config) { c.RateLimit = "off" }, ""},
		{"a class off", func(c *node.Config) { c.RateLimits["reads"] = "off" }, ""},
		{"a window of minutes", func(c *node.Config) { c.RateLimits["auth"] = "5/10m" }, ""},
		{"proxies", func(c *node.Config) { c.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32"} }, ""},
		{"neither on nor off", func(c *node.Config) { c.RateLimit = "yes" }, "--rate-limit"},
		{"bad rate", func(c *node.Config) { c.RateLimits["auth"] = "20 per minute" }, "--rate-limit-auth"},
		{"unknown class", func(c *node.Config) { c.RateLimits["bogus"] = "1/m" }, "unknown class"},
		{"bad proxy", func(c *node.Config) { c.TrustedProxies = []string{"proxy.example"} }, "--trusted-proxies"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := node.Defaults()
			tc.set(&c)
			err := c.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}
