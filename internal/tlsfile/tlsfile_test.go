package tlsfile_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/divinewhispers/dw/internal/testcert"
	"github.com/divinewhispers/dw/internal/tlsfile"
)

// serve accepts TLS connections with cfg until the test ends, answering "ok" after the handshake.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if err := c.(*tls.Conn).Handshake(); err == nil {
					_, _ = c.Write([]byte("ok"))
				}
			}()
		}
	}()
	return l.Addr().String()
}

// talk handshakes with addr and reads the server's "ok" (a refused client certificate shows
// only then under TLS 1.3).
func talk(addr string, cfg *tls.Config) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	if string(b) != "ok" {
		return errors.New("no answer")
	}
	return nil
}

func TestMutual(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, other := testcert.NewCA(t, dir, "ca"), testcert.NewCA(t, dir, "other")
	load := func(ca *testcert.CA, name string) *tlsfile.Mutual {
		p := ca.Issue(t, name)
		m, err := tlsfile.LoadMutual(p.CertFile, p.KeyFile, ca.CertFile)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	server := load(ca, "server")
	addr := serve(t, server.Server)
	noCert := &tls.Config{RootCAs: server.Client.RootCAs}
	for _, tc := range []struct {
		name   string
		client *tls.Config
		ok     bool
	}{
		{"same CA", load(ca, "good").Client, true},
		{"another CA", load(other, "bad").Client, false},
		{"no client certificate", noCert, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := talk(addr, tc.client.Clone())
			if (err == nil) != tc.ok {
				t.Fatalf("talk: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestServerRefusesOldTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := testcert.NewCA(t, dir, "ca")
	p := ca.Issue(t, "web")
	pair, err := tlsfile.LoadKeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, tlsfile.Server(pair))
	roots := pool(t, ca.CertFile)
	// The old clients below are served by a server that allows them: they do speak what they say.
	lax := serve(t, &tls.Config{MinVersion: tls.VersionTLS10, Certificates: []tls.Certificate{*pair.Certificate()},
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}})
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"TLS 1.3", &tls.Config{RootCAs: roots}, true},
		{"TLS 1.2 ECDHE+AEAD", &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12}, true},
		{"TLS 1.1", &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, false},
		{"TLS 1.2 CBC only", &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := talk(lax, tc.cfg); err != nil {
				t.Fatalf("a lax server refused the client: %v", err)
			}
			err := talk(addr, tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("talk: %v, want ok=%v", err, tc.ok)
			}
			t.Logf("talk: %v", err)
		})
	}
}

func TestKeyPairReloads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := testcert.NewCA(t, dir, "ca")
	p := ca.Issue(t, "web")
	pair, err := tlsfile.LoadKeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	var reloadErrs []error
	pair.OnReloadError = func(err error) { reloadErrs = append(reloadErrs, err) }
	first := pair.Certificate().Certificate[0]

	// A renewed certificate replaces the files: it is served within a couple of seconds.
	renewed := testcert.NewCA(t, t.TempDir(), "ca2").Issue(t, "web")
	for _, f := range [][2]string{{renewed.CertFile, p.CertFile}, {renewed.KeyFile, p.KeyFile}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "the renewed certificate", func() bool {
		return !bytes.Equal(pair.Certificate().Certificate[0], first)
	})
	second := pair.Certificate().Certificate[0]

	// A broken file keeps the last good pair and reports why.
	if err := os.WriteFile(p.CertFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the reload error", func() bool {
		c := pair.Certificate()
		if !bytes.Equal(c.Certificate[0], second) {
			t.Fatal("a broken certificate file replaced the good pair")
		}
		return len(reloadErrs) > 0
	})
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := testcert.NewCA(t, dir, "ca")
	p := ca.Issue(t, "n")
	for _, tc := range []struct{ name, cert, key, ca string }{
		{"missing cert", dir + "/nope.crt", p.KeyFile, ca.CertFile},
		{"key of another cert", p.CertFile, ca.Issue(t, "m").KeyFile, ca.CertFile},
		{"missing CA", p.CertFile, p.KeyFile, dir + "/nope.crt"},
		{"CA not PEM", p.CertFile, p.KeyFile, p.KeyFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tlsfile.LoadMutual(tc.cert, tc.key, tc.ca); err == nil {
				t.Fatal("loaded")
			}
		})
	}
}

func pool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatal("no certificate in", file)
	}
	return p
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
