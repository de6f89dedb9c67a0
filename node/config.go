// Package node assembles a Divine Whispers node from its parts: the database (embedded or
// external), the cluster, the wallet grains and their committer, the account core and the
// gateway. `dw serve` runs one with Run; the CLI opens the same core with OpenCore.
package node

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/auth"
	"github.com/divinewhispers/dw/captcha"
	"github.com/divinewhispers/dw/ingest"
	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/persistence/pgserver"
	"github.com/divinewhispers/dw/ratelimit"
)

// Config is every setting of a node. Each has a flag and a DW_* environment variable.
type Config struct {
	DataDir     string // embedded PostgreSQL, JWT key file
	DatabaseURL string // use this server instead of the embedded one

	HTTP            string // gateway listen address
	NodeName        string
	ClusterName     string
	Bind            string   // memberlist host:port
	Advertise       string   // memberlist advertised host:port
	Join            []string // memberlist seeds
	Remote          string   // actor remote host:port
	AdvertiseRemote string

	// Transport security (README, "Transport").
	TLSCert, TLSKey string // gateway HTTPS certificate and key (PEM); both empty: plain HTTP
	GossipKey       string // memberlist encryption key, base64 of 16, 24 or 32 bytes; never logged
	ClusterTLSCert  string // this node's certificate for the actor remote's mutual TLS (PEM)
	ClusterTLSKey   string
	ClusterTLSCA    string // the CA that signs every node's certificate
	MetricsAddr     string // serve /metrics here instead of on the gateway; "" = on the gateway

	JWTKey string // HS256 signing key, at least 32 bytes; "" = generated into the data dir
	// JWTPreviousKeys are former signing keys whose tokens are still accepted (a key rotation).
	JWTPreviousKeys []string
	AccessTTL       time.Duration // access token lifetime
	RefreshTTL      time.Duration
	SecureCookies   bool
	CommitWorkers   int
	DBMaxConns      int
	// DBSharedBuffers is the embedded PostgreSQL's shared_buffers, e.g. 2GB; "" = 128MB.
	DBSharedBuffers string
	Demo            bool // create demo accounts
	// IngestRoots are the directories ingest sources may read (with what lies under them); none:
	// no source can be added or scanned. The data directory may not overlap any of them.
	IngestRoots []string

	PriceInterpretation int           // points per interpretation job
	JobMaxAttempts      int           // attempts per job before it fails
	JobWorkers          int           // attempts running at once on this node
	JobAttemptTimeout   time.Duration // time limit of one attempt
	JobExpiry           time.Duration // a job not finished by then fails
	JobLease            time.Duration // a job whose runner is silent this long is taken over
	ResultRetention     time.Duration // how long results are kept
	LLMBaseURL          string        // OpenAI-compatible API; "" = the built-in interpreter
	LLMModel            string
	LLMAPIKey           string
	// PasswordParams overrides the argon2id cost (tests only; nil = auth.DefaultParams).
	PasswordParams *auth.Params
	PProf          string // address of a net/http/pprof listener; "" = none
	LogLevel       string
	LogFormat      string // json or text

	// LoginLimits are the free rates of failed logins and registrations per client address;
	// Captcha (pow, turnstile, hcaptcha or off) is what is asked beyond them.
	LoginLimits      account.Limits
	Captcha          string
	CaptchaSecret    string            // turnstile, hcaptcha: the server's secret
	CaptchaSiteKey   string            // turnstile, hcaptcha: the widget's public key
	CaptchaVerifyURL string            // turnstile, hcaptcha: "" = the provider's siteverify endpoint
	CaptchaPoWMax    int               // pow: the largest number a challenge hides (the work asked)
	RateLimit        string            // on, or off for a trusted deployment or a test
	RateLimits       map[string]string // route class → rate ("20/m", "100/10s", "off"); missing: the default
	TrustedProxies   []string          // proxies (IPs or CIDRs) whose X-Forwarded-For names the client
	WSMaxPerUser     int               // WebSockets one user holds open on this node at once

	// Mail (README, "Password reset and mail"; node/mail.go).
	PublicURL    string // where browsers reach the system (reset links); "" = http://<--http>
	SMTPAddr     string // host:port of the SMTP server; "" = mails stay in the outbox
	SMTPFrom     string
	SMTPUser     string // "" = no SMTP authentication
	SMTPPassword string // never logged
	// SMTPRootCAs (tests only; nil = the system's) are trusted for STARTTLS; MailBackoff
	// (tests only; 0 = 30 s) is the wait before a failed mail's second attempt.
	SMTPRootCAs *x509.CertPool
	MailBackoff time.Duration

	// ECPay (綠界) payments (payments/ecpay): no merchant id = no ECPay provider.
	ECPayMerchantID string
	ECPayHashKey    string // never logged
	ECPayHashIV     string // never logged
	ECPayBase       string // "" = https://payment.ecpay.com.tw; the stage: https://payment-stage.ecpay.com.tw

	// Stripe (payments/stripe): no secret key, no Stripe provider.
	StripeSecretKey     string // sk_…; never logged
	StripeWebhookSecret string // whsec_… of the webhook endpoint; never logged
	StripeAPIBase       string // "" = https://api.stripe.com
	// Outgoing webhooks (README, "Outgoing webhooks"; node/webhooks.go).
	WebhookAllowPrivate bool          // deliver to loopback and private addresses too (tests, on-premises)
	WebhookLowBalance   int           // wallet.low_balance when available points fall below this
	WebhookRetryBase    time.Duration // wait before a failed delivery's second attempt, doubled at each further one
	WebhookTimeout      time.Duration // time limit of one delivery request
	// Web Push (README, "Notices on the phone"; node/push.go).
	VAPIDPublicKey   string // base64url; with VAPIDPrivateKey, the same on every node; "" = generated into the data dir
	VAPIDPrivateKey  string // never logged
	VAPIDSubject     string // contact for push services: https URL or email; "" = the public URL
	PushAllowPrivate bool   // send to push endpoints at private addresses (tests, on-premises push services)
	// Payments (README, "Payments"; node/payments.go).
	PaymentPackages       string        // id:points:currency:price,…; "" = payments.DefaultPackages
	PaymentReconcileAfter time.Duration // a payment pending this long is looked up at its provider
	PaymentExpireAfter    time.Duration // a payment still unpaid this long is failed (abandoned)
	PaymentSandbox        bool          // the sandbox provider, whose checkout is a page of the node's own
	// PaymentProviders are further providers (tests; the lead's stripe and ecpay wiring).
	PaymentProviders []payments.Provider
}

