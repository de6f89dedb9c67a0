package gateway

import (
	"context"
	"io/fs"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/actors"
	"github.com/divinewhispers/dw/auth"
	"github.com/divinewhispers/dw/payments"
	"github.com/divinewhispers/dw/payments/sandbox"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/push"
	"github.com/divinewhispers/dw/ratelimit"
	"github.com/divinewhispers/dw/session"
	"github.com/divinewhispers/dw/settings"
	"github.com/divinewhispers/dw/webhooks"
)

// Config is what the gateway needs from its node.
type Config struct {
	Accounts *account.Service
	Issuer   *auth.Issuer
	Sessions *session.Sessions // whether a token's session is still open; nil: read from Store on every request
	Wallets  *actors.Wallets
	Store    *persistence.Store // reads, and poem sets and draws
	Jobs     *actors.Jobs
	Events   *actors.Events  // live events; nil: WebSocket and SSE answer unavailable
	Charger  *actors.Charger // posts usage charges a new mapping created; may be nil
	// ScanSource asks a source's ingest grain to scan now; nil: the scan route answers unavailable.
	ScanSource func(ctx context.Context, sourceID string) error
	// IngestRoots are the directories ingest sources may name (see ingest.CheckDir).
	IngestRoots []string
	// Ready reports whether the node can serve: database reachable, cluster joined.
	Ready         func(ctx context.Context) error
	Registry      *prometheus.Registry // nil: no /metrics
	MetricsOff    bool                 // /metrics is served elsewhere (--metrics-addr): not here
	Log           *slog.Logger
	SecureCookies bool // mark the refresh cookie Secure (on unless serving plain HTTP in development)
	BodyLimit     int  // bytes; 0 = 1 MiB
	// Limiter applies the rate limits of each route class; nil: no limits.
	Limiter *ratelimit.Limiter
	// TrustedProxies (IPs or CIDRs) are the proxies whose X-Forwarded-For names the client.
	TrustedProxies []string
	// MaxStreamsPerUser bounds the WebSockets one user holds open on this node at once; 0 = 16.
	// (A job's SSE stream ends with its job.)
	MaxStreamsPerUser int
	// WebApp is the web app's files served at / (index.html at the root); nil: the embedded
	// build of package web (webapp.go).
	WebApp fs.FS
	// FormActions are origins besides the node's own that the web app's forms may post to (the
	// Content-Security-Policy's form-action): a payment provider's hosted checkout.
	FormActions []string
	// Webhooks is the outgoing webhooks core (webhooks_handlers.go); nil: its routes answer
	// unavailable.
	Webhooks *webhooks.Service
	// Settings is the runtime configuration (config_handlers.go); nil: its routes answer unavailable.
	Settings *settings.Service
	// Push keeps the devices that get a notice when a job ends; nil: the push routes answer 503.
	Push *push.Service
	// Accounting is compute accounting's service; nil: one over Store, IngestRoots and Charger.
	Accounting *accounting.Service
	// Payments sells points (payments_handlers.go); nil: the payment routes answer unavailable.
	Payments *payments.Service
	// Sandbox is the sandbox provider whose checkout page the node serves (sandbox_pay.go); nil: off.
	Sandbox *sandbox.Provider
}

// Server is a configured fiber app.
type Server struct {
	cfg     Config
	App     *fiber.App
	metrics *httpMetrics
	proxies []netip.Prefix // TrustedProxies
	streams streamCounts   // open WebSockets per user
}

const (
	roleAny   = "*" // any authenticated user
	localUser = "claims"
	localKey  = "trace"
)

// route is one row of the API table.
type route struct {
	method, path string
	roles        []string // nil: public; {roleAny}: any signed-in user; else these roles
	summary      string
	body         string // OpenAPI schema of the request body ("" = none)
	bodyOptional bool
	status       int    // success status
	result       string // OpenAPI schema of the success body
	handler      func(s *Server, c *fiber.Ctx) error
	idempotent   bool   // honours Idempotency-Key
	websocket    bool   // a WebSocket endpoint: the token may come as ?access_token=
	class        string // rate-limit class; "": reads for GET, writes otherwise (classOf)
}

