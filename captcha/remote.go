package captcha

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	dw "github.com/divinewhispers/dw"
)

// The providers' server-side verification endpoints.
const (
	TurnstileVerifyURL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
	HCaptchaVerifyURL  = "https://api.hcaptcha.com/siteverify"
)

// Remote verifies Cloudflare Turnstile or hCaptcha tokens with the provider's siteverify
// endpoint (POST secret, response, remoteip). The provider keeps each token good once.
type Remote struct {
	Kind      string // KindTurnstile or KindHCaptcha
	SiteKey   string
	Secret    string
	VerifyURL string       // "" = the provider's
	Client    *http.Client // nil = one with a 10 s timeout
}

// Challenge tells the client which widget to show with which site key. Errors: none.
func (r *Remote) Challenge(context.Context) (map[string]any, error) {
	return map[string]any{"provider": r.Kind, "site_key": r.SiteKey}, nil
}

func (r *Remote) verifyURL() string {
	switch {
	case r.VerifyURL != "":
		return r.VerifyURL
	case r.Kind == KindHCaptcha:
		return HCaptchaVerifyURL
	}
	return TurnstileVerifyURL
}

var defaultClient = &http.Client{Timeout: 10 * time.Second}

// siteverifyReply is the part of both providers' answer that matters.
type siteverifyReply struct {
	Success    bool     `json:"success"`
	ErrorCodes []string `json:"error-codes"`
}

// Verify asks the provider whether the token is good. Errors: forbidden (captcha_invalid),
// unavailable (captcha_unavailable) when the provider does not answer properly.
func (r *Remote) Verify(ctx context.Context, solution, remoteIP string) error {
	if solution == "" || len(solution) > 4096 {
		return refused("it is empty or too long")
	}
	form := url.Values{"secret": {r.Secret}, "response": {solution}}
	if remoteIP != "" {
		form.Set("remoteip", remoteIP)
	}
	if r.Kind == KindHCaptcha {
		form.Set("sitekey", r.SiteKey)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.verifyURL(), strings.NewReader(form.Encode()))
	if err != nil {
		return dw.Internal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := r.Client
	if client == nil {
		client = defaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return unavailable(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return unavailable(&dw.Error{Kind: dw.KindUnavailable, Code: "captcha_unavailable", Message: res.Status})
	}
	var reply siteverifyReply
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<10)).Decode(&reply); err != nil {
		return unavailable(err)
	}
	for _, c := range reply.ErrorCodes {
		if strings.Contains(c, "secret") { // our configuration is wrong, not the client's token
			return unavailable(&dw.Error{Kind: dw.KindUnavailable, Code: "captcha_unavailable", Message: "siteverify: " + c})
		}
	}
	if !reply.Success {
		return refused("the " + r.Kind + " token is invalid, expired or used (" + strings.Join(reply.ErrorCodes, ", ") + ")")
	}
	return nil
}

func unavailable(err error) error {
	return &dw.Error{Kind: dw.KindUnavailable, Code: "captcha_unavailable", Message: "the captcha could not be verified; try again", Err: err}
}