// Defaults returns the configuration of a one-node cluster on this machine.
func Defaults() Config {
	host, _ := os.Hostname()
	return Config{
		DataDir: "./var", HTTP: "127.0.0.1:8080", NodeName: host, ClusterName: "dw",
		Bind: "127.0.0.1:7946", Remote: "127.0.0.1:8090", AccessTTL: 15 * time.Minute,
		RefreshTTL: 30 * 24 * time.Hour, SecureCookies: true, CommitWorkers: 2, DBMaxConns: 20,
		DBSharedBuffers: pgserver.DefaultSharedBuffers(),
		LogLevel:        "info", LogFormat: "json",
		PriceInterpretation: 10, JobMaxAttempts: 3, JobWorkers: 64, JobAttemptTimeout: 2 * time.Minute,
		JobExpiry: time.Hour, JobLease: 15 * time.Second, ResultRetention: 30 * 24 * time.Hour, LLMModel: "gpt-4o-mini",
		LoginLimits: account.DefaultLimits, Captcha: captcha.KindPoW, CaptchaPoWMax: captcha.DefaultPoWMax,
		RateLimit: "on", RateLimits: defaultRateLimits(), WSMaxPerUser: 16,
		WebhookLowBalance: 20, WebhookRetryBase: 10 * time.Second, WebhookTimeout: 10 * time.Second,
		PaymentPackages: payments.DefaultPackages, PaymentReconcileAfter: 10 * time.Minute, PaymentSandbox: true,
		PaymentExpireAfter: payments.DefaultExpireAfter,
	}
}

func defaultRateLimits() map[string]string {
	m := map[string]string{}
	for class, r := range ratelimit.DefaultRates() {
		m[class] = r.String()
	}
	return m
}

