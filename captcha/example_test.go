package captcha_test

import (
	"fmt"

	"github.com/divinewhispers/dw/captcha"
)

// A client solves a proof-of-work challenge the way the ALTCHA widget does, and sends the
// encoded solution back with its request (body member "captcha" or header X-Captcha).
func ExampleSolve() {
	challenge := map[string]any{ // as in a 403 captcha_required's "captcha" member
		"provider": "altcha", "algorithm": "SHA-256", "maxnumber": float64(100000), "salt": "salt",
		"challenge": "c2fc6c6adf8ba0f575a35f48df52c0968a3dcd3c577c2769dc2f1035943b975e",
		"signature": "(the server's HMAC of the challenge)",
	}
	sol, ok := captcha.Solve(challenge)
	fmt.Println(ok, sol.Number)
	// Output: true 123
}
