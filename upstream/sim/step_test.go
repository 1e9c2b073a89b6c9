package sim

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStep_Events(t *testing.T) {
	s := newServer(t, Options{})
	c := newClient(t, waitTimeout)
	events := []string{"event: a\ndata: 1\n\n", ": comment\n\n", "data: not json {\n\n"}
	s.Push(
		Step{Events: events, Header: map[string]string{"X-Test": "yes"}},
		Step{Status: 201, Events: []string{}, Header: map[string]string{"Content-Type": "text/event-stream; charset=utf-8"}},
	)

	got := do(t, c, "POST", s.URL()+"/chat/completions", `{}`)
	assert.Equal(t, 200, got.status)
	assert.Equal(t, "text/event-stream", got.header.Get("Content-Type"))
	assert.Equal(t, "no-cache", got.header.Get("Cache-Control"))
	assert.Equal(t, "yes", got.header.Get("X-Test"))
	assert.Equal(t, strings.Join(events, ""), got.body, "events verbatim")

	got = do(t, c, "POST", s.URL()+"/chat/completions", `{}`)
	assert.Equal(t, 201, got.status)
	assert.Equal(t, "text/event-stream; charset=utf-8", got.header.Get("Content-Type"))
	assert.Empty(t, got.body)
}

// TestStep_EventsArriveSeparately checks each event is flushed on its own:
// the first one is readable while the server still waits before the next.
func TestStep_EventsArriveSeparately(t *testing.T) {
	s := newServer(t, Options{})
	s.Push(Step{Events: []string{"data: 1\n\n", "data: 2\n\n"}, Interval: time.Hour})
	ctx, cancel := withTimeout(t)
	req, err := http.NewRequestWithContext(ctx, "POST", s.URL()+"/messages", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp, err := newClient(t, 0).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()

	buf := make([]byte, 64)
	n, err := resp.Body.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "data: 1\n\n", string(buf[:n]))
	cancel()
	assert.Equal(t, "/v1/messages", waitGone(t, s).Path)
}

// TestStep_BeforeEventHoldsEachEvent: BeforeEvent runs before each event is
// written, so a test can hold event 1 until the client read event 0.
func TestStep_BeforeEventHoldsEachEvent(t *testing.T) {
	s := newServer(t, Options{})
	read := make(chan struct{})
	held := make(chan int, 2)
	s.Push(Step{Events: []string{"data: 0\n\n", "data: 1\n\n"}, BeforeEvent: func(i int) {
		held <- i
		if i == 1 {
			select {
			case <-read:
			case <-time.After(waitTimeout):
			}
		}
	}})
	ctx, cancel := withTimeout(t)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", s.URL()+"/messages", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp, err := newClient(t, 0).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "data: 0\n", line, "event 0 arrives while event 1 is held")
	close(read)
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	assert.Equal(t, "\ndata: 1\n\n", string(rest))
	assert.Equal(t, 0, <-held)
	assert.Equal(t, 1, <-held)
}

func TestStep_HeaderDelayEndsWhenClientLeaves(t *testing.T) {
	s := newServer(t, Options{})
	s.Push(Step{HeaderDelay: time.Hour, Body: `{}`})
	_, err := newClient(t, 100*time.Millisecond).Post(s.URL()+"/chat/completions", "application/json", strings.NewReader(`{}`))
	require.Error(t, err)
	assert.Equal(t, "/v1/chat/completions", waitGone(t, s).Path)
}

func TestFault_Reset(t *testing.T) {
	s := newServer(t, Options{})
	s.Push(Step{Fault: FaultReset}, Step{Fault: FaultReset})

	conn := rawRequest(t, s, "POST", "/v1/chat/completions", `{"model":"m"}`)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(waitTimeout)))
	n, err := conn.Read(make([]byte, 1))
	assert.Equal(t, 0, n, "no response byte")
	assert.ErrorIs(t, err, syscall.ECONNRESET)

	_, err = newClient(t, waitTimeout).Post(s.URL()+"/chat/completions", "application/json", strings.NewReader(`{}`))
	assert.ErrorIs(t, err, syscall.ECONNRESET)
	assert.Equal(t, 2, s.Count(), "the request was read")
	noGone(t, s)
}

func TestFault_Close(t *testing.T) {
	s := newServer(t, Options{})
	s.Push(Step{Fault: FaultClose}, Step{Fault: FaultClose})

	conn := rawRequest(t, s, "POST", "/v1/messages", `{}`)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(waitTimeout)))
	n, err := conn.Read(make([]byte, 1))
	assert.Equal(t, 0, n, "no response byte")
	assert.ErrorIs(t, err, io.EOF, "clean close")

	_, err = newClient(t, waitTimeout).Post(s.URL()+"/messages", "application/json", strings.NewReader(`{}`))
	require.Error(t, err)
	assert.ErrorIs(t, err, io.EOF)
	noGone(t, s)
}

func TestFault_Hang(t *testing.T) {
	s := newServer(t, Options{})
	s.Push(Step{Fault: FaultHang})

	_, err := newClient(t, 150*time.Millisecond).Post(s.URL()+"/chat/completions", "application/json", strings.NewReader(`{"stream":true}`))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "client timeout: %v", err)
	assert.Equal(t, "/v1/chat/completions", waitGone(t, s).Path, "the handler saw the client leave")
}