var (
	admins       = []string{account.RoleAdmin}
	moneyMovers  = []string{account.RoleAdmin, account.RoleService}
	operators    = []string{account.RoleAdmin, account.RoleOperator}
	signedIn     = []string{roleAny}
	apiRoutes    []route
	routeQueries = map[string][]string{
		"/api/v1/wallets/:id/transactions": {"type", "status", "from", "to", "sort", "page_size", "cursor"},
		"/api/v1/admin/users":              {"q", "role", "status", "sort", "page", "page_size"},
		"/api/v1/admin/audit-logs":         {"actor_id", "action", "target_id", "from", "to", "page_size", "cursor"},
		"/api/v1/draws":                    {"set", "from", "to", "sort", "page_size", "cursor"},
		"/api/v1/jobs":                     {"status", "type", "topic", "q", "from", "to", "sort", "page_size", "cursor"},
		"/api/v1/ws":                       {"access_token"},

		"/api/v1/accounting/errors":       {"source", "limit", "page_size", "cursor"},
		"/api/v1/accounting/quotas":       {"wallet_id", "page_size", "cursor"},
		"/api/v1/accounting/quota-events": {"wallet_id", "limit", "page_size", "cursor"},
		"/api/v1/accounting/charges":      {"wallet_id", "status", "limit", "page_size", "cursor"},
		"/api/v1/accounting/users":        {"cluster", "q", "limit", "page_size", "cursor"},
		"/api/v1/accounting/sources":      {"page_size", "cursor"},
		"/api/v1/accounting/mappings":     {"page_size", "cursor"},
		"/api/v1/accounting/rates":        {"page_size", "cursor"},

		"/api/v1/accounting/sources/:id/files": {"page_size", "cursor"},
		"/api/v1/accounting/overview":          {"from", "to", "top"},
		"/api/v1/me/usage":                     {"from", "to", "bucket"},
		"/api/v1/accounting/usage": {"group_by", "bucket", "from", "to", "format",
			"wallet", "user", "group", "account", "partition", "cluster"},
	}
)

// pageRoutes are HTML pages of the node's own outside the API and its document (the sandbox
// provider's checkout, sandbox_pay.go); an init of their file appends them.
var pageRoutes []route

