// Package tlsfile builds the TLS configurations of a node from PEM files: the gateway's HTTPS
// and the mutual TLS between cluster nodes. Certificates and keys are re-read when their files
// change (checked at most once a second, on a handshake), so a renewed certificate is served
// without a restart; a CA file is read once.
package tlsfile

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// recheck is how often at most the files of a [KeyPair] are looked at again.
const recheck = time.Second

// cipherSuites are the TLS 1.2 suites offered: ECDHE key exchange with an AEAD cipher only.
// TLS 1.3's suites are not configurable in Go; its defaults are all modern.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// KeyPair is a certificate and its key read from two PEM files, read again when either file's
// size or modification time changes. A pair that fails to load later keeps the last good one
// in use (and OnReloadError, when set, is told).
type KeyPair struct {
	certFile, keyFile string
	// OnReloadError is called when changed files do not load; set it before first use.
	OnReloadError func(error)

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp
	checked time.Time
}

type fileStamp struct {
	size int64
	mod  time.Time
}

// LoadKeyPair reads the pair once, returning the error of a missing or bad file.
func LoadKeyPair(certFile, keyFile string) (*KeyPair, error) {
	k := &KeyPair{certFile: certFile, keyFile: keyFile}
	stamp, err := k.stamps()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("certificate %s with key %s: %w", certFile, keyFile, err)
	}
	k.cert, k.stamp, k.checked = &cert, stamp, time.Now()
	return k, nil
}

func (k *KeyPair) stamps() ([2]fileStamp, error) {
	var s [2]fileStamp
	for i, f := range []string{k.certFile, k.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return s, err
		}
		s[i] = fileStamp{fi.Size(), fi.ModTime()}
	}
	return s, nil
}

// Certificate returns the current certificate, reloading it first when its files changed.
func (k *KeyPair) Certificate() *tls.Certificate {
	k.mu.Lock()
	defer k.mu.Unlock()
	if time.Since(k.checked) < recheck {
		return k.cert
	}
	k.checked = time.Now()
	stamp, err := k.stamps()
	if err != nil || stamp == k.stamp {
		return k.cert // a file being replaced may be missing for a moment: keep the last pair
	}
	cert, err := tls.LoadX509KeyPair(k.certFile, k.keyFile)
	if err != nil {
		if k.OnReloadError != nil {
			k.OnReloadError(fmt.Errorf("reloading certificate %s: %w", k.certFile, err))
		}
		return k.cert
	}
	k.cert, k.stamp = &cert, stamp
	return k.cert
}

// Server returns the HTTPS configuration of the gateway: TLS 1.2 or later, ECDHE+AEAD suites
// for TLS 1.2, the certificate of pair.
func Server(pair *KeyPair) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: cipherSuites,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return pair.Certificate(), nil
		},
	}
}

// Mutual is the mutual TLS between cluster nodes: every node presents its certificate and
// accepts only peers whose certificate the CA signed.
type Mutual struct {
	// Server requires and verifies a client certificate against the CA.
	Server *tls.Config
	// Client presents the certificate and verifies the server against the CA and the address
	// dialled (so a node certificate names the host it advertises: IP or DNS SAN).
	Client *tls.Config
}

// LoadMutual reads a node's certificate, key and the cluster CA (PEM, one or more certificates).
func LoadMutual(certFile, keyFile, caFile string) (*Mutual, error) {
	pair, err := LoadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return LoadMutualWith(pair, caFile)
}

// LoadMutualWith is [LoadMutual] for a key pair already loaded.
func LoadMutualWith(pair *KeyPair, caFile string) (*Mutual, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	return NewMutual(pair, pool), nil
}

// NewMutual builds the configurations of [Mutual] from a key pair and the CAs to trust.
func NewMutual(pair *KeyPair, cas *x509.CertPool) *Mutual {
	if pair == nil || cas == nil {
		panic(errors.New("tlsfile: NewMutual needs a key pair and a CA pool"))
	}
	return &Mutual{
		Server: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			CipherSuites: cipherSuites,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    cas,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return pair.Certificate(), nil
			},
		},
		Client: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			CipherSuites: cipherSuites,
			RootCAs:      cas,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return pair.Certificate(), nil
			},
		},
	}
}
