package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/divinewhispers/dw/internal/tlsfile"
)

// httpsConfig loads the gateway's certificate (nil, nil without --tls-cert).
func httpsConfig(cfg Config, log *slog.Logger) (*tls.Config, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	pair, err := tlsfile.LoadKeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	pair.OnReloadError = func(err error) { log.Error("--tls-cert: keeping the previous certificate", "err", err) }
	return tlsfile.Server(pair), nil
}

// listenHTTP opens the gateway's listener: HTTPS with tlsCfg, else plain HTTP, which it says
// once.
func listenHTTP(cfg Config, tlsCfg *tls.Config, log *slog.Logger) (net.Listener, error) {
	l, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("--http %s: %w", cfg.HTTP, err)
	}
	if tlsCfg == nil {
		log.Warn("gateway serves plain HTTP: run it behind a TLS-terminating proxy, or give --tls-cert and --tls-key", "http", l.Addr().String())
		return l, nil
	}
	return tls.NewListener(l, tlsCfg), nil
}

// clusterTLS loads the mutual TLS between nodes (nil, nil without --cluster-tls-*).
func clusterTLS(cfg Config, log *slog.Logger) (*tlsfile.Mutual, error) {
	if cfg.ClusterTLSCert == "" {
		return nil, nil
	}
	pair, err := tlsfile.LoadKeyPair(cfg.ClusterTLSCert, cfg.ClusterTLSKey)
	if err != nil {
		return nil, fmt.Errorf("--cluster-tls-cert/--cluster-tls-key: %w", err)
	}
	pair.OnReloadError = func(err error) { log.Error("--cluster-tls-cert: keeping the previous certificate", "err", err) }
	m, err := tlsfile.LoadMutualWith(pair, cfg.ClusterTLSCA)
	if err != nil {
		return nil, fmt.Errorf("--cluster-tls-ca: %w", err)
	}
	return m, nil
}

// serveMetrics serves /metrics of reg on a listener of its own (--metrics-addr).
func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (*http.Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics listener", "addr", addr, "err", err)
		}
	}()
	return srv, nil
}
