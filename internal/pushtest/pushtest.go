// Package pushtest is a Web Push service for tests: it hands out subscriptions as a browser
// would (a P-256 key pair and an authentication secret per device), checks each delivery's VAPID
// signature (RFC 8292) and decrypts its aes128gcm body (RFC 8291), as a real push service and
// browser together do.
package pushtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Device is one subscribed browser: what it gives the application server, and its secret half.
type Device struct {
	ID       string
	Endpoint string
	P256dh   string // base64url, as PushSubscription.toJSON() gives it
	Auth     string
	priv     *ecdh.PrivateKey
	auth     []byte
}

// Delivery is one message the service took for a device.
type Delivery struct {
	Device    string
	Plaintext []byte
	TTL       string
	Topic     string
	Urgency   string
	Subject   string // the VAPID "sub"
}

// Server is a push service over HTTPS on 127.0.0.1.
type Server struct {
	*httptest.Server
	mu         sync.Mutex
	devices    map[string]*Device
	gone       map[string]bool
	failures   map[string]int // answers 503 this many more times
	deliveries []Delivery
	errors     []error
	vapidKey   string // the application server key the subscriptions were made for
}

// Start starts a push service; vapidPublicKey is the application server key (base64url) every
// delivery must be signed with.
func Start(t testing.TB, vapidPublicKey string) *Server {
	t.Helper()
	s := &Server{devices: map[string]*Device{}, gone: map[string]bool{}, failures: map[string]int{}, vapidKey: vapidPublicKey}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// SetApplicationKey sets the application server key (base64url) deliveries must be signed with.
func (s *Server) SetApplicationKey(k string) { s.mu.Lock(); s.vapidKey = k; s.mu.Unlock() }

// CertFile writes the server's certificate as PEM under dir and returns its path (for a child
// process's SSL_CERT_FILE).
func (s *Server) CertFile(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "pushtest-ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// NewDevice subscribes a new browser.
func (s *Server) NewDevice(t testing.TB) *Device {
	t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	idb := make([]byte, 12)
	_, _ = rand.Read(idb)
	id := base64.RawURLEncoding.EncodeToString(idb)
	d := &Device{ID: id, Endpoint: s.URL + "/push/" + id, priv: priv, auth: auth,
		P256dh: base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes()), Auth: base64.RawURLEncoding.EncodeToString(auth)}
	s.mu.Lock()
	s.devices[id] = d
	s.mu.Unlock()
	return d
}

// Gone makes the service answer 410 for d from now on (the browser unsubscribed).
func (s *Server) Gone(d *Device) { s.mu.Lock(); s.gone[d.ID] = true; s.mu.Unlock() }

// Fail makes the service answer 503 for d's next n deliveries.
func (s *Server) Fail(d *Device, n int) { s.mu.Lock(); s.failures[d.ID] = n; s.mu.Unlock() }

// Deliveries returns the messages taken so far for d ("" = every device).
func (s *Server) Deliveries(device string) []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Delivery
	for _, d := range s.deliveries {
		if device == "" || d.Device == device {
			out = append(out, d)
		}
	}
	return out
}

