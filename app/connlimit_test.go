package app

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// Finding 1: connections per client address are capped (MAX_CONNS_PER_IP):
// over the cap a connection is closed at once; under it, and after others
// close, the proxy serves as before.
func TestPerIPLimit_RefusesOverTheCap(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{})
	cfg := testConfig([]string{up.URL()}, []string{upKeyA})
	cfg.MaxConnsPerIP = 4
	p := startProxy(t, cfg)
	addr := strings.TrimPrefix(p.base, "http://")
	var held []net.Conn
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// The 5th is closed at once (a reset may even beat the handshake).
	if extra, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		_ = extra.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = io.WriteString(extra, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if n, err := extra.Read(make([]byte, 64)); err == nil || n > 0 {
			t.Errorf("the 5th connection from one address was served (%d bytes, %v)", n, err)
		}
		extra.Close()
	}
	for _, c := range held {
		c.Close()
	}
	// The places are freed: bounded wait for the proxy to see the closes.
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, p.base+"/v1/models", nil)
		req.Header.Set("Authorization", "Bearer "+clientKey)
		resp, err := p.client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not served after the held connections closed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPerIPLimit_Acquire(t *testing.T) {
	if newPerIPLimit(0) != nil {
		t.Error("0 means no limit")
	}
	l := newPerIPLimit(2)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var releases []func()
	for i := range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		rel, ok := l.acquire(s)
		if ok != (i < 2) {
			t.Fatalf("connection %d: acquired %v", i, ok)
		}
		if ok {
			releases = append(releases, rel)
		}
	}
	releases[0]()
	releases[0] = func() {}
	c, _ := net.Dial("tcp", ln.Addr().String())
	defer c.Close()
	s, _ := ln.Accept()
	defer s.Close()
	if _, ok := l.acquire(s); !ok {
		t.Error("a released place is not given again")
	}
}