// rateLimits are the limits of each route class (DefaultRates for a class not configured).
func (c *Config) rateLimits() (map[string]ratelimit.Rate, error) {
	rates := ratelimit.DefaultRates()
	var errs []error
	for class, v := range c.RateLimits {
		if _, ok := rates[class]; !ok {
			errs = append(errs, fmt.Errorf("rate limit of unknown class %q (classes: %s)", class, strings.Join(ratelimit.Classes, ", ")))
			continue
		}
		r, err := ratelimit.ParseRate(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("--rate-limit-%s: %v", class, err))
		}
		rates[class] = r
	}
	return rates, errors.Join(errs...)
}

// Validate joins every problem with the configuration, each naming the flag to fix.
func (c *Config) Validate() error {
	var errs []error
	if c.DatabaseURL == "" && c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir (DW_DATA_DIR) or --database-url (DW_DATABASE_URL) is required"))
	}
	for flag, v := range map[string]string{"--http": c.HTTP, "--bind": c.Bind, "--remote": c.Remote} {
		if _, _, err := net.SplitHostPort(v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q must be host:port", flag, v))
		}
	}
	for flag, v := range map[string]string{"--advertise": c.Advertise, "--advertise-remote": c.AdvertiseRemote} {
		if v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q must be host:port", flag, v))
		}
	}
	for _, j := range c.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			errs = append(errs, fmt.Errorf("--join %q must be a comma-separated list of host:port", j))
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert (DW_TLS_CERT) and --tls-key (DW_TLS_KEY) go together: both for HTTPS, neither for plain HTTP behind a proxy"))
	}
	if _, err := c.gossipKey(); err != nil {
		errs = append(errs, err)
	}
	if n := countSet(c.ClusterTLSCert, c.ClusterTLSKey, c.ClusterTLSCA); n != 0 && n != 3 {
		errs = append(errs, errors.New("--cluster-tls-cert, --cluster-tls-key and --cluster-tls-ca (DW_CLUSTER_TLS_*) go together: all three for mutual TLS between nodes, or none"))
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("--metrics-addr %q must be host:port", c.MetricsAddr))
		}
	}
	for i, k := range c.JWTPreviousKeys {
		if len(k) < 32 {
			errs = append(errs, fmt.Errorf("--jwt-previous-keys (DW_JWT_PREVIOUS_KEYS): key %d is shorter than 32 bytes", i+1))
		}
	}
	if c.JWTKey != "" && len(c.JWTKey) < 32 {
		errs = append(errs, errors.New("--jwt-key (DW_JWT_KEY) must be at least 32 bytes; leave it empty to generate one"))
	}
	if c.AccessTTL < time.Minute || c.AccessTTL > 24*time.Hour {
		errs = append(errs, errors.New("--access-ttl must be between 1m and 24h"))
	}
	if c.CommitWorkers < 1 || c.CommitWorkers > 64 {
		errs = append(errs, errors.New("--commit-workers must be between 1 and 64"))
	}
	if c.PriceInterpretation < 0 {
		errs = append(errs, errors.New("--price-interpretation must be 0 or more points"))
	}
	if c.JobMaxAttempts < 1 || c.JobMaxAttempts > 20 {
		errs = append(errs, errors.New("--job-max-attempts must be between 1 and 20"))
	}
	if c.JobWorkers < 1 || c.JobWorkers > 4096 {
		errs = append(errs, errors.New("--job-workers must be between 1 and 4096"))
	}
	if c.JobAttemptTimeout < time.Second || c.JobExpiry < c.JobAttemptTimeout {
		errs = append(errs, errors.New("--job-attempt-timeout must be at least 1s and at most --job-expiry"))
	}
	if c.ResultRetention < time.Second {
		errs = append(errs, errors.New("--result-retention must be at least 1s"))
	}
	if c.JobLease < time.Second || c.JobLease > 10*time.Minute {
		errs = append(errs, errors.New("--job-lease must be between 1s and 10m"))
	}
	if c.LLMBaseURL != "" && !strings.HasPrefix(c.LLMBaseURL, "http://") && !strings.HasPrefix(c.LLMBaseURL, "https://") {
		errs = append(errs, errors.New("--llm-base-url must be an http(s) URL such as http://localhost:11434/v1"))
	}
	errs = append(errs, c.validateLimits()...)
	errs = append(errs, c.validateMail()...)
	errs = append(errs, c.validateWebhooks()...)
	errs = append(errs, c.validatePush()...)
	errs = append(errs, c.validatePayments()...)
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, errors.New("--log-level must be debug, info, warn or error"))
	}
	if err := ingest.CheckRoots(c.IngestRoots, c.DataDir); err != nil {
		errs = append(errs, errors.New(dw.MessageOf(err)))
	}
	if c.WSMaxPerUser < 1 {
		errs = append(errs, errors.New("--ws-max-per-user (DW_WS_MAX_PER_USER) must be at least 1"))
	}
	if c.RateLimit != "on" && c.RateLimit != "off" {
		errs = append(errs, errors.New("--rate-limit (DW_RATE_LIMIT) must be on or off"))
	}
	if _, err := c.rateLimits(); err != nil {
		errs = append(errs, err)
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				errs = append(errs, fmt.Errorf("--trusted-proxies %q must be a comma-separated list of IP addresses or CIDRs", p))
			}
		}
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, errors.New("--log-format must be json or text"))
	}
	return errors.Join(errs...)
}

