package captcha_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/captcha"
)

// siteverify is a verification server of the test's own, speaking the protocol that
// Turnstile and hCaptcha share: each token it issued is good once, from the address it was
// issued to.
type siteverify struct {
	secret string
	mu     sync.Mutex
	tokens map[string]string // token → remote address
	calls  []map[string]string
}

func newSiteverify(t *testing.T, secret string, tokens map[string]string) (*siteverify, *httptest.Server) {
	sv := &siteverify{secret: secret, tokens: tokens}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.ParseForm() != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		sv.mu.Lock()
		defer sv.mu.Unlock()
		call := map[string]string{}
		for k := range r.PostForm {
			call[k] = r.PostForm.Get(k)
		}
		sv.calls = append(sv.calls, call)
		reply := map[string]any{"success": false, "error-codes": []string{"invalid-input-response"}}
		switch ip, ok := sv.tokens[call["response"]]; {
		case call["secret"] != sv.secret:
			reply["error-codes"] = []string{"invalid-input-secret"}
		case ok && ip == call["remoteip"]:
			delete(sv.tokens, call["response"])
			reply = map[string]any{"success": true, "hostname": "example.com"}
		}
		_ = json.NewEncoder(w).Encode(reply)
	}))
	t.Cleanup(srv.Close)
	return sv, srv
}

func TestRemoteVerify(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{captcha.KindTurnstile, captcha.KindHCaptcha} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			sv, srv := newSiteverify(t, "s3cret", map[string]string{"token-1": "203.0.113.7", "token-2": "203.0.113.7"})
			p, err := captcha.New(captcha.Config{Kind: kind, SiteKey: "site-1", Secret: "s3cret", VerifyURL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			ch, err := p.Challenge(t.Context())
			if err != nil || ch["provider"] != kind || ch["site_key"] != "site-1" {
				t.Fatalf("challenge %v %v", ch, err)
			}
			for _, tc := range []struct {
				name, token, ip, code string
			}{
				{"good", "token-1", "203.0.113.7", ""},
				{"replayed", "token-1", "203.0.113.7", "captcha_invalid"},
				{"other address", "token-2", "198.51.100.1", "captcha_invalid"},
				{"unknown", "forged", "203.0.113.7", "captcha_invalid"},
				{"empty", "", "203.0.113.7", "captcha_invalid"},
			} {
				err := p.Verify(t.Context(), tc.token, tc.ip)
				if got := dw.CodeOf(err); err != nil && got != tc.code || err == nil && tc.code != "" {
					t.Errorf("%s: got %v, want %q", tc.name, err, tc.code)
				}
			}
			sv.mu.Lock()
			first := sv.calls[0]
			sv.mu.Unlock()
			if first["secret"] != "s3cret" || first["response"] != "token-1" || first["remoteip"] != "203.0.113.7" {
				t.Errorf("siteverify got %v", first)
			}
			if kind == captcha.KindHCaptcha && first["sitekey"] != "site-1" {
				t.Errorf("hcaptcha siteverify without sitekey: %v", first)
			}

			// A wrong secret is the server's fault: unavailable, not the client's captcha_invalid.
			bad, _ := captcha.New(captcha.Config{Kind: kind, SiteKey: "site-1", Secret: "wrong", VerifyURL: srv.URL})
			if err := bad.Verify(t.Context(), "token-2", "203.0.113.7"); dw.KindOf(err) != dw.KindUnavailable {
				t.Errorf("wrong secret: %v, want unavailable", err)
			}
			// A verifier that does not answer: unavailable.
			down, _ := captcha.New(captcha.Config{Kind: kind, SiteKey: "site-1", Secret: "s3cret", VerifyURL: "http://127.0.0.1:1/siteverify"})
			if err := down.Verify(t.Context(), "token-2", "203.0.113.7"); dw.KindOf(err) != dw.KindUnavailable {
				t.Errorf("verifier down: %v, want unavailable", err)
			}
		})
	}
}

func TestNewNamesTheFlag(t *testing.T) {
	t.Parallel()
	for _, c := range []captcha.Config{{Kind: "recaptcha"}, {Kind: captcha.KindTurnstile}, {Kind: captcha.KindPoW, Key: []byte("short")}} {
		if _, err := captcha.New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	if p, err := captcha.New(captcha.Config{Kind: captcha.KindOff}); p != nil || err != nil {
		t.Errorf("off: %v %v", p, err)
	}
}
