package handlers

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

func ctxFrom(peer string, xff ...string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(peer), Port: 4711}, nil)
	return ctx
}

// Finding 3 of the hardening issue: with TRUSTED_PROXY_HEADER the client
// address was the left-most X-Forwarded-For entry, which the client writes
// itself. It is the right-most entry not added by a trusted proxy.
func TestClientAddr_OfRightMostUntrusted(t *testing.T) {
	trusted, err := ParsePrefixes(DefaultTrustedProxies)
	require.NoError(t, err)
	ca := NewClientAddr("X-Forwarded-For", trusted)
	tests := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no header", "10.0.0.5", nil, "10.0.0.5"},
		{"one hop", "10.0.0.5", []string{"203.0.113.7"}, "203.0.113.7"},
		{"spoofed left-most", "10.0.0.5", []string{"1.1.1.1, 203.0.113.7"}, "203.0.113.7"},
		{"two trusted hops", "10.0.0.5", []string{"6.6.6.6, 203.0.113.7, 10.1.2.3"}, "203.0.113.7"},
		{"repeated header lines", "10.0.0.5", []string{"6.6.6.6", "203.0.113.7"}, "203.0.113.7"},
		{"untrusted peer ignores header", "198.51.100.9", []string{"203.0.113.7"}, "198.51.100.9"},
		{"garbage entry", "10.0.0.5", []string{"203.0.113.7, not-an-ip"}, "10.0.0.5"},
		{"with port", "10.0.0.5", []string{"203.0.113.7:5555"}, "203.0.113.7"},
		{"ipv6", "::1", []string{"2001:db8::1"}, "2001:db8::1"},
		{"all trusted", "10.0.0.5", []string{"192.168.1.1"}, "192.168.1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ca.Of(ctxFrom(tt.peer, tt.xff...)))
		})
	}
	assert.Equal(t, "10.0.0.5", NewClientAddr("", trusted).Of(ctxFrom("10.0.0.5", "203.0.113.7")), "no header configured: the peer")
}

func TestParsePrefixes(t *testing.T) {
	got, err := ParsePrefixes([]string{"10.0.0.0/8", "192.0.2.1", "::1"})
	require.NoError(t, err)
	assert.Len(t, got, 3)
	_, err = ParsePrefixes([]string{"nope"})
	assert.Error(t, err)
}
