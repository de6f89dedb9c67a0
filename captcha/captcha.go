package captcha

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	dw "github.com/divinewhispers/dw"
)

// Provider makes challenges and verifies their solutions.
type Provider interface {
	// Challenge returns what a client needs to solve; it is shown to the client as is.
	// Errors: internal.
	Challenge(ctx context.Context) (map[string]any, error)
	// Verify checks a solution and spends it: a solution is good once. Errors: forbidden
	// (captcha_invalid) when the solution is malformed, wrong, expired or used; unavailable
	// when the verifier cannot be reached.
	Verify(ctx context.Context, solution, remoteIP string) error
}

// Kinds of provider (the values of `dw serve --captcha`).
const (
	KindPoW       = "pow"
	KindTurnstile = "turnstile"
	KindHCaptcha  = "hcaptcha"
	KindOff       = "off"
)

// Kinds lists every kind.
var Kinds = []string{KindPoW, KindTurnstile, KindHCaptcha, KindOff}

// Config chooses and sets up a provider.
type Config struct {
	Kind      string // one of Kinds; "" = pow
	SiteKey   string // turnstile, hcaptcha: the public key the widget needs
	Secret    string // turnstile, hcaptcha: the server's secret (never logged)
	VerifyURL string // turnstile, hcaptcha: "" = the provider's siteverify endpoint
	PoWMax    int64  // pow: the largest number a challenge hides (the work); 0 = DefaultPoWMax
	PoWTTL    time.Duration
	Key       []byte  // pow: HMAC key, the same on every node
	Spent     Spender // pow: records used solutions cluster-wide
	Client    *http.Client
}

// New returns the configured provider, or nil for "off". Errors name the flag to fix.
func New(c Config) (Provider, error) {
	switch c.Kind {
	case "", KindPoW:
		if len(c.Key) < 32 {
			return nil, errors.New("captcha pow: the HMAC key must be at least 32 bytes")
		}
		if c.Spent == nil {
			return nil, errors.New("captcha pow: no record of spent solutions")
		}
		return &PoW{Key: c.Key, MaxNumber: c.PoWMax, TTL: c.PoWTTL, Spent: c.Spent}, nil
	case KindTurnstile, KindHCaptcha:
		if c.Secret == "" || c.SiteKey == "" {
			return nil, fmt.Errorf("--captcha %s needs --captcha-secret (DW_CAPTCHA_SECRET) and --captcha-site-key (DW_CAPTCHA_SITE_KEY)", c.Kind)
		}
		return &Remote{Kind: c.Kind, SiteKey: c.SiteKey, Secret: c.Secret, VerifyURL: c.VerifyURL, Client: c.Client}, nil
	case KindOff:
		return nil, nil
	}
	return nil, fmt.Errorf("--captcha must be one of pow, turnstile, hcaptcha, off (got %q)", c.Kind)
}

// refused is the error of a solution that does not pass; why says what to tell the client.
func refused(why string) error {
	return dw.Coded(dw.KindForbidden, "captcha_invalid", "the captcha solution was refused: %s", why)
}
