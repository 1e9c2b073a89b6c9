package handlers

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/valyala/fasthttp"
)

func TestPreAuth_HeaderReceived(t *testing.T) {
	p := &PreAuth{Keys: []*Keys{NewKeys([]string{"access"}), NewKeys([]string{"dash"})}, Small: 4096, BodyTimeout: 7}
	for _, tt := range []struct {
		name, header, value string
		full                bool
	}{
		{"no key", "", "", false},
		{"wrong key", "Authorization", "Bearer nope", false},
		{"access key", "Authorization", "Bearer access", true},
		{"x-api-key", "X-Api-Key", "access", true},
		{"dashboard key", "Authorization", "Bearer dash", true},
	} {
		var h fasthttp.RequestHeader
		if tt.header != "" {
			h.Set(tt.header, tt.value)
		}
		got := p.HeaderReceived(&h)
		if tt.full {
			assert.Equal(t, fasthttp.RequestConfig{ReadTimeout: 7}, got, tt.name)
		} else {
			assert.Equal(t, fasthttp.RequestConfig{MaxRequestBodySize: 4096}, got, tt.name)
		}
	}
}

// A keyless request refused for its body size gets the 401 it would have
// got with a small body: the 413 would say "your key is fine, send less".
func TestPreAuth_ErrorHandlerKeylessTooLargeIs401(t *testing.T) {
	var failed atomic.Int32
	p := &PreAuth{Keys: []*Keys{NewKeys([]string{"access"})}, Small: 16, Failed: func(*fiber.Ctx) { failed.Add(1) }}
	body := `{"model":"a-model-name-long-enough"}`
	for _, tc := range []struct {
		auth   string
		path   string
		status int
	}{
		{"", "/v1/messages", 401},
		{"Authorization: Bearer wrong\r\n", "/v1/chat/completions", 401},
		{"Authorization: Bearer access\r\n", "/v1/chat/completions", 200},
		{"", "/login", 413},
	} {
		app := fiber.New(fiber.Config{ErrorHandler: p.ErrorHandler, DisableStartupMessage: true})
		app.Server().HeaderReceived = p.HeaderReceived
		app.All("/*", func(c *fiber.Ctx) error { return c.SendString("ok") })
		raw := "POST " + tc.path + " HTTP/1.1\r\nHost: x\r\n" + tc.auth + "Content-Type: application/json\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body
		resp, got := rawExchange(t, app, raw)
		assert.Equal(t, tc.status, resp.StatusCode, "%s %q: %s", tc.path, tc.auth, got)
		if tc.status == 401 {
			assert.Contains(t, got, MsgPermissionDenied)
		}
	}
	assert.EqualValues(t, 2, failed.Load(), "the two 401s count as failed authentications")
}
