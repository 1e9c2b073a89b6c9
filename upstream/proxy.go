package upstream

import (
	"errors"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpproxy"
	"golang.org/x/net/http/httpproxy"
)

// ProxyConfig chooses the outbound proxy for upstream connections, with Go's
// rules (golang.org/x/net/http/httpproxy): HTTPSProxy for https targets,
// HTTPProxy for http ones, none for a host NoProxy matches. Connections go
// through an http:// proxy as a CONNECT tunnel (for plain http targets too),
// or through a socks5:// proxy. A nil *ProxyConfig dials directly.
type ProxyConfig struct {
	httpproxy.Config
}

// ProxyFromEnvironment reads HTTPS_PROXY, HTTP_PROXY and NO_PROXY (and their
// lower-case forms); override, when not empty, is the proxy for every target
// (UPSTREAM_PROXY), NO_PROXY still applying. It returns nil when no proxy is set.
func ProxyFromEnvironment(getenv func(string) string, override string) *ProxyConfig {
	get := func(names ...string) string {
		for _, n := range names {
			if v := getenv(n); v != "" {
				return v
			}
		}
		return ""
	}
	c := httpproxy.Config{
		HTTPProxy:  get("HTTP_PROXY", "http_proxy"),
		HTTPSProxy: get("HTTPS_PROXY", "https_proxy"),
		NoProxy:    get("NO_PROXY", "no_proxy"),
	}
	if override != "" {
		c.HTTPProxy, c.HTTPSProxy = override, override
	}
	if c.HTTPProxy == "" && c.HTTPSProxy == "" {
		return nil
	}
	return &ProxyConfig{Config: c}
}

// ProxyFor returns the proxy a connection to u goes through, nil for none.
func (p *ProxyConfig) ProxyFor(u *url.URL) (*url.URL, error) {
	if p == nil {
		return nil, nil
	}
	return p.ProxyFunc()(u)
}

// errProxyURL marks an unusable proxy setting.
var errProxyURL = errors.New("unusable outbound proxy URL")

// dialer returns the function that opens a TCP connection (or a tunnel) for
// target u. The proxy is chosen once, here: the target's URL does not change.
func (p *ProxyConfig) dialer(u *url.URL, timeout time.Duration) func(string) (net.Conn, error) {
	pu, err := p.ProxyFor(u)
	if err != nil {
		return func(string) (net.Conn, error) { return nil, errors.Join(errProxyURL, err) }
	}
	if pu == nil {
		return func(addr string) (net.Conn, error) { return tcpDialer.DialDualStackTimeout(addr, timeout) }
	}
	d := &fasthttpproxy.Dialer{
		TCPDialer:      fasthttp.TCPDialer{DNSCacheDuration: time.Minute},
		Config:         httpproxy.Config{HTTPProxy: pu.String(), HTTPSProxy: pu.String()},
		DialDualStack:  true,
		Timeout:        timeout,
		ConnectTimeout: timeout,
	}
	dial, err := d.GetDialFuncForTLS(false, u.Scheme == "https")
	if err != nil {
		return func(string) (net.Conn, error) { return nil, errors.Join(errProxyURL, err) }
	}
	return func(addr string) (net.Conn, error) {
		c, err := dial(addr)
		if err != nil && strings.Contains(err.Error(), "could not connect to proxy addr") {
			// fasthttpproxy reports a CONNECT refused by the proxy only as text.
			return nil, &CauseError{Cause: CauseProxy, Err: err}
		}
		return c, err
	}
}
