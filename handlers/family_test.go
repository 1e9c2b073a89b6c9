package handlers

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawExchange serves app on a loopback port, writes raw to it and returns
// the parsed answer and its body.
func rawExchange(t *testing.T, app *fiber.App, raw string) (*http.Response, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	conn, err := net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = io.WriteString(conn, raw)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// Finding 4 of the hardening issue: fasthttp's message for a request it
// cannot parse quotes the request, Authorization header included; the
// answer must carry a fixed message instead.
func TestErrorHandler_MalformedRequestNeverEchoed(t *testing.T) {
	const secret = "client-key-ECHO-TEST-42"
	for _, tc := range []struct{ name, raw, shape string }{
		{"bad header line", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + secret + "\r\nX-Front-Secret: " + secret + "\r\nno colon here " + secret + "\r\n\r\n", `"error":{"message":"bad request"`},
		{"bad content length", "POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: " + secret + "\r\nContent-Length: 12" + secret + "\r\n\r\n", `"message":"bad request"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := fiber.New(fiber.Config{ErrorHandler: ErrorHandler, DisableStartupMessage: true})
			app.All("/*", func(c *fiber.Ctx) error { return c.SendString("ok") })
			resp, body := rawExchange(t, app, tc.raw)
			assert.Equal(t, 400, resp.StatusCode)
			// The old message was lower-cased: compare ignoring case.
			assert.NotContains(t, strings.ToLower(body), strings.ToLower(secret))
			assert.NotContains(t, strings.ToLower(body), "bearer")
			assert.Contains(t, body, tc.shape)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			assert.False(t, strings.Contains(resp.Header.Get("X-Front-Secret"), secret))
		})
	}
}