// Each domain's file may add its own rows (and routeQueries and schemas entries) in an init of
// its own with apiRoutes = append(apiRoutes, ...): the table is the union, in file order.
func init() {
	apiRoutes = append(apiRoutes, []route{
		{method: "POST", path: "/api/v1/auth/register", class: ratelimit.ClassAuth, summary: "Create an account (role user) with its personal wallet", body: "RegisterRequest", status: 201, result: "User", handler: (*Server).register},
		{method: "POST", path: "/api/v1/auth/login", class: ratelimit.ClassAuth, summary: "Exchange email and password for tokens", body: "LoginRequest", status: 200, result: "Tokens", handler: (*Server).login},
		{method: "POST", path: "/api/v1/auth/refresh", class: ratelimit.ClassAuth, summary: "Rotate a refresh token (body or cookie) for a new pair", body: "RefreshRequest", bodyOptional: true, status: 200, result: "Tokens", handler: (*Server).refresh},
		{method: "POST", path: "/api/v1/auth/logout", class: ratelimit.ClassAuth, roles: signedIn, summary: "End the session of a refresh token", body: "RefreshRequest", bodyOptional: true, status: 204, handler: (*Server).logout},
		{method: "POST", path: "/api/v1/auth/password/reset-request", class: ratelimit.ClassAuth, summary: "Mail a single-use link to set a new password; the same answer whether or not the email has an account (limited per address: captcha, then 429)", body: "ResetRequest", status: 202, result: "ResetAccepted", handler: (*Server).resetRequest},
		{method: "POST", path: "/api/v1/auth/password/reset", class: ratelimit.ClassAuth, summary: "Set a new password with the token of a reset mail (once; ends every session; 400 invalid_reset_token for an unknown, used or expired token)", body: "PasswordReset", status: 204, handler: (*Server).resetPassword},
		{method: "GET", path: "/api/v1/me", roles: signedIn, summary: "The signed-in user", status: 200, result: "Me", handler: (*Server).me},
		{method: "GET", path: "/api/v1/me/usage", roles: signedIn, summary: "Compute usage of the cluster logins linked to the caller (by an admin), per login and optional day, week or month bucket, over UTC days [from, to) as for the accounting overview", status: 200, result: "MyUsage", handler: (*Server).myUsage},
		{method: "POST", path: "/api/v1/me/password", class: ratelimit.ClassAuth, roles: signedIn, summary: "Change the password (ends every session)", body: "PasswordRequest", status: 204, handler: (*Server).changePassword},
		{method: "GET", path: "/api/v1/wallets/:id", roles: signedIn, summary: "A wallet (owner, members, admin, service)", status: 200, result: "Wallet", handler: (*Server).getWallet},
		{method: "GET", path: "/api/v1/wallets/:id/transactions", roles: signedIn, summary: "A wallet's ledger, newest first", status: 200, result: "TransactionPage", handler: (*Server).listTransactions},
		{method: "POST", path: "/api/v1/wallets/:id/deposits", class: ratelimit.ClassMoney, roles: moneyMovers, summary: "Deposit points", body: "AmountRequest", status: 201, result: "Transaction", handler: (*Server).deposit, idempotent: true},
		{method: "POST", path: "/api/v1/wallets/:id/spends", class: ratelimit.ClassMoney, roles: moneyMovers, summary: "Spend points (409 insufficient_funds)", body: "AmountRequest", status: 201, result: "Transaction", handler: (*Server).spend, idempotent: true},
		{method: "POST", path: "/api/v1/wallets/:id/holds", class: ratelimit.ClassMoney, roles: moneyMovers, summary: "Reserve points until captured, released or expired", body: "HoldRequest", status: 201, result: "Transaction", handler: (*Server).hold, idempotent: true},
		{method: "POST", path: "/api/v1/holds/:id/capture", class: ratelimit.ClassMoney, roles: moneyMovers, summary: "Capture all or part of a hold; the rest is released", body: "CaptureRequest", bodyOptional: true, status: 201, result: "Transaction", handler: (*Server).capture, idempotent: true},
		{method: "POST", path: "/api/v1/holds/:id/release", class: ratelimit.ClassMoney, roles: moneyMovers, summary: "Release a hold", status: 201, result: "Transaction", handler: (*Server).release, idempotent: true},
		{method: "POST", path: "/api/v1/transactions/:id/refunds", class: ratelimit.ClassMoney, roles: moneyMovers, summary: "Refund all or part of a spend or capture", body: "CaptureRequest", bodyOptional: true, status: 201, result: "Transaction", handler: (*Server).refund, idempotent: true},
		{method: "POST", path: "/api/v1/wallets/:id/adjustments", class: ratelimit.ClassMoney, roles: admins, summary: "Adjust a balance by a signed amount, with a reason", body: "AdjustRequest", status: 201, result: "Transaction", handler: (*Server).adjust, idempotent: true},
		{method: "GET", path: "/api/v1/admin/users", roles: admins, summary: "Search, filter, sort and page users", status: 200, result: "UserPage", handler: (*Server).listUsers},
		{method: "PATCH", path: "/api/v1/admin/users/:id", roles: admins, summary: "Change a user's role or status", body: "UserPatch", status: 200, result: "User", handler: (*Server).patchUser},
		{method: "GET", path: "/api/v1/admin/audit-logs", roles: admins, summary: "The audit log, newest first", status: 200, result: "AuditPage", handler: (*Server).listAudit},

		// Compute accounting.
		{method: "POST", path: "/api/v1/wallets", roles: operators, summary: "Create a shared wallet (409 wallet_name_taken)", body: "SharedWalletRequest", status: 201, result: "SharedWallet", handler: (*Server).createSharedWallet},
		{method: "GET", path: "/api/v1/wallets/:id/quotas", roles: signedIn, summary: "A wallet's quotas with the usage of their current period (owner, members, admin, service)", status: 200, result: "QuotaList", handler: (*Server).walletQuotas},
		{method: "GET", path: "/api/v1/accounting/sources", roles: operators, summary: "Ingest sources, by name. Pages: page_size (1–1000, default 1000) and cursor, the next_cursor of the previous page (400 bad_cursor for one not given out).", status: 200, result: "SourceList", handler: (*Server).listSources},
		{method: "POST", path: "/api/v1/accounting/sources", roles: operators, summary: "Add an ingest source (validated; the directory must exist on the node)", body: "SourceRequest", status: 201, result: "Source", handler: (*Server).createSource},
		{method: "GET", path: "/api/v1/accounting/sources/:id", roles: operators, summary: "An ingest source", status: 200, result: "Source", handler: (*Server).getSource},
		{method: "PATCH", path: "/api/v1/accounting/sources/:id", roles: operators, summary: "Change a source's interval, enabled, glob, timezone or dir", body: "SourcePatch", status: 200, result: "Source", handler: (*Server).patchSource},
		{method: "DELETE", path: "/api/v1/accounting/sources/:id", roles: operators, summary: "Remove a source with its file and error rows (the usage it read stays)", status: 204, handler: (*Server).deleteSource},
		{method: "POST", path: "/api/v1/accounting/sources/:id/scan", roles: operators, summary: "Ask the source's ingest grain to scan now (503 scan_unavailable when this node cannot)", bodyOptional: true, status: 202, result: "ScanRequested", handler: (*Server).scanSource},
		{method: "GET", path: "/api/v1/accounting/sources/:id/files", roles: operators, summary: "The files a source has read, by path. Pages: page_size (1–1000, default 1000) and cursor, the next_cursor of the previous page (400 bad_cursor for one not given out).", status: 200, result: "ProcessedFileList", handler: (*Server).sourceFiles},
		{method: "GET", path: "/api/v1/accounting/errors", roles: operators, summary: "Ingest line errors, newest first (by time, then id; of one source by name). Pages: page_size (1–1000, default 50), or limit as before and cursor, the next_cursor of the previous page (400 bad_cursor for one not given out).", status: 200, result: "IngestErrorList", handler: (*Server).ingestErrors},
		{method: "GET", path: "/api/v1/accounting/mappings", roles: operators, summary: "Group-mapping rules, oldest first (by creation, then id). Pages: page_size (1–1000, default 1000) and cursor, the next_cursor of the previous page (400 bad_cursor for one not given out).", status: 200, result: "MappingList", handler: (*Server).listMappings},
		{method: "POST", path: "/api/v1/accounting/mappings", roles: operators, summary: "Add a group-mapping rule (or an exclusion) and charge the unassigned usage it covers", body: "MappingRequest", status: 201, result: "MappingCreated", handler: (*Server).createMapping},
		{method: "DELETE", path: "/api/v1/accounting/mappings/:id", roles: operators, summary: "Remove a group-mapping rule (usage already charged stays charged)", status: 204, handler: (*Server).deleteMapping},
		{method: "GET", path: "/api/v1/accounting/rates", roles: operators, summary: "Charge rates by cluster, partition and effective date. Pages: page_size (1–1000, default 1000) and cursor, the next_cursor of the previous page (400 bad_cursor for one not given out).", status: 200, result: "RateList", handler: (*Server).listRates},
		{method: "POST", path: "/api/v1/accounting/rates", roles: operators, summary: "Add a charge rate (prices jobs stored from now on)", body: "RateRequest", status: 201, result: "Rate", handler: (*Server).createRate},
		{method: "DELETE", path: "/api/v1/accounting/rates/:id", roles: operators, summary: "Remove a charge rate", status: 204, handler: (*Server).deleteRate},
		{method: "GET", path: "/api/v1/accounting/quotas", roles: operators, summary: "Quotas with the usage of their current period, by wallet id and period. Pages: page_size (1–1000, default 1000) and cursor, the next_cursor of the previous page (400 bad_cursor for one not given out).", status: 200, result: "QuotaList", handler: (*Server).listQuotas},
		{method: "PUT", path: "/api/v1/accounting/quotas", roles: operators, summary: "Create or replace a wallet's quota for a period", body: "QuotaRequest", status: 200, result: "Quota", handler: (*Server).putQuota},
		{method: "DELETE", path: "/api/v1/accounting/quotas/:id", roles: operators, summary: "Remove a quota", status: 204, handler: (*Server).deleteQuota},
		{method: "GET", path: "/api/v1/accounting/quota-events", roles: operators, summary: "Quota thresholds crossed, newest first (by time, then threshold, quota, period and metric). Pages: page_size (1–1000, default 100), or limit as before and cursor, the next_cursor of the previous page (400 bad_cursor for one not given out).", status: 200, result: "QuotaEventList", handler: (*Server).listQuotaEvents},
		{method: "GET", path: "/api/v1/accounting/charges", roles: operators, summary: "Usage charges, newest first (by id). Pages: page_size (1–1000, default 100), or limit as before and cursor, the next_cursor of the previous page (400 bad_cursor for one not given out).", status: 200, result: "ChargeList", handler: (*Server).listCharges},
		{method: "GET", path: "/api/v1/accounting/users", roles: operators, summary: "Cluster logins seen in the logs (q: login prefix), by cluster and login. Pages: page_size (1–10000, default 500), or limit as before and cursor, the next_cursor of the previous page (400 bad_cursor for one not given out).", status: 200, result: "ClusterUserList", handler: (*Server).listClusterUsers},
		{method: "PUT", path: "/api/v1/accounting/users/:cluster/:login", roles: admins, summary: "Link a cluster login to a platform user (\"\" unlinks)", body: "ClusterUserLink", status: 200, result: "ClusterUser", handler: (*Server).linkClusterUser},
		{method: "GET", path: "/api/v1/accounting/overview", roles: operators, summary: "Usage headline over UTC days [from, to): from and to are dates or RFC 3339 times counted by their UTC day, to exclusive (to=2026-02-01 ends with January 31); default from 1970-01-01 to tomorrow", status: 200, result: "Overview", handler: (*Server).overview},
		{method: "GET", path: "/api/v1/accounting/usage", roles: operators, summary: "Usage grouped by a dimension and an optional day, week or month bucket, over UTC days [from, to) as for the overview; filters on any dimension (wallet: an id, a shared wallet's name, unassigned or excluded); JSON, or CSV with format=csv or Accept: text/csv", status: 200, result: "UsageReport", handler: (*Server).usage},

		{method: "GET", path: "/api/v1/poem-sets", summary: "Poem sets", status: 200, result: "PoemSetList", handler: (*Server).listSets},
		{method: "GET", path: "/api/v1/poem-sets/:set/poems", summary: "A poem set with all its poems", status: 200, result: "PoemSet", handler: (*Server).getSet},
		{method: "GET", path: "/api/v1/poem-sets/:set/poems/:n", summary: "One poem", status: 200, result: "Poem", handler: (*Server).getPoem},
		{method: "POST", path: "/api/v1/poem-sets", roles: admins, summary: "Create or replace a whole poem set (validated; all or nothing)", body: "PoemSet", status: 201, handler: (*Server).putSet},
		{method: "PUT", path: "/api/v1/poem-sets/:set/poems/:n", roles: admins, summary: "Replace one poem", body: "Poem", status: 200, result: "Poem", handler: (*Server).putPoem},
		{method: "DELETE", path: "/api/v1/poem-sets/:set", roles: admins, summary: "Delete a poem set", status: 204, handler: (*Server).deleteSet},
		{method: "POST", path: "/api/v1/draws", class: ratelimit.ClassDraws, roles: signedIn, summary: "Draw a poem (crypto/rand), optionally confirmed by moon blocks (擲筊)", body: "DrawRequest", status: 201, result: "Draw", handler: (*Server).createDraw},
		{method: "GET", path: "/api/v1/draws", roles: signedIn, summary: "The caller's draws", status: 200, result: "DrawPage", handler: (*Server).listDraws},
		{method: "GET", path: "/api/v1/draws/:id", roles: signedIn, summary: "One of the caller's draws, with its poem", status: 200, result: "Draw", handler: (*Server).getDraw},
		{method: "DELETE", path: "/api/v1/draws/:id", roles: signedIn, summary: "Remove a draw from the caller's history", status: 204, handler: (*Server).deleteDraw},
		{method: "POST", path: "/api/v1/jobs", class: ratelimit.ClassJobs, roles: signedIn, summary: "Submit a paid interpretation job (points held first; 402 insufficient_funds)", body: "JobRequest", status: 202, result: "JobAccepted", handler: (*Server).createJob, idempotent: true},
		{method: "GET", path: "/api/v1/jobs", roles: signedIn, summary: "The caller's jobs, newest first unless sort=created_at; filters: status, type, topic, q (words in the question or context, without case, at most 100 characters), from, to", status: 200, result: "JobPage", handler: (*Server).listJobs},
		{method: "GET", path: "/api/v1/jobs/:id", roles: signedIn, summary: "A job", status: 200, result: "Job", handler: (*Server).getJob},
		{method: "DELETE", path: "/api/v1/jobs/:id", class: ratelimit.ClassJobs, roles: signedIn, summary: "Cancel a job that has not finished (its hold is released)", status: 200, result: "Job", handler: (*Server).cancelJob},
		{method: "GET", path: "/api/v1/jobs/:id/result", roles: signedIn, summary: "A completed job's interpretation", status: 200, result: "JobResult", handler: (*Server).jobResult},
		{method: "GET", path: "/api/v1/jobs/:id/events", roles: signedIn, summary: "A job's live events as Server-Sent Events", status: 200, handler: (*Server).jobEvents},
		{method: "GET", path: "/api/v1/ws", class: ratelimit.ClassWS, roles: signedIn, summary: "WebSocket of the caller's job and wallet events (token: Authorization header or ?access_token=)", status: 101, websocket: true},
	}...)
}

