package node

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/auth"
	"github.com/divinewhispers/dw/captcha"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/persistence/pgserver"
)

func generateKey() ([]byte, error) {
	k, err := auth.GenerateKey()
	if err != nil {
		return nil, err
	}
	return []byte(hex.EncodeToString(k)), nil
}

// Database is an open, migrated database and how to let it go.
type Database struct {
	URL    string
	Store  *persistence.Store
	server *pgserver.Server // the embedded server, started or adopted by this process
}

// Close closes the pool and lets go of the embedded server: it is stopped unless another
// process (a `dw serve`, another command) still uses it (see pgserver.Server.Release).
func (d *Database) Close(ctx context.Context) error {
	if d.Store != nil {
		d.Store.Close()
	}
	if d.server != nil {
		return d.server.Release(ctx)
	}
	return nil
}

// OpenDatabase connects to --database-url, or to the embedded server under the data
// directory, which it adopts when it runs and starts otherwise; Close stops it when no other
// process uses it. own is true for a node (`dw serve`): as the only user it restarts a server
// left running with a smaller shared_buffers than cfg asks (by a killed command) instead of
// running with it; a command (own false) uses it as it is, and stops it at its end anyway.
func OpenDatabase(ctx context.Context, cfg Config, own bool, log *slog.Logger) (*Database, error) {
	d := &Database{URL: cfg.DatabaseURL}
	if d.URL == "" {
		srv, err := pgserver.Start(ctx, pgserver.Options{DataDir: cfg.DataDir, Logger: log,
			SharedBuffers: cfg.DBSharedBuffers, RestartSmaller: own})
		if err != nil {
			return nil, err
		}
		d.server, d.URL = srv, srv.URL()
	}
	if err := persistence.Migrate(ctx, d.URL); err != nil {
		_ = d.Close(context.Background())
		return nil, err
	}
	store, err := persistence.Open(ctx, d.URL, int32(cfg.DBMaxConns))
	if err != nil {
		_ = d.Close(context.Background())
		return nil, err
	}
	d.Store = store
	return d, nil
}

// Accounts builds the account core of a node on a store; with no --jwt-key it signs with the
// key kept in the data directory, made on first use.
func Accounts(cfg Config, store *persistence.Store) (*account.Service, *auth.Issuer, error) {
	key, err := cfg.jwtKey()
	if err != nil {
		return nil, nil, fmt.Errorf("JWT signing key: %w", err)
	}
	return accounts(cfg, store, key)
}

// CLIAccounts builds the account core for a command that signs no token (`dw user create`):
// it never writes a key file — with no --jwt-key and no key in the data directory it uses a
// random key that dies with the command (a command run with --database-url from any directory
// used to leave ./var/jwt.key behind).
func CLIAccounts(cfg Config, store *persistence.Store) (*account.Service, error) {
	key := []byte(cfg.JWTKey)
	if len(key) == 0 && cfg.DataDir != "" {
		key, _ = os.ReadFile(filepath.Join(cfg.DataDir, "jwt.key"))
	}
	if len(key) < auth.MinKeyLen {
		var err error
		if key, err = generateKey(); err != nil {
			return nil, err
		}
	}
	s, _, err := accounts(cfg, store, key)
	return s, err
}

func accounts(cfg Config, store *persistence.Store, key []byte) (*account.Service, *auth.Issuer, error) {
	var previous [][]byte
	for _, k := range cfg.JWTPreviousKeys {
		previous = append(previous, []byte(k))
	}
	iss, err := auth.NewIssuer(key, "dw", cfg.AccessTTL, previous...)
	if err != nil {
		return nil, nil, err
	}
	params := auth.DefaultParams
	if cfg.PasswordParams != nil {
		params = *cfg.PasswordParams
	}
	// One bound per process: every argon2id of this account core (logins, registrations,
	// password changes, the demo seeding and `dw user create`) runs through it.
	hasher, err := auth.NewHasher(auth.HasherOptions{Params: params})
	if err != nil {
		return nil, nil, err
	}
	cp, err := captcha.New(captcha.Config{Kind: cfg.Captcha, SiteKey: cfg.CaptchaSiteKey, Secret: cfg.CaptchaSecret,
		VerifyURL: cfg.CaptchaVerifyURL, PoWMax: int64(cfg.CaptchaPoWMax), Key: captchaKey(key), Spent: store})
	if err != nil {
		return nil, nil, err
	}
	return &account.Service{Store: store, Issuer: iss, Hasher: hasher, RefreshTTL: cfg.RefreshTTL,
		Limits: cfg.LoginLimits, Captcha: cp, PublicURL: cfg.publicURL()}, iss, nil
}

// registerHasherMetrics exposes the password hasher's bound: hashes running, callers queued,
// calls refused (answered 503 busy).
func registerHasherMetrics(r prometheus.Registerer, h *auth.Hasher) {
	r.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dw_password_hashes_in_flight", Help: "argon2id hashes running now."},
			func() float64 { return float64(h.Stats().InFlight) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "dw_password_hashes_queued", Help: "Password checks waiting for a hashing slot."},
			func() float64 { return float64(h.Stats().Queued) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "dw_password_hashes_refused_total", Help: "Password checks refused as busy (503)."},
			func() float64 { return float64(h.Stats().Refused) }),
	)
}

// captchaKey derives the proof-of-work HMAC key from the JWT key (the same on every node, so
// any node verifies what another asked), under a label of its own so that neither key can
// stand in for the other.
func captchaKey(jwtKey []byte) []byte {
	m := hmac.New(sha256.New, jwtKey)
	m.Write([]byte("dw captcha pow v1"))
	return m.Sum(nil)
}
