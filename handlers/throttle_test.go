package handlers

import (
	"bytes"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func throttleApp(t *testing.T, cfg AuthThrottleConfig) (*fiber.App, *AuthThrottle) {
	t.Helper()
	th := NewAuthThrottle(cfg)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	keys := NewKeys([]string{"right-key"})
	app.All("/*", th.Handler, func(c *fiber.Ctx) error {
		if _, ok := keys.Check(&c.Request().Header); !ok {
			return sendError(c, FamilyOf(c.Context().URI().Path()), 401, errAuth, MsgPermissionDenied)
		}
		return c.SendString("ok")
	})
	return app, th
}

func doReq(t *testing.T, app *fiber.App, path, key, xff string) (int, string, string) {
	t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+key)
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := app.Test(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Retry-After")
}

// Finding 3: wrong keys were answered 401 at ~28,000 guesses/s, forever.
// After a burst of failures an address gets 429 in the family's shape —
// whatever key it sends — counted and logged at a bounded pace.
func TestAuthThrottle_HandlerThrottlesKeyGuessing(t *testing.T) {
	trusted, _ := ParsePrefixes(append(DefaultTrustedProxies, "0.0.0.0/32")) // app.Test comes from 0.0.0.0
	failures := prometheus.NewCounter(prometheus.CounterOpts{Name: "f"})
	throttled := prometheus.NewCounter(prometheus.CounterOpts{Name: "t"})
	var logs bytes.Buffer
	app, _ := throttleApp(t, AuthThrottleConfig{
		Burst: 5, PerMinute: 1, MaxClients: 100,
		Addr:     NewClientAddr("X-Forwarded-For", trusted),
		Failures: failures, Throttled: throttled,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), LogEvery: time.Hour,
	})
	for i := range 5 {
		status, _, _ := doReq(t, app, "/v1/chat/completions", "guess-"+strconv.Itoa(i), "203.0.113.7")
		assert.Equal(t, 401, status, "guess %d is within the burst", i)
	}
	status, body, retry := doReq(t, app, "/v1/messages", "guess-x", "203.0.113.7")
	assert.Equal(t, 429, status)
	assert.JSONEq(t, `{"type":"error","error":{"type":"rate_limit_error","message":"`+MsgAuthThrottled+`"}}`, body, "the family's shape")
	assert.NotEmpty(t, retry)
	status, _, _ = doReq(t, app, "/v1/chat/completions", "right-key", "203.0.113.7")
	assert.Equal(t, 429, status, "a throttled address learns nothing, even with the right key")

	status, _, _ = doReq(t, app, "/v1/chat/completions", "right-key", "198.51.100.1")
	assert.Equal(t, 200, status, "another address is not affected")
	status, _, _ = doReq(t, app, "/v1/chat/completions", "wrong", "198.51.100.1")
	assert.Equal(t, 401, status)

	assert.Equal(t, 6.0, testutil.ToFloat64(failures))
	assert.Equal(t, 2.0, testutil.ToFloat64(throttled))
	assert.Equal(t, 1, strings.Count(logs.String(), "failed authentication"), "one log line per interval, not per guess")
	assert.NotContains(t, logs.String(), "guess-")
}

// The table of addresses is bounded; when full it drops the least recently
// seen address — the budget of the others is kept (the login limiter used
// to reset everyone when its map filled).
func TestAuthThrottle_FullTableEvictsOldest(t *testing.T) {
	trusted, _ := ParsePrefixes(append(DefaultTrustedProxies, "0.0.0.0/32")) // app.Test comes from 0.0.0.0
	app, th := throttleApp(t, AuthThrottleConfig{
		Burst: 2, PerMinute: 1, MaxClients: 3,
		Addr: NewClientAddr("X-Forwarded-For", trusted), LogEvery: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	for range 2 {
		doReq(t, app, "/v1/x", "bad", "203.0.113.1")
	}
	status, _, _ := doReq(t, app, "/v1/x", "bad", "203.0.113.1")
	require.Equal(t, 429, status)
	// Two more addresses fill the table; 203.0.113.1 stays (most recent use).
	doReq(t, app, "/v1/x", "bad", "203.0.113.2")
	doReq(t, app, "/v1/x", "bad", "203.0.113.1")
	doReq(t, app, "/v1/x", "bad", "203.0.113.3")
	status, _, _ = doReq(t, app, "/v1/x", "bad", "203.0.113.1")
	assert.Equal(t, 429, status, "a full table does not reset the guesser's budget")
	assert.LessOrEqual(t, th.table.Len(), 3)
	assert.Equal(t, int64(th.table.Len()), th.entries.Load())
}
