package gateway

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// TestFormActions: a payment provider's checkout origin joins form-action, and only there; the
// policy of a node without one is unchanged.
func TestFormActions(t *testing.T) {
	t.Parallel()
	csp := func(origins []string) string {
		app := fiber.New()
		app.Use(securityHeaders(origins))
		app.Get("/", func(c *fiber.Ctx) error { return c.SendStatus(204) })
		resp, err := app.Test(httptest.NewRequest("GET", "/", nil))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Get("Content-Security-Policy")
	}
	plain := csp(nil)
	if !strings.Contains(plain, "form-action 'self';") {
		t.Fatalf("policy without providers: %s", plain)
	}
	with := csp([]string{"https://payment.ecpay.com.tw"})
	if want := strings.Replace(plain, "form-action 'self';", "form-action 'self' https://payment.ecpay.com.tw;", 1); with != want {
		t.Fatalf("policy with ECPay:\n got %s\nwant %s", with, want)
	}
	if again := csp(nil); again != plain {
		t.Fatalf("a node's providers changed the policy of another: %s", again)
	}
}