// Errors returns the deliveries the service refused as malformed (a test should expect none).
func (s *Server) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errors...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, "/push/")
	s.mu.Lock()
	d := s.devices[id]
	gone, fail := s.gone[id], s.failures[id]
	if fail > 0 {
		s.failures[id] = fail - 1
	}
	s.mu.Unlock()
	switch {
	case !ok || d == nil || r.Method != http.MethodPost:
		http.NotFound(w, r)
		return
	case gone:
		w.WriteHeader(http.StatusGone)
		return
	case fail > 0:
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	del, err := s.check(r, d)
	s.mu.Lock()
	if err != nil {
		s.errors = append(s.errors, err)
	} else {
		s.deliveries = append(s.deliveries, del)
	}
	s.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// check verifies a delivery as a push service (VAPID) and a browser (decryption) would.
func (s *Server) check(r *http.Request, d *Device) (Delivery, error) {
	del := Delivery{Device: d.ID, TTL: r.Header.Get("TTL"), Topic: r.Header.Get("Topic"), Urgency: r.Header.Get("Urgency")}
	if r.Header.Get("Content-Encoding") != "aes128gcm" {
		return del, errors.New("the Content-Encoding is not aes128gcm")
	}
	if del.TTL == "" {
		return del, errors.New("no TTL header")
	}
	s.mu.Lock()
	key := s.vapidKey
	s.mu.Unlock()
	sub, err := checkVAPID(r.Header.Get("Authorization"), key, "https://"+r.Host)
	if err != nil {
		return del, err
	}
	del.Subject = sub
	body, err := io.ReadAll(io.LimitReader(r.Body, 8192))
	if err != nil {
		return del, err
	}
	del.Plaintext, err = Decrypt(body, d.priv, d.auth)
	return del, err
}

// checkVAPID checks an Authorization header "vapid t=<JWT>, k=<public key>" (RFC 8292): the key
// is the one subscribed with, the JWT is ES256 by it, for this origin, not expired, and names a
// contact. It returns the contact.
func checkVAPID(h, wantKey, origin string) (string, error) {
	rest, ok := strings.CutPrefix(h, "vapid ")
	if !ok {
		return "", errors.New("the Authorization header is not vapid")
	}
	var tok, key string
	for _, part := range strings.Split(rest, ",") {
		part = strings.TrimSpace(part)
		if v, ok := strings.CutPrefix(part, "t="); ok {
			tok = v
		} else if v, ok := strings.CutPrefix(part, "k="); ok {
			key = v
		}
	}
	if key != strings.TrimRight(wantKey, "=") {
		return "", errors.New("VAPID key is not the application server key of the subscription")
	}
	raw, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil || len(raw) != 65 || raw[0] != 4 {
		return "", errors.New("VAPID key is not an uncompressed P-256 point")
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return "", fmt.Errorf("VAPID key: %w", err)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(origin), jwt.WithExpirationRequired())
	if err != nil {
		return "", fmt.Errorf("VAPID JWT: %w", err)
	}
	if exp, _ := claims.GetExpirationTime(); exp == nil || exp.After(time.Now().Add(24*time.Hour)) {
		return "", errors.New("VAPID JWT expires more than 24 hours ahead")
	}
	sub, _ := claims["sub"].(string)
	if !strings.HasPrefix(sub, "mailto:") && !strings.HasPrefix(sub, "https:") {
		return "", fmt.Errorf("VAPID sub %q is no contact (want a mailto: or https: URL)", sub)
	}
	return sub, nil
}

// Decrypt opens an aes128gcm message body (RFC 8188 framing, RFC 8291 keys) for the device
// whose private key and authentication secret are given: one record, as Web Push sends.
func Decrypt(body []byte, ua *ecdh.PrivateKey, authSecret []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("body shorter than the aes128gcm header")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if len(body) < 21+idlen || idlen != 65 {
		return nil, errors.New("keyid is not the application server's P-256 public key")
	}
	asPub, ciphertext := body[21:21+idlen], body[21+idlen:]
	if rs < 18 || len(ciphertext) > int(rs) {
		return nil, fmt.Errorf("one record of at most rs=%d bytes expected, got %d", rs, len(ciphertext))
	}
	as, err := ecdh.P256().NewPublicKey(asPub)
	if err != nil {
		return nil, err
	}
	secret, err := ua.ECDH(as)
	if err != nil {
		return nil, err
	}
	info := append(append([]byte("WebPush: info\x00"), ua.PublicKey().Bytes()...), asPub...)
	ikm, err := hkdf.Key(sha256.New, secret, authSecret, string(info), 32)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	// The last record ends with the delimiter 2, then zero padding.
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 || plain[i] != 2 {
		return nil, errors.New("no last-record delimiter")
	}
	return plain[:i], nil
}