// New builds the gateway.
func New(cfg Config) *Server {
	if cfg.MaxStreamsPerUser == 0 {
		cfg.MaxStreamsPerUser = 16
	}
	if cfg.BodyLimit == 0 {
		cfg.BodyLimit = 1 << 20
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Sessions == nil {
		cfg.Sessions = session.New(cfg.Store, cfg.Log) // not running: no cache, always right
	}
	var reg prometheus.Registerer // a nil *Registry must stay a nil interface: no metrics
	if cfg.Registry != nil {
		reg = cfg.Registry
	}
	cfg.Accounting = accountingService(cfg)
	s := &Server{cfg: cfg, metrics: newHTTPMetrics(reg), proxies: trustedProxies(cfg.TrustedProxies)}
	handleErr := errorHandler(cfg.Log)
	s.App = fiber.New(fiber.Config{
		AppName: "dw",
		// Strings from a fiber.Ctx alias fasthttp's buffers, which are reused by the next
		// request. Ours outlive the handler (idempotency keys and wallet ids are kept by grains
		// and the cluster's PID cache), so every value must be a copy.
		Immutable:             true,
		BodyLimit:             cfg.BodyLimit,
		ErrorHandler:          handleErr,
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          60 * time.Second,
		IdleTimeout:           120 * time.Second,
		// X-Forwarded-For is believed from the trusted proxies only (see clientAddress).
		EnableTrustedProxyCheck: true,
		TrustedProxies:          cfg.TrustedProxies,
		ProxyHeader:             proxyHeader(cfg.TrustedProxies),
		EnableIPValidation:      true,
	})
	s.App.Use(s.observe(handleErr))
	s.App.Use(hsts, securityHeaders(cfg.FormActions), noStore, checkInput) // validate.go, headers.go: before any route
	if len(s.proxies) > 0 {
		s.App.Use(s.clientAddress)
	}

	s.App.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	s.App.Get("/readyz", s.readyz)
	if cfg.Registry != nil && !cfg.MetricsOff {
		h := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
		s.App.Get("/metrics", func(c *fiber.Ctx) error { h(c.Context()); return nil })
	}
	s.App.Get("/api/v1/openapi.json", func(c *fiber.Ctx) error { return c.JSON(openAPI()) })
	for _, r := range apiRoutes {
		if r.websocket {
			s.App.Get(r.path, s.wsAuth, s.limit(classOf(r)), websocket.New(s.ws))
			continue
		}
		s.App.Add(r.method, r.path, s.guard(r.roles), s.limit(classOf(r)), s.wrap(r))
	}
	for _, r := range pageRoutes {
		s.App.Add(r.method, r.path, s.limit(classOf(r)), s.wrap(r))
	}
	s.webApp() // webapp.go: the web app at /, after the API
	s.App.Use(func(c *fiber.Ctx) error {
		return dw.Coded(dw.KindNotFound, "route_not_found", "no route %s %s; see /api/v1/openapi.json", c.Method(), c.Path())
	})
	return s
}

// hsts tells browsers to keep to HTTPS for two years, on responses served over TLS.
func hsts(c *fiber.Ctx) error {
	if c.Context().IsTLS() {
		c.Set(fiber.HeaderStrictTransportSecurity, "max-age=63072000; includeSubDomains")
	}
	return c.Next()
}

func (s *Server) wrap(r route) fiber.Handler {
	return func(c *fiber.Ctx) error { return r.handler(s, c) }
}

// observe records metrics and logs, and renders errors here so the status is known.
func (s *Server) observe(handleErr fiber.ErrorHandler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		trace := c.Get("X-Request-Id")
		if trace == "" || len(trace) > 100 {
			trace = uuid.NewString()
		}
		c.Locals(localKey, trace)
		c.Set("X-Request-Id", trace)
		if err := c.Next(); err != nil {
			if herr := handleErr(c, err); herr != nil {
				return herr
			}
		}
		route := c.Route().Path
		if route == "/" && c.Path() != "/" {
			route = "unmatched"
		}
		status := c.Response().StatusCode()
		s.metrics.observe(c.Method(), route, status, time.Since(start))
		if status >= 500 {
			s.cfg.Log.Error("http", "method", c.Method(), "route", route, "status", status, "trace_id", trace, "ms", time.Since(start).Milliseconds())
		}
		return nil
	}
}

