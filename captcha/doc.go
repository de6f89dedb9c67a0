// Package captcha asks a client for proof that it is worth serving before a risky request
// (beyond a free rate of login failures or registrations): a self-hosted proof of work that
// speaks the ALTCHA widget's protocol (PoW), or Cloudflare Turnstile and hCaptcha verified
// server-side (Remote). The account core asks and verifies; the gateway only carries the
// challenge out (problem member "captcha") and the solution in (body "captcha" or header
// X-Captcha).
package captcha
