package gateway

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/ratelimit"
)

// classOf is the rate-limit class of a route: its own, else reads for a GET and writes for
// any other method.
func classOf(r route) string {
	switch {
	case r.class != "":
		return r.class
	case r.method == fiber.MethodGet:
		return ratelimit.ClassReads
	default:
		return ratelimit.ClassWrites
	}
}

// limit is the rate-limit middleware of a route class. It runs after the route's guard: a
// signed-in caller is counted by user, anyone else (and every auth route, where the attacker
// is who is not signed in yet) by client address.
func (s *Server) limit(class string) fiber.Handler {
	l := s.cfg.Limiter
	if l == nil || !l.Limits(class) {
		return func(c *fiber.Ctx) error { return c.Next() }
	}
	return func(c *fiber.Ctx) error {
		key := "ip:" + addressKey(c.IP())
		if cl := claimsOf(c); cl != nil && class != ratelimit.ClassAuth {
			key = "user:" + cl.UserID
		}
		d := l.Allow(c.UserContext(), class, key)
		if d.Allowed {
			return c.Next()
		}
		return &dw.Error{Kind: dw.KindRateLimited, Code: "rate_limited", RetryAfter: d.RetryAfter,
			Message:    "too many requests of this kind (" + class + ": " + d.Limit.String() + "); retry after the Retry-After seconds",
			Extensions: map[string]any{"class": class, "limit": d.Limit.String()}}
	}
}

// trustedProxies parses --trusted-proxies (IPs or CIDRs; node.Config validated them).
func trustedProxies(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return out
}

func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddress runs when the peer is a trusted proxy (fiber ignores X-Forwarded-For from any
// other peer). It reduces X-Forwarded-For to the client's address (forwardedClient) so that
// c.IP() answers it everywhere (rate limits, audit rows).
func (s *Server) clientAddress(c *fiber.Ctx) error {
	if !c.IsProxyTrusted() {
		return c.Next()
	}
	if client := forwardedClient(c.Get(fiber.HeaderXForwardedFor), s.trusted); client == "" {
		c.Request().Header.Del(fiber.HeaderXForwardedFor) // c.IP() is then the peer's
	} else {
		c.Request().Header.Set(fiber.HeaderXForwardedFor, client)
	}
	return c.Next()
}

// forwardedClient reads the client's address from an X-Forwarded-For sent by a trusted proxy
// ("": none, the peer is the client). The header lists the addresses a request came through, each
// proxy adding its peer at the right: the client is the rightmost entry that is not itself a
// trusted proxy — anything left of it was written by the client and may be forged. An entry that
// is not an address (with or without a port) ends the walk.
func forwardedClient(xff string, trusted func(netip.Addr) bool) string {
	client := ""
	for xff != "" {
		i := strings.LastIndexByte(xff, ',')
		part := strings.TrimSpace(xff[i+1:])
		xff = xff[:max(i, 0)]
		a, err := netip.ParseAddr(part)
		if err != nil {
			ap, perr := netip.ParseAddrPort(part)
			if perr != nil {
				break
			}
			a = ap.Addr()
		}
		if a.Zone() != "" {
			break // a zone names an interface of the proxy's host, not a client
		}
		client = a.Unmap().String()
		if !trusted(a) {
			break
		}
	}
	return client
}

// proxyHeader is the header c.IP() reads behind trusted proxies ("" without any: the peer).
func proxyHeader(trusted []string) string {
	if len(trusted) == 0 {
		return ""
	}
	return fiber.HeaderXForwardedFor
}

// addressKey is the address a client is counted by: an IPv4 address, or the /64 of an IPv6 one
// (one host commonly holds a whole /64, and keys taken from it would each cost a new count).
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Unmap().Is4() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}