// guard is the RBAC middleware of one route.
func (s *Server) guard(roles []string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if roles == nil {
			return c.Next()
		}
		h := c.Get(fiber.HeaderAuthorization)
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" { // the scheme is case-insensitive (RFC 9110)
			return dw.Coded(dw.KindUnauthorized, "missing_token", "send Authorization: Bearer <access token>")
		}
		claims, err := s.cfg.Issuer.Verify(token)
		if err != nil {
			return dw.Coded(dw.KindUnauthorized, "invalid_token", "the access token is invalid or expired; log in or refresh")
		}
		// A well-signed token still ends with its session: logout, password change, suspension,
		// role change (a map lookup; the node hears of changes from PostgreSQL).
		if err := s.cfg.Sessions.Check(c.UserContext(), claims); err != nil {
			return err
		}
		c.Locals(localUser, claims)
		if roles[0] == roleAny {
			return c.Next()
		}
		for _, r := range roles {
			if claims.Role == r {
				return c.Next()
			}
		}
		return dw.Coded(dw.KindForbidden, "forbidden", "this needs the role %s", strings.Join(roles, " or "))
	}
}

func claimsOf(c *fiber.Ctx) *auth.Claims {
	cl, _ := c.Locals(localUser).(*auth.Claims)
	return cl
}

func traceOf(c *fiber.Ctx) string {
	t, _ := c.Locals(localKey).(string)
	return t
}

func (s *Server) readyz(c *fiber.Ctx) error {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			return &dw.Error{Kind: dw.KindUnavailable, Code: "not_ready", Message: err.Error()}
		}
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics(r prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dw_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dw_http_request_seconds", Help: "HTTP request latency by method and route.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14),
		}, []string{"method", "route"}),
	}
	if r != nil {
		r.MustRegister(m.requests, m.latency)
	}
	return m
}

func (m *httpMetrics) observe(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(method, route).Observe(d.Seconds())
}
