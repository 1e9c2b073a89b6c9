package main

import (
	"net"
	"testing"
)

// The load must come from several addresses: the proxy caps connections
// per address (MAX_CONNS_PER_IP, 1024 by default), and 5,000 streams from
// one address were refused (15,542 errors in the 5,000-stream scenario).
func TestDialSpread_ManySourceAddresses(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	seen := map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2 * clientAddrs {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			seen[host] = true
			c.Close()
		}
	}()
	for range 2 * clientAddrs {
		c, err := dialSpread(ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	<-done
	if len(seen) != clientAddrs {
		t.Fatalf("connections came from %d addresses, want %d: %v", len(seen), clientAddrs, seen)
	}
}
