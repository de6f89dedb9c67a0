package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	dw "github.com/divinewhispers/dw"
)

// forbidden are the networks an endpoint may not reach (SSRF): this host, private networks,
// link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, multicast and the
// reserved ranges. IPv4-mapped IPv6 addresses are unmapped before the check.
var forbidden = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network", unspecified
		"10.0.0.0/8",      // private
		"100.64.0.0/10",   // carrier-grade NAT
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local, cloud metadata
		"172.16.0.0/12",   // private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"192.168.0.0/16",  // private
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, broadcast
		"::/128",          // unspecified
		"::1/128",         // loopback
		"::/96",           // IPv4-compatible (deprecated)
		"64:ff9b::/96",    // NAT64: checked again on the IPv4 address it embeds
		"64:ff9b:1::/48",  // local-use NAT64
		"100::/64",        // discard
		"2001:db8::/32",   // documentation
		"fc00::/7",        // unique local
		"fe80::/10",       // link-local
		"fec0::/10",       // site-local (deprecated)
		"ff00::/8",        // multicast
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

// ForbiddenIP reports whether an endpoint may not be reached at ip: see forbidden.
func ForbiddenIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range forbidden {
		if p.Contains(ip) {
			return true
		}
	}
	// 6to4 (2002::/16) carries an IPv4 address in bits 16..48.
	if ip.Is6() {
		b := ip.As16()
		if b[0] == 0x20 && b[1] == 0x02 {
			return ForbiddenIP(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	return false
}

// Guard decides where deliveries may go. The zero Guard refuses every forbidden address and
// resolves with net.DefaultResolver.
type Guard struct {
	AllowPrivate bool // --webhook-allow-private: tests and on-premises receivers
	Resolver     *net.Resolver
}

var errForbidden = func(host string) error {
	return dw.Coded(dw.KindInvalid, "webhook_url_forbidden",
		"url: %s resolves to a loopback, private, link-local or otherwise reserved address; endpoints must be reachable on the public internet", truncate(host, 100))
}

// CheckURL validates raw (ValidateURL) and, unless private addresses are allowed, resolves its
// host and refuses it when any address it resolves to is forbidden. Errors: invalid (code
// invalid; webhook_url_forbidden; webhook_url_unresolvable when the host does not resolve).
func (g Guard) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	u, err := ValidateURL(raw)
	if err != nil || g.AllowPrivate {
		return u, err
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if ForbiddenIP(ip) {
			return nil, errForbidden(host)
		}
		return u, nil
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return nil, dw.Coded(dw.KindInvalid, "webhook_url_unresolvable", "url: the host %s does not resolve", truncate(host, 100))
	}
	for _, ip := range ips {
		if ForbiddenIP(ip) {
			return nil, errForbidden(host)
		}
	}
	return u, nil
}

// errDialForbidden is what a delivery to a forbidden address fails with.
var errDialForbidden = errors.New("the endpoint's address is loopback, private or reserved (refused)")

// control is the dialer's last word: it sees the address actually dialed, after DNS, so a host
// that resolved to a public address at registration and to a private one now is refused.
func (g Guard) control(_, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, errDialForbidden)
	}
	if ForbiddenIP(ap.Addr()) {
		return fmt.Errorf("dial %s: %w", ap.Addr(), errDialForbidden)
	}
	return nil
}

// Client is the HTTP client deliveries are sent with: every dialed address checked, no proxy
// (a proxy would dial for us, unchecked), no redirect followed, timeout per request.
func (g Guard) Client(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: g.control, Resolver: g.Resolver}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 16 << 10,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
