package upstream

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tcpPair returns both ends of a loopback TCP connection, ours wrapped.
func tcpPair(t *testing.T) (*conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	peer := <-accepted
	t.Cleanup(func() { raw.Close(); peer.Close() })
	return newConn(raw), peer
}

// A watched read calls onSilence after each period of silence, goes on
// reading after it (the timeout never reaches the caller), and fails with
// CauseTimeout at the idle cut, measured from the last byte.
func TestConn_WatchCallsOnSilenceThenCutsIdle(t *testing.T) {
	c, peer := tcpPair(t)
	calls := 0
	c.startWatch(600*time.Millisecond, 100*time.Millisecond, func() error { calls++; return nil })
	go func() {
		time.Sleep(250 * time.Millisecond)
		_, _ = peer.Write([]byte("late"))
	}()
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	require.NoError(t, err, "silence shorter than the idle cut is no error")
	assert.Equal(t, "late", string(buf[:n]))
	assert.GreaterOrEqual(t, calls, 1, "onSilence ran during 250 ms of silence (period 100 ms)")

	start := time.Now()
	calls = 0
	_, err = c.Read(buf)
	assert.Equal(t, CauseTimeout, CauseOf(err))
	assert.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond, "cut at the idle timeout after the last byte, not before")
	assert.GreaterOrEqual(t, calls, 3)
}

// An error from onSilence ends the read with it; an unwatched conn reads plainly.
func TestConn_WatchOnSilenceErrorEndsRead(t *testing.T) {
	c, _ := tcpPair(t)
	stop := errors.New("client gone")
	c.startWatch(5*time.Second, 50*time.Millisecond, func() error { return stop })
	_, err := c.Read(make([]byte, 4))
	assert.ErrorIs(t, err, stop)

	c.stopWatch()
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = c.Read(make([]byte, 4))
	assert.True(t, isTimeout(err), "unwatched: the deadline's error as it is")
}

// readable sees bytes that arrived on an idle connection, and its close,
// without consuming anything.
func TestConn_Readable(t *testing.T) {
	c, peer := tcpPair(t)
	assert.False(t, c.readable(), "nothing arrived")
	_, err := peer.Write([]byte("x"))
	require.NoError(t, err)
	require.Eventually(t, c.readable, 2*time.Second, 5*time.Millisecond)
	b := make([]byte, 1)
	_, err = io.ReadFull(c, b)
	require.NoError(t, err)
	assert.Equal(t, "x", string(b), "the peek consumed nothing")
	assert.False(t, c.readable())
	peer.Close()
	require.Eventually(t, c.readable, 2*time.Second, 5*time.Millisecond, "EOF is readable")
}

// Written counts what reached the socket.
func TestConn_WriteCounts(t *testing.T) {
	c, _ := tcpPair(t)
	_, err := c.Write([]byte("hello"))
	require.NoError(t, err)
	assert.Equal(t, int64(5), c.written)
}

// Defect found by the soak: the read deadline moves lazily, so when the proxy
// itself reads late (a slow client write, a busy machine), the deadline has
// already passed and Go reports a timeout without looking at the socket. Bytes
// the upstream sent in time must be read, not cut as a stall; the keep-alive
// hook must not run while they wait either.
func TestConn_LateReaderNotCutAsStalled(t *testing.T) {
	c, peer := tcpPair(t)
	calls := 0
	c.startWatch(100*time.Millisecond, 50*time.Millisecond, func() error { calls++; return nil })
	_, err := peer.Write([]byte("in time"))
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond) // the proxy is busy past the idle timeout
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	require.NoError(t, err, "the upstream was not silent: its bytes were waiting")
	assert.Equal(t, "in time", string(buf[:n]))
	assert.Zero(t, calls, "no keep-alive while data waits")

	// Silence after that is still cut at the idle timeout.
	_, err = c.Read(buf)
	assert.Equal(t, CauseTimeout, CauseOf(err))
}

// BenchmarkConn_readable is the idle check paid on every reuse of an
// upstream connection.
func BenchmarkConn_readable(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); accepted <- c }()
	raw, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(b, err)
	defer raw.Close()
	peer := <-accepted
	defer peer.Close()
	c := newConn(raw)
	b.ReportAllocs()
	for b.Loop() {
		if c.readable() {
			b.Fatal("idle connection reported readable")
		}
	}
}