// TestFault_HangEndsWhenClientLeavesWithRequestBehind: a client that
// sends its next request on the connection of a hung answer (it took
// unsolicited bytes for that answer) and then closes it. net/http stops
// watching the connection once those bytes arrive, so the handler waited
// for the request context until the server closed; the soak saw it as an
// upstream request still running. The hung handler must end when the
// client leaves, and say which request queued behind it unread.
func TestFault_HangEndsWhenClientLeavesWithRequestBehind(t *testing.T) {
	for _, st := range []Step{{Fault: FaultHang}, {Fault: FaultStall, Events: OpenAIStream([]string{"a"}, 1, 1)[:1]}} {
		t.Run(st.Fault.String(), func(t *testing.T) {
			s := newServer(t, Options{})
			s.Push(st)
			conn, err := net.Dial("tcp", s.Addr())
			require.NoError(t, err)
			defer conn.Close()
			req := func(id string) string {
				return "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + IDHeader + ": " + id +
					"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
			}
			_, err = io.WriteString(conn, req("first"))
			require.NoError(t, err)
			require.Eventually(t, func() bool { return s.Active() == 1 }, waitTimeout, 5*time.Millisecond, "the first request is being answered")
			_, err = io.WriteString(conn, req("second"))
			require.NoError(t, err)
			time.Sleep(50 * time.Millisecond) // let the server see the second request's bytes
			require.NoError(t, conn.Close())

			assert.Eventually(t, func() bool { return s.Active() == 0 }, waitTimeout, 5*time.Millisecond, "the hung handler saw the client leave")
			assert.Equal(t, "first", s.Behind("second"), "the second request queued behind the first's answer")
			assert.Empty(t, s.Behind("first"))
			assert.Equal(t, 1, s.Count(), "the second request was never read")
		})
	}
}

func TestFault_CutStream(t *testing.T) {
	s := newServer(t, Options{})
	events := OpenAIStream([]string{"a", "b"}, 1, 2)[:3] // no finish, usage or [DONE]
	s.Push(
		Step{Fault: FaultCutStream, Events: events, Header: map[string]string{"X-Test": "cut"}},
		Step{Fault: FaultCutStream, Body: `{"id":"cut in half"}`},
		Step{Fault: FaultCutStream, Status: 500},
	)
	c := newClient(t, waitTimeout)

	resp, err := c.Post(s.URL()+"/chat/completions", "application/json", strings.NewReader(`{"stream":true}`))
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	assert.Equal(t, "cut", resp.Header.Get("X-Test"))
	assert.Equal(t, []string{"chunked"}, resp.TransferEncoding)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, strings.Join(events, ""), string(body), "every event arrived before the cut")

	resp, err = c.Post(s.URL()+"/chat/completions", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, int64(len(`{"id":"cut in half"}`)), resp.ContentLength)
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, `{"id":"cut`, string(body))

	resp, err = c.Post(s.URL()+"/chat/completions", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	assert.Equal(t, 500, resp.StatusCode)
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	noGone(t, s)
}

func TestFault_CutStreamGoneDuringWait(t *testing.T) {
	s := newServer(t, Options{})
	s.Push(Step{Fault: FaultCutStream, Events: []string{"data: 1\n\n", "data: 2\n\n"}, Interval: time.Hour})
	conn := rawRequest(t, s, "POST", "/v1/messages", `{}`)
	resp := readHead(t, conn)
	assert.Equal(t, 200, resp.StatusCode)
	conn.Close()
	assert.Equal(t, "/v1/messages", waitGone(t, s).Path)
}

func TestFault_Stall(t *testing.T) {
	for _, tt := range []struct {
		name string
		step Step
		want string
	}{
		{"stream", Step{Fault: FaultStall, Events: []string{"data: 1\n\n", "data: 2\n\n"}}, "data: 1\n\ndata: 2\n\n"},
		{"body", Step{Fault: FaultStall, Body: `{"abcdef":1}`}, `{"abcd`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Options{})
			s.Push(tt.step)
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, "POST", s.URL()+"/chat/completions", strings.NewReader(`{}`))
			require.NoError(t, err)
			resp, err := newClient(t, 0).Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()

			got := make([]byte, len(tt.want))
			_, err = io.ReadFull(resp.Body, got)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))

			// Then silence: a further read blocks until the client gives up.
			more := make(chan error, 1)
			go func() {
				_, err := resp.Body.Read(make([]byte, 1))
				more <- err
			}()
			select {
			case err := <-more:
				t.Fatalf("read after the stall returned: %v", err)
			case <-time.After(150 * time.Millisecond):
			}
			cancel()
			select {
			case err := <-more:
				assert.ErrorIs(t, err, context.Canceled)
			case <-time.After(waitTimeout):
				t.Fatal("read not ended by cancel")
			}
			assert.Equal(t, "/v1/chat/completions", waitGone(t, s).Path)
		})
	}
}

func TestFault_String(t *testing.T) {
	assert.Equal(t, "FaultReset", FaultReset.String())
	assert.Equal(t, "FaultStall", FaultStall.String())
	assert.Equal(t, "Fault(42)", Fault(42).String())
}

// readHead reads the status line and headers from a raw connection.
func readHead(t *testing.T, conn net.Conn) *http.Response {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(waitTimeout)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Time{}))
	return resp
}
