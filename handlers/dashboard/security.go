package dashboard

import (
	"net"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/helmet"
)

// ContentSecurityPolicy is the policy the dashboard's pages are built for:
// no inline script or style, everything from the page's own origin, the
// websocket included.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; " +
	"base-uri 'none'; form-action 'self'"

func securityHeaders() fiber.Handler {
	return helmet.New(helmet.Config{
		ContentSecurityPolicy: ContentSecurityPolicy,
		XFrameOptions:         "DENY",
		ReferrerPolicy:        "no-referrer",
		ContentTypeNosniff:    "nosniff",
		PermissionPolicy:      "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
	})
}

// SecurityHeaders returns middleware (Fiber's helmet) that sets the
// dashboard's security headers: the Content-Security-Policy above,
// X-Frame-Options DENY, Referrer-Policy no-referrer, X-Content-Type-Options
// nosniff and helmet's cross-origin isolation defaults. Put it on each
// dashboard route (see the package doc); it is not meant for /v1/*, and
// app.Group("", it) would apply it there too.
func (d *Dashboard) SecurityHeaders() fiber.Handler { return d.headers }

// sameOrigin reports whether the request's Origin names the host the request
// was sent to: the Host header or the first X-Forwarded-Host.
//
// For forms (allowAbsent set) a missing Origin is accepted, and so is
// "Origin: null" unless the browser's Sec-Fetch-Site says the request is not
// same-origin. Browsers send "null" on a same-origin form POST when the page
// has Referrer-Policy: no-referrer (ours does), and send Sec-Fetch-Site only
// to HTTPS and localhost origins, so on plain HTTP "null" cannot be told
// apart further; the SameSite=Strict cookie covers that case. For the
// websocket (allowAbsent unset) a real, matching Origin is required:
// browsers always send one there.
func sameOrigin(c *fiber.Ctx, allowAbsent bool) bool {
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" || origin == "null" {
		if !allowAbsent {
			return false
		}
		switch c.Get("Sec-Fetch-Site") {
		case "", "same-origin":
			return true
		default: // "cross-site", "same-site", "none"
			return false
		}
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	want := canonicalHost(u.Host, u.Scheme)
	if h := string(c.Request().Host()); h != "" && canonicalHost(h, u.Scheme) == want {
		return true
	}
	if fh := c.Get(fiber.HeaderXForwardedHost); fh != "" {
		first, _, _ := strings.Cut(fh, ",")
		if first = strings.TrimSpace(first); first != "" && canonicalHost(first, u.Scheme) == want {
			return true
		}
	}
	return false
}

// canonicalHost lowercases host and drops the scheme's default port.
func canonicalHost(host, scheme string) string {
	host = strings.ToLower(host)
	if h, port, err := net.SplitHostPort(host); err == nil {
		if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
			if strings.Contains(h, ":") {
				return "[" + h + "]"
			}
			return h
		}
	}
	return host
}

// isHTTPS reports whether the client reached us over HTTPS: directly (TLS)
// or through a proxy that says so in X-Forwarded-Proto (first value).
func isHTTPS(c *fiber.Ctx) bool {
	if c.Context().IsTLS() {
		return true
	}
	xfp := c.Get(fiber.HeaderXForwardedProto)
	first, _, _ := strings.Cut(xfp, ",")
	return strings.EqualFold(strings.TrimSpace(first), "https")
}
