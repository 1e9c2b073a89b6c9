package handlers

import (
	"bytes"
	"net"
	"net/netip"

	"github.com/valyala/fasthttp"
)

// DefaultTrustedProxies are the address ranges a PaaS load balancer
// connects from: private, carrier-grade NAT, loopback and link-local ranges.
// A public address is never trusted by default.
var DefaultTrustedProxies = []string{
	"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
	"::1/128", "fc00::/7", "fe80::/10",
}

// ClientAddr finds the address of the client behind a request, for
// per-client throttling and logs. Without a header it is the TCP peer. With
// a header (X-Forwarded-For style, comma-separated, each proxy appending the
// address it saw) and a TCP peer that is a trusted proxy, it is the
// right-most entry not added by a trusted proxy: entries further left were
// written by the client itself and prove nothing.
type ClientAddr struct {
	header  string
	trusted []netip.Prefix
}

// NewClientAddr returns the resolver. header is TRUSTED_PROXY_HEADER (empty:
// always the TCP peer), trusted the TRUSTED_PROXIES ranges.
func NewClientAddr(header string, trusted []netip.Prefix) *ClientAddr {
	return &ClientAddr{header: header, trusted: trusted}
}

// ParsePrefixes parses CIDRs ("10.0.0.0/8") or single addresses.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Of returns the client's address as text (an IP without port).
func (ca *ClientAddr) Of(ctx *fasthttp.RequestCtx) string {
	peer := peerAddr(ctx.RemoteAddr())
	if ca.header == "" || !ca.isTrusted(peer) {
		return peer.String()
	}
	values := ctx.Request.Header.PeekAll(ca.header)
	// Walk the entries right to left, across repeated header lines too.
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for len(v) > 0 {
			entry := v
			if j := bytes.LastIndexByte(v, ','); j >= 0 {
				entry, v = v[j+1:], v[:j]
			} else {
				v = nil
			}
			a, ok := parseEntry(entry)
			if !ok {
				// Garbage cannot come from a trusted proxy: whoever wrote
				// it is the nearest untrusted party, so stop at the peer.
				return peer.String()
			}
			if !ca.isTrusted(a) {
				return a.String()
			}
			peer = a // every hop so far is trusted
		}
	}
	return peer.String()
}

func (ca *ClientAddr) isTrusted(a netip.Addr) bool {
	for _, p := range ca.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the TCP peer's IP (IPv4-mapped IPv6 unmapped).
func peerAddr(a net.Addr) netip.Addr {
	if tcp, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(tcp.IP); ok {
			return ip.Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.IPv4Unspecified()
}

// parseEntry parses one forwarded entry: an IP, optionally with a port
// ("1.2.3.4:80", "[::1]:80").
func parseEntry(b []byte) (netip.Addr, bool) {
	s := string(bytes.TrimSpace(b))
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
