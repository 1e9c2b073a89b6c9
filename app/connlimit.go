package app

import (
	"net"
	"net/netip"
	"sync"
)

// perIPLimit counts open client connections per TCP peer address
// (MAX_CONNS_PER_IP). fasthttp's own Server.MaxConnsPerIP wraps each
// connection in a type that hides the *net.TCPConn, which the proxy needs
// (lingering close; watching for a client that left while a request
// waits), so the count is kept here, in the listener.
type perIPLimit struct {
	max int
	mu  sync.Mutex
	n   map[netip.Addr]int
}

func newPerIPLimit(max int) *perIPLimit {
	if max <= 0 {
		return nil
	}
	return &perIPLimit{max: max, n: make(map[netip.Addr]int)}
}

// acquire counts a new connection from c's peer; false when the peer is at
// its limit (the connection is then not counted). It returns the release
// to call once, when the connection closes.
func (l *perIPLimit) acquire(c net.Conn) (func(), bool) {
	if l == nil {
		return func() {}, true
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return func() {}, true
	}
	ip := ap.Addr().Unmap()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[ip] >= l.max {
		return nil, false
	}
	l.n[ip]++
	return func() {
		l.mu.Lock()
		if l.n[ip]--; l.n[ip] <= 0 {
			delete(l.n, ip)
		}
		l.mu.Unlock()
	}, true
}
