package node_test

import (
	"strings"
	"testing"

	"github.com/divinewhispers/dw/node"
)

// TestConfigMail: bad mail settings are refused with a message naming the flag.
func TestConfigMail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  func(*node.Config)
		want string // "" = valid
	}{
		{"no mail", func(*node.Config) {}, ""},
		{"smtp", func(c *node.Config) {
			c.SMTPAddr, c.SMTPFrom, c.SMTPUser, c.SMTPPassword = "smtp.example.com:587", "DW <no-reply@example.com>", "u", "p"
		}, ""},
		{"public url", func(c *node.Config) { c.PublicURL = "https://dw.example.com/" }, ""},
		{"public url not http", func(c *node.Config) { c.PublicURL = "dw.example.com" }, "--public-url"},
		{"public url with a query", func(c *node.Config) { c.PublicURL = "https://dw.example.com/?a=1" }, "--public-url"},
		{"smtp without port", func(c *node.Config) { c.SMTPAddr, c.SMTPFrom = "smtp.example.com", "a@example.com" }, "--smtp-addr"},
		{"smtp without from", func(c *node.Config) { c.SMTPAddr = "smtp.example.com:25" }, "--smtp-from"},
		{"bad from", func(c *node.Config) { c.SMTPAddr, c.SMTPFrom = "smtp.example.com:25", "not an address" }, "--smtp-from"},
		{"user without server", func(c *node.Config) { c.SMTPUser = "u" }, "--smtp-addr"},
		{"reset limit", func(c *node.Config) { c.LoginLimits.ResetLimit = 0 }, "--reset-limit"},
		{"reset window", func(c *node.Config) { c.LoginLimits.ResetWindow = 0 }, "--reset-window"},
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
			if err != nil && strings.Contains(err.Error(), "p\"") {
				t.Fatalf("the password is echoed: %v", err)
			}
		})
	}
}
