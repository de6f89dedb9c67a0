package cli

import (
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/ratelimit"
)

func serveCmd(stderr io.Writer) *cobra.Command {
	cfg := node.Defaults()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run one cluster node: gateway, grains and workers",
		Long: `Run one cluster node. With no --database-url it starts a private PostgreSQL under
--data-dir from the installed server binaries. With no --join it forms a one-node cluster.`,
		Args: cobra.NoArgs,
	}
	f := dbFlags(cmd, &cfg)
	f.str(&cfg.HTTP, "http", "gateway listen address")
	f.str(&cfg.NodeName, "node-name", "name of this node in logs and metrics")
	f.str(&cfg.ClusterName, "cluster-name", "cluster name: nodes of other clusters are ignored")
	f.str(&cfg.Bind, "bind", "memberlist gossip address host:port")
	f.str(&cfg.Advertise, "advertise", "memberlist address other nodes reach (default: --bind)")
	f.list(&cfg.Join, "join", "memberlist addresses of nodes to join, comma-separated")
	f.str(&cfg.Remote, "remote", "actor remote (gRPC) address host:port")
	f.str(&cfg.AdvertiseRemote, "advertise-remote", "actor remote address other nodes reach (default: --remote)")
	f.str(&cfg.TLSCert, "tls-cert", "gateway HTTPS certificate (PEM, chain after the leaf); with --tls-key; reloaded when the file changes; none: plain HTTP for use behind a proxy")
	f.str(&cfg.TLSKey, "tls-key", "private key of --tls-cert (PEM)")
	f.secret(&cfg.GossipKey, "gossip-key", "memberlist gossip encryption key, base64 of 16, 24 or 32 bytes, the same on every node (openssl rand -base64 32)")
	f.str(&cfg.ClusterTLSCert, "cluster-tls-cert", "this node's certificate for mutual TLS between nodes (PEM; IP or DNS SAN of --advertise-remote); with --cluster-tls-key and --cluster-tls-ca")
	f.str(&cfg.ClusterTLSKey, "cluster-tls-key", "private key of --cluster-tls-cert (PEM)")
	f.str(&cfg.ClusterTLSCA, "cluster-tls-ca", "CA certificate (PEM) that signs every node's --cluster-tls-cert")
	f.str(&cfg.MetricsAddr, "metrics-addr", "serve /metrics on this host:port of its own instead of on the gateway")
	f.secret(&cfg.JWTKey, "jwt-key", "HS256 signing key (≥ 32 bytes), the same on every node; empty: generated into --data-dir")
	var previousKeys string
	f.secret(&previousKeys, "jwt-previous-keys", "former --jwt-key values, comma-separated, whose access tokens are still accepted during a key rotation (nothing is signed with them)")
	f.dur(&cfg.AccessTTL, "access-ttl", "access token lifetime")
	f.dur(&cfg.RefreshTTL, "refresh-ttl", "refresh token lifetime")
	f.boolean(&cfg.SecureCookies, "secure-cookies", "mark the refresh cookie Secure (turn off only for plain-HTTP development)")
	f.num(&cfg.CommitWorkers, "commit-workers", "group commits in flight at once")
	f.boolean(&cfg.Demo, "demo", "create the demo accounts of the README")
	f.num(&cfg.PriceInterpretation, "price-interpretation", "points held and charged per interpretation job")
	f.num(&cfg.JobMaxAttempts, "job-max-attempts", "attempts per job before it fails (retries back off exponentially, with jitter)")
	f.num(&cfg.JobWorkers, "job-workers", "job attempts running at once on this node")
	f.dur(&cfg.JobAttemptTimeout, "job-attempt-timeout", "time limit of one job attempt")
	f.dur(&cfg.JobExpiry, "job-expiry", "a job not finished by then fails and its points are returned")
	f.dur(&cfg.JobLease, "job-lease", "a job whose node went silent this long is taken over by another node")
	f.dur(&cfg.ResultRetention, "result-retention", "how long interpretation results are kept")
	ingestRootFlag(cmd, &cfg.IngestRoots)
	f.str(&cfg.PProf, "pprof", "serve Go profiling at this private address, e.g. 127.0.0.1:6060 (off by default)")
	f.str(&cfg.LLMBaseURL, "llm-base-url", "OpenAI-compatible API (OpenAI, Ollama, vLLM, llama.cpp), e.g. http://localhost:11434/v1; empty: the built-in interpreter")
	f.str(&cfg.LLMModel, "llm-model", "model name for --llm-base-url")
	f.secret(&cfg.LLMAPIKey, "llm-api-key", "API key for --llm-base-url")
	f.str(&cfg.Captcha, "captcha", "captcha asked beyond the free rates: pow (self-hosted proof of work, ALTCHA widget), turnstile, hcaptcha or off")
	f.secret(&cfg.CaptchaSecret, "captcha-secret", "turnstile/hcaptcha: the server's secret for siteverify")
	f.str(&cfg.CaptchaSiteKey, "captcha-site-key", "turnstile/hcaptcha: the widget's site key, given to clients with the challenge")
	f.str(&cfg.CaptchaVerifyURL, "captcha-verify-url", "turnstile/hcaptcha: siteverify URL (default: the provider's)")
	f.num(&cfg.CaptchaPoWMax, "captcha-pow-max", "pow: the largest number a challenge hides (the work asked of a client)")
	f.dur(&cfg.LoginLimits.LoginWindow, "login-window", "how long a failed login counts against its address")
	f.num(&cfg.LoginLimits.LoginCaptchaAfter, "login-captcha-after", "failed logins of one address against one account before it needs a captcha for it")
	f.num(&cfg.LoginLimits.AddressCaptchaAfter, "login-address-captcha-after", "failed logins of one address in all before its every login needs a captcha")
	f.num(&cfg.LoginLimits.AddressLimit, "login-address-limit", "failed logins of one address in all before its logins are refused (429) for the rest of --login-window")
	f.dur(&cfg.LoginLimits.RegisterWindow, "register-window", "how long a registration counts against its address")
	f.num(&cfg.LoginLimits.RegisterFree, "register-free", "registrations of one address before the next needs a captcha")
	f.num(&cfg.LoginLimits.RegisterLimit, "register-limit", "registrations of one address before the next is refused (429)")
	f.dur(&cfg.LoginLimits.ResetWindow, "reset-window", "how long a password-reset request counts against its address, and a reset mail against its account")
	f.num(&cfg.LoginLimits.ResetCaptchaTarget, "reset-captcha-after", "password-reset requests of one address for one email before the next needs a captcha")
	f.num(&cfg.LoginLimits.ResetCaptchaAddress, "reset-address-captcha-after", "password-reset requests of one address in all before its every request needs a captcha")
	f.num(&cfg.LoginLimits.ResetLimit, "reset-limit", "password-reset requests of one address before the next is refused (429)")
	f.num(&cfg.LoginLimits.ResetMailsPerEmail, "reset-mails-per-email", "reset mails one account gets within --reset-window, whoever asks (further requests are answered alike and mail nothing)")
	f.str(&cfg.RateLimit, "rate-limit", "on, or off for a trusted deployment or a test: the per-class limits below")
	rates := map[string]*string{}
	for _, class := range ratelimit.Classes {
		v := cfg.RateLimits[class]
		rates[class] = &v
		f.str(&v, "rate-limit-"+class, "requests per key and window of the "+class+" routes, COUNT/WINDOW (s, m, h or e.g. 10m) or off, shared by the cluster")
	}
	f.num(&cfg.WSMaxPerUser, "ws-max-per-user", "WebSockets one user may hold open on this node at once (beyond: 429 too_many_streams)")
	f.list(&cfg.TrustedProxies, "trusted-proxies", "IPs or CIDRs of the proxies whose X-Forwarded-For names the client, comma-separated (default: none, the peer is the client)")
	f.str(&cfg.PublicURL, "public-url", "where browsers reach the system, e.g. https://dw.example.com: mail links (<public-url>/reset-password?token=…) point there (default: http://<--http>)")
	f.str(&cfg.SMTPAddr, "smtp-addr", "SMTP server host:port for outgoing mail (STARTTLS when offered); empty: mails stay in the outbox (dw mail outbox)")
	f.str(&cfg.SMTPFrom, "smtp-from", "sender address of outgoing mail, e.g. \"Divine Whispers <no-reply@dw.example.com>\"")
	f.str(&cfg.SMTPUser, "smtp-user", "SMTP user name (a password goes in clear only over TLS or to localhost); empty: no authentication")
	f.secret(&cfg.SMTPPassword, "smtp-password", "SMTP password of --smtp-user")
	f.str(&cfg.ECPayMerchantID, "ecpay-merchant-id", "ECPay (綠界) merchant id (MerchantID); empty: no ECPay payments")
	f.secret(&cfg.ECPayHashKey, "ecpay-hash-key", "ECPay HashKey of --ecpay-merchant-id (signs CheckMacValue)")
	f.secret(&cfg.ECPayHashIV, "ecpay-hash-iv", "ECPay HashIV of --ecpay-merchant-id (signs CheckMacValue)")
	f.str(&cfg.ECPayBase, "ecpay-base", "ECPay payment host (default https://payment.ecpay.com.tw; ECPay's test environment: https://payment-stage.ecpay.com.tw)")
	f.secret(&cfg.StripeSecretKey, "stripe-secret-key", "Stripe API secret key (sk_…); empty: no Stripe payments")
	f.secret(&cfg.StripeWebhookSecret, "stripe-webhook-secret", "signing secret (whsec_…) of the Stripe webhook endpoint <public-url>/api/v1/payments/webhooks/stripe")
	f.str(&cfg.StripeAPIBase, "stripe-api-base", "Stripe API base URL (default: https://api.stripe.com; e.g. stripe-mock's for tests)")
	f.boolean(&cfg.WebhookAllowPrivate, "webhook-allow-private", "let webhook endpoints be loopback, private or link-local addresses (tests, on-premises receivers); off: refused at registration and at delivery (SSRF)")
	f.num(&cfg.WebhookLowBalance, "webhook-low-balance", "points: wallet.low_balance is sent when a wallet's available points fall below this")
	f.dur(&cfg.WebhookRetryBase, "webhook-retry-base", "wait before a failed webhook delivery's second attempt, doubled at each further one (up to 2h apart, for 24h)")
	f.dur(&cfg.WebhookTimeout, "webhook-timeout", "time limit of one webhook delivery request")
	f.str(&cfg.VAPIDPublicKey, "vapid-public-key", "Web Push VAPID public key (base64url, P-256), the same on every node; empty with --vapid-private-key: generated into --data-dir")
	f.secret(&cfg.VAPIDPrivateKey, "vapid-private-key", "Web Push VAPID private key (base64url) of --vapid-public-key")
	f.str(&cfg.VAPIDSubject, "vapid-subject", "contact push services may use, an https URL or an email address (default: --public-url)")
	f.boolean(&cfg.PushAllowPrivate, "push-allow-private", "send Web Push notices to endpoints at loopback or private addresses (tests, on-premises push services)")
	f.str(&cfg.PaymentPackages, "payment-packages", "point packages on sale, id:points:currency:price comma-separated (price in major units, e.g. small:100:TWD:150,intl:500:USD:4.99)")
	f.dur(&cfg.PaymentReconcileAfter, "payment-reconcile-after", "a payment pending this long is looked up at its provider (a lost notification is caught up)")
	f.dur(&cfg.PaymentExpireAfter, "payment-expire-after", "a payment its provider still calls unpaid this long is failed and no longer asked about (a later paid notification still credits it)")
	f.boolean(&cfg.PaymentSandbox, "payment-sandbox", "the sandbox payment provider: a checkout page of the node's own, no money moves (turn off in production)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := f.check(); err != nil {
			return err
		}
		for _, k := range strings.Split(previousKeys, ",") {
			if k = strings.TrimSpace(k); k != "" {
				cfg.JWTPreviousKeys = append(cfg.JWTPreviousKeys, k)
			}
		}
		for class, v := range rates {
			cfg.RateLimits[class] = *v
		}
		return node.Run(cmd.Context(), cfg, newLogger(cfg, stderr))
	}
	return cmd
}
