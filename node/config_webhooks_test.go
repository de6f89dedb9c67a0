package node_test

import (
	"strings"
	"testing"
	"time"

	"github.com/divinewhispers/dw/node"
)

// TestConfigWebhooks: bad webhook settings are refused with a message naming the flag.
func TestConfigWebhooks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  func(*node.Config)
		want string // "" = valid
	}{
		{"defaults", func(*node.Config) {}, ""},
		{"allow private", func(c *node.Config) { c.WebhookAllowPrivate = true }, ""},
		{"no threshold", func(c *node.Config) { c.WebhookLowBalance = 0 }, "--webhook-low-balance"},
		{"retry too soon", func(c *node.Config) { c.WebhookRetryBase = time.Millisecond }, "--webhook-retry-base"},
		{"retry too late", func(c *node.Config) { c.WebhookRetryBase = 2 * time.Hour }, "--webhook-retry-base"},
		{"no timeout", func(c *node.Config) { c.WebhookTimeout = 0 }, "--webhook-timeout"},
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
