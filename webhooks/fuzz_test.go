package webhooks_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/divinewhispers/dw/webhooks"
)

// FuzzValidateURL: whatever the input, an accepted URL is an absolute http(s) URL with a host,
// no user information, of printable ASCII, and it parses again to the same host.
func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{"https://hooks.example.com/dw", "http://127.0.0.1:8080/x?y=z", "https://[::1]/", "ftp://x/",
		"https://user@h/", "https://h/#f", "https://[fe80::1%25en0]/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := webhooks.ValidateURL(raw)
		if err != nil {
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Hostname() == "" || u.User != nil || len(raw) > webhooks.MaxURLLength {
			t.Fatalf("accepted %q: %#v", raw, u)
		}
		for _, c := range []byte(raw) {
			if c <= ' ' || c >= 0x7f {
				t.Fatalf("accepted %q with byte %#x", raw, c)
			}
		}
		again, err := url.Parse(u.String())
		if err != nil || !strings.EqualFold(again.Hostname(), u.Hostname()) {
			t.Fatalf("%q does not parse again to its host: %v", u.String(), err)
		}
	})
}
