package testkit

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSyncBuffer_Write(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = fmt.Fprintf(&b, "%d", i)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	assert.Len(t, b.String(), 800)
}

func TestFreePort(t *testing.T) {
	port := FreePort(t)
	require.Positive(t, port)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	require.NoError(t, err, "the port should be free to listen on")
	ln.Close()
}

func TestClosedAddr(t *testing.T) {
	addr := ClosedAddr(t)
	_, err := net.DialTimeout("tcp", addr, 2*time.Second)
	assert.Error(t, err, "nothing listens on %s", addr)
}
