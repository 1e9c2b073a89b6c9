package upstream

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// connectProxy is a minimal HTTP CONNECT proxy: every tunnel goes to
// backend, whatever host was asked for (so a test can use a name that does
// not resolve). It records the CONNECT targets and Proxy-Authorization
// values it saw; refuse makes it answer 403 instead.
type connectProxy struct {
	addr    string
	backend string
	refuse  bool
	mu      sync.Mutex
	targets []string
	auths   []string
}

func startConnectProxy(t *testing.T, backend string) *connectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &connectProxy{addr: ln.Addr().String(), backend: backend}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.serve(c)
			}()
		}
	}()
	return p
}

func (p *connectProxy) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		return
	}
	p.mu.Lock()
	p.targets = append(p.targets, req.Host)
	p.auths = append(p.auths, req.Header.Get("Proxy-Authorization"))
	refuse := p.refuse
	p.mu.Unlock()
	if refuse {
		_, _ = io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
		return
	}
	up, err := net.DialTimeout("tcp", p.backend, 2*time.Second)
	if err != nil {
		_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer up.Close()
	_, _ = io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, br); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

func (p *connectProxy) seen() (targets, auths []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...), append([]string(nil), p.auths...)
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// An https target is reached through the proxy of HTTPS_PROXY with a
// CONNECT tunnel, TLS end to end; UPSTREAM_PROXY overrides the variables.
func TestTransport_ConnectProxy(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"path":"`+r.URL.Path+`"}`)
	}))
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))
	// example.com is in httptest's certificate; the proxy, not this process,
	// resolves it (to the test server).
	target, err := url.Parse("https://example.com:" + port + "/v1")
	require.NoError(t, err)
	px := startConnectProxy(t, strings.TrimPrefix(srv.URL, "https://"))

	cases := []struct {
		name     string
		vars     map[string]string
		override string
		auth     string
	}{
		{"HTTPS_PROXY", map[string]string{"HTTPS_PROXY": "http://" + px.addr}, "", ""},
		{"https_proxy with credentials", map[string]string{"https_proxy": "http://u%20ser:p%40ss@" + px.addr}, "", "Basic " + base64.StdEncoding.EncodeToString([]byte("u ser:p@ss"))},
		{"UPSTREAM_PROXY overrides", map[string]string{"HTTPS_PROXY": "http://127.0.0.1:1"}, "http://" + px.addr, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := px.seen()
			targets := NewTargets([]Spec{{Name: "via-proxy", URL: target, Key: "sk-up"}}, ClientOptions{
				ConnectTimeout: 2 * time.Second,
				Proxy:          ProxyFromEnvironment(env(tc.vars), tc.override),
				TLSConfig:      &tls.Config{RootCAs: roots},
			})
			defer targets.Close()
			rl := NewRelay(targets, Options{ResponseTimeout: 5 * time.Second, StreamFirstByteTimeout: 5 * time.Second})
			res := rl.Do(chatRequest(false))
			require.Equal(t, Answered, res.Outcome, "%+v", res.Attempts)
			assert.Equal(t, 200, res.Resp.StatusCode())
			assert.Equal(t, `{"path":"/v1/chat/completions"}`, drain(t, res))
			got, auths := px.seen()
			require.Len(t, got, len(before)+1, "one tunnel")
			assert.Equal(t, "example.com:"+port, got[len(got)-1])
			assert.Equal(t, tc.auth, auths[len(auths)-1])
		})
	}
}

// A proxy that refuses the tunnel is named as the cause.
func TestTransport_ConnectProxyRefused(t *testing.T) {
	px := startConnectProxy(t, "127.0.0.1:1")
	px.refuse = true
	target, _ := url.Parse("http://upstream.example:8080/v1")
	targets := NewTargets([]Spec{{Name: "t", URL: target, Key: "k"}}, ClientOptions{
		ConnectTimeout: 2 * time.Second,
		Proxy:          ProxyFromEnvironment(env(nil), "http://"+px.addr),
	})
	defer targets.Close()
	rl := NewRelay(targets, Options{ResponseTimeout: 5 * time.Second, StreamFirstByteTimeout: 5 * time.Second})
	res := rl.Do(chatRequest(false))
	defer res.Release()
	assert.Equal(t, Unreachable, res.Outcome)
	require.Len(t, res.Attempts, 1)
	assert.Equal(t, CauseProxy, res.Attempts[0].Cause)
}

// Go's rules choose the proxy: by scheme, NO_PROXY excludes, lower-case
// names count, UPSTREAM_PROXY wins over both variables.
func TestProxyFromEnvironment(t *testing.T) {
	cases := []struct {
		name     string
		vars     map[string]string
		override string
		target   string
		want     string // "" for direct
	}{
		{"none", nil, "", "https://api.example.com/v1", ""},
		{"https", map[string]string{"HTTPS_PROXY": "http://p:3128"}, "", "https://api.example.com/v1", "http://p:3128"},
		{"http only for http", map[string]string{"HTTP_PROXY": "http://p:3128"}, "", "https://api.example.com/v1", ""},
		{"http", map[string]string{"HTTP_PROXY": "http://p:3128"}, "", "http://api.example.com/v1", "http://p:3128"},
		{"lower case", map[string]string{"https_proxy": "http://q:8080"}, "", "https://api.example.com/v1", "http://q:8080"},
		{"NO_PROXY domain", map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "example.com"}, "", "https://api.example.com/v1", ""},
		{"NO_PROXY other", map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "other.org"}, "", "https://api.example.com/v1", "http://p:3128"},
		{"override", map[string]string{"HTTPS_PROXY": "http://p:3128"}, "http://o:1080", "https://api.example.com/v1", "http://o:1080"},
		{"override for http", nil, "socks5://o:1080", "http://api.example.com/v1", "socks5://o:1080"},
		{"override, NO_PROXY", map[string]string{"NO_PROXY": "*"}, "http://o:1080", "https://api.example.com/v1", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(tc.target)
			require.NoError(t, err)
			got, err := ProxyFromEnvironment(env(tc.vars), tc.override).ProxyFor(u)
			require.NoError(t, err)
			if tc.want == "" {
				assert.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			assert.Equal(t, tc.want, got.String())
		})
	}
}
