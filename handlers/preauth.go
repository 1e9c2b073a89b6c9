package handlers

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// PreAuth decides, as soon as a request's headers are in and before its
// body is read, how much body the request may send and how long it may
// take. fasthttp allocates a body's full Content-Length up front, so without
// this anyone could make the proxy hold BODY_LIMIT (32 MiB) per connection
// with no key, by sending headers and one byte.
type PreAuth struct {
	// Keys are the key sets that earn the full body limit (the access keys,
	// the dashboard keys). A request presenting none of them gets Small.
	Keys []*Keys
	// Small is the body allowance of a request without a valid key.
	Small int
	// BodyTimeout is how long a request with a valid key may take to send
	// its body once its headers are in.
	BodyTimeout time.Duration
	// Failed, when set, is told of the 401 ErrorHandler answers (for the
	// failed-authentication throttle).
	Failed func(c *fiber.Ctx)
}

// Authorized reports whether the headers present one of the keys.
func (p *PreAuth) Authorized(h *fasthttp.RequestHeader) bool {
	for _, k := range p.Keys {
		if _, ok := k.Check(h); ok {
			return true
		}
	}
	return false
}

// HeaderReceived is fasthttp's Server.HeaderReceived hook. A request with a
// valid key gets the server's body limit and BodyTimeout to send it; any
// other gets Small and what is left of the header timeout (the server's
// ReadTimeout, which runs from the request's first byte).
func (p *PreAuth) HeaderReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if p.Authorized(h) {
		return fasthttp.RequestConfig{ReadTimeout: p.BodyTimeout}
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: p.Small}
}

// ErrorHandler is the app's error handler: ErrorHandler, except that a
// request refused for its body size without a valid key on /v1 gets the
// 401 it would have got with a small body, not a 413 that says the key was
// fine.
func (p *PreAuth) ErrorHandler(c *fiber.Ctx, err error) error {
	var fe *fiber.Error
	path := c.Context().URI().Path()
	if errors.As(err, &fe) && fe.Code == fiber.StatusRequestEntityTooLarge && isV1(path) && !p.Authorized(&c.Request().Header) {
		c.Context().SetConnectionClose() // the unread body must not be parsed as the next request
		if p.Failed != nil {
			p.Failed(c)
		}
		return sendError(c, FamilyOf(path), fiber.StatusUnauthorized, errAuth, MsgPermissionDenied)
	}
	return ErrorHandler(c, err)
}

func isV1(path []byte) bool {
	return len(path) >= 3 && string(path[:3]) == "/v1" && (len(path) == 3 || path[3] == '/')
}