// gossipKey decodes --gossip-key (nil when unset). Its errors never quote the key.
func (c *Config) gossipKey() ([]byte, error) {
	if c.GossipKey == "" {
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(c.GossipKey))
	if err != nil || (len(key) != 16 && len(key) != 24 && len(key) != 32) {
		return nil, errors.New("--gossip-key (DW_GOSSIP_KEY) must be the base64 of 16, 24 or 32 random bytes, the same on every node (make one with: openssl rand -base64 32)")
	}
	return key, nil
}

func countSet(vs ...string) int {
	n := 0
	for _, v := range vs {
		if v != "" {
			n++
		}
	}
	return n
}

// jwtKey returns the configured key, or the one kept in the data directory (made on first use).
func (c *Config) jwtKey() ([]byte, error) {
	if c.JWTKey != "" {
		return []byte(c.JWTKey), nil
	}
	if c.DataDir == "" {
		return nil, errors.New("no --jwt-key (DW_JWT_KEY) and no --data-dir to keep a generated one in")
	}
	path := filepath.Join(c.DataDir, "jwt.key")
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return b, nil
	}
	if err := os.MkdirAll(c.DataDir, 0o711); err != nil {
		return nil, err
	}
	key, err := generateKey()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process made it first
		return os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, err
	}
	return key, f.Close()
}

// validateLimits checks the login limits and the captcha settings.
func (c *Config) validateLimits() []error {
	var errs []error
	l := c.LoginLimits
	for flag, v := range map[string]int{"--login-captcha-after": l.LoginCaptchaAfter, "--login-address-captcha-after": l.AddressCaptchaAfter,
		"--login-address-limit": l.AddressLimit, "--register-free": l.RegisterFree, "--register-limit": l.RegisterLimit} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1", flag))
		}
	}
	for flag, v := range map[string]time.Duration{"--login-window": l.LoginWindow, "--register-window": l.RegisterWindow} {
		if v < time.Second || v > 7*24*time.Hour {
			errs = append(errs, fmt.Errorf("%s must be between 1s and 168h", flag))
		}
	}
	switch c.Captcha {
	case captcha.KindPoW:
		if c.CaptchaPoWMax < 100 || c.CaptchaPoWMax > 100_000_000 {
			errs = append(errs, errors.New("--captcha-pow-max must be between 100 and 100000000"))
		}
	case captcha.KindTurnstile, captcha.KindHCaptcha:
		if c.CaptchaSecret == "" || c.CaptchaSiteKey == "" {
			errs = append(errs, fmt.Errorf("--captcha %s needs --captcha-secret (DW_CAPTCHA_SECRET) and --captcha-site-key (DW_CAPTCHA_SITE_KEY)", c.Captcha))
		}
		if u := c.CaptchaVerifyURL; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			errs = append(errs, errors.New("--captcha-verify-url must be an http(s) URL"))
		}
	case captcha.KindOff:
	default:
		errs = append(errs, errors.New("--captcha must be pow, turnstile, hcaptcha or off"))
	}
	return errs
}
