// Package handlers is HTTP in, HTTP out for llm-proxy: the route family and
// its error shape, client auth, the /v1 proxy handler and its stream writer,
// and health. It holds no state beyond its configuration.
package handlers

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/llm-proxy/llm-proxy/stats"
)

// FamilyOf returns the route family of a request path: /v1/messages and
// everything below it is Anthropic, every other path is OpenAI.
func FamilyOf(path []byte) stats.Family {
	const prefix = "/v1/messages"
	if bytes.HasPrefix(path, []byte(prefix)) && (len(path) == len(prefix) || path[len(prefix)] == '/' || path[len(prefix)] == '?') {
		return stats.FamilyAnthropic
	}
	return stats.FamilyOpenAI
}

// Messages the proxy itself answers with.
const (
	MsgPermissionDenied = "Permission Denied"
	MsgAllRateLimited   = "错误重试全都rate limit,请再次重试."
)

// errorKind is a proxy-made error, rendered in each family's vocabulary.
type errorKind struct {
	openAIType, openAICode, anthropicType string
}

var (
	errAuth        = errorKind{"invalid_request_error", "invalid_api_key", "authentication_error"}
	errRateLimited = errorKind{"rate_limit_error", "rate_limit_exceeded", "rate_limit_error"}
	errBadGateway  = errorKind{"upstream_error", "bad_gateway", "api_error"}
	errTimeout     = errorKind{"upstream_error", "timeout", "timeout_error"}
	errBadRequest  = errorKind{"invalid_request_error", "invalid_json", "invalid_request_error"}
	errRequest     = errorKind{"invalid_request_error", "invalid_request", "invalid_request_error"}
	errTooLarge    = errorKind{"invalid_request_error", "request_too_large", "request_too_large"}
	errNotFound    = errorKind{"invalid_request_error", "not_found", "not_found_error"}
	errInternal    = errorKind{"server_error", "internal_error", "api_error"}
	errStream      = errorKind{"upstream_error", "stream_interrupted", "api_error"}
)

type openAIError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    string `json:"code"`
	} `json:"error"`
}

type anthropicError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// errorBody renders msg in the family's error shape.
func errorBody(f stats.Family, k errorKind, msg string) []byte {
	var v any
	if f == stats.FamilyAnthropic {
		var e anthropicError
		e.Type, e.Error.Type, e.Error.Message = "error", k.anthropicType, msg
		v = e
	} else {
		var e openAIError
		e.Error.Message, e.Error.Type, e.Error.Code = msg, k.openAIType, k.openAICode
		v = e
	}
	b, _ := json.Marshal(v) // cannot fail: plain strings
	return b
}

// sendError answers with status and msg in the family's error shape.
func sendError(c *fiber.Ctx, f stats.Family, status int, k errorKind, msg string) error {
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(errorBody(f, k, msg))
}

// streamErrorEvent is the SSE event that tells a client its stream broke.
func streamErrorEvent(f stats.Family, msg string) []byte {
	body := errorBody(f, errStream, msg)
	if f == stats.FamilyAnthropic {
		return append(append([]byte("event: error\ndata: "), body...), "\n\n"...)
	}
	return append(append([]byte("data: "), body...), "\n\n"...)
}

// keepAliveEvent is what a silent stream gets so load balancers keep it open:
// Anthropic clients expect `event: ping`; for OpenAI an SSE comment, which
// every client ignores.
func keepAliveEvent(f stats.Family) []byte {
	if f == stats.FamilyAnthropic {
		return anthropicPing
	}
	return sseComment
}

var (
	anthropicPing = []byte("event: ping\ndata: {\"type\": \"ping\"}\n\n")
	sseComment    = []byte(": keep-alive\n\n")
)

// ErrorHandler is the Fiber app's error handler: errors raised before or
// outside a handler (body too large, unknown route, a panic turned into an
// error) are answered in the request's route-family shape, without internal detail.
func ErrorHandler(c *fiber.Ctx, err error) error {
	f := FamilyOf(c.Context().URI().Path())
	status, kind, msg := fiber.StatusInternalServerError, errInternal, "internal error"
	if fe, ok := err.(*fiber.Error); ok {
		status = fe.Code
		switch fe.Code {
		case fiber.StatusRequestEntityTooLarge:
			kind, msg = errTooLarge, "request body too large"
		case fiber.StatusNotFound:
			kind, msg = errNotFound, "not found"
		case fiber.StatusMethodNotAllowed:
			kind, msg = errNotFound, "method not allowed"
		default:
			// A fixed text per status, never fe.Message: for errors of the
			// HTTP layer (a malformed request) fasthttp's message quotes the
			// raw request, keys and front-proxy secret headers included.
			kind, msg = errRequest, strings.ToLower(fasthttp.StatusMessage(fe.Code))
		}
	}
	return sendError(c, f, status, kind, msg)
}
