package captcha_test

import (
	"testing"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/captcha"
)

// FuzzParseSolution: whatever a client sends, the parser answers a well-formed solution or
// captcha_invalid, never panics, and a solution it accepts survives a round trip.
func FuzzParseSolution(f *testing.F) {
	f.Add("")
	f.Add("bm90IGpzb24=")
	f.Add(captcha.Solution{Algorithm: "SHA-256", Number: 4242, Salt: "0123456789abcdef01234567?expires=4102444800&",
		Challenge: "697d7c8e1eaefd6d0388e94dfb640e4d049b1d34609c142f8303b8899362b9eb",
		Signature: "10598b59527a58320f5f9d2913ea83a124ea7500c359ad5c9708fb61cef7b340"}.Encode())
	f.Fuzz(func(t *testing.T, s string) {
		sol, err := captcha.ParseSolution(s)
		if err != nil {
			if dw.CodeOf(err) != "captcha_invalid" {
				t.Fatalf("ParseSolution(%q): %v, want captcha_invalid", s, err)
			}
			return
		}
		if sol.Algorithm != captcha.Algorithm || sol.Number < 0 || len(sol.Challenge) != 64 || len(sol.Signature) != 64 {
			t.Fatalf("ParseSolution(%q) accepted %+v", s, sol)
		}
		again, err := captcha.ParseSolution(sol.Encode())
		if err != nil || again != sol {
			t.Fatalf("round trip of %+v: %+v, %v", sol, again, err)
		}
	})
}
