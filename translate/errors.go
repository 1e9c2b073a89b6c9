package translate

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// Error is a request the translators refuse before anything goes upstream: a
// field with no equivalent that would change the answer, or a body they cannot
// read. Answer it with Status and [Error.OpenAI] or [Error.Anthropic].
type Error struct {
	// Status is the HTTP status for the client (400).
	Status int `json:"status"`
	// Field names the offending field as a path, e.g. "messages[2].content[0].type".
	Field string `json:"field"`
	// Message says what is wrong, naming Field.
	Message string `json:"message"`
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// OpenAI renders e in OpenAI's error shape.
func (e *Error) OpenAI() []byte {
	return openAIError(nil, "invalid_request_error", e.Field, e.Message)
}

// Anthropic renders e in Anthropic's error shape.
func (e *Error) Anthropic() []byte {
	return anthropicError(nil, "invalid_request_error", e.Message)
}

// refuse is the 400 for a field that has no equivalent on the target API.
func refuse(field, why string) *Error {
	return &Error{Status: 400, Field: field, Message: field + ": " + why}
}

// invalid is the 400 for a body or field the translator cannot read.
func invalid(field, why string) *Error {
	return &Error{Status: 400, Field: field, Message: "invalid " + field + ": " + why}
}

func openAIError(b []byte, typ, param, msg string) []byte {
	b = append(b, `{"error":{"message":`...)
	b = appendString(b, msg)
	b = append(b, `,"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"param":`...)
	if param == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, param)
	}
	b = append(b, `,"code":null}}`...)
	return b
}

func anthropicError(b []byte, typ, msg string) []byte {
	b = append(b, `{"type":"error","error":{"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	return append(b, "}}"...)
}

// anthropicErrorType is Anthropic's error type for an HTTP status.
func anthropicErrorType(status int) string {
	switch {
	case status == 401:
		return "authentication_error"
	case status == 402:
		return "billing_error"
	case status == 403:
		return "permission_error"
	case status == 404:
		return "not_found_error"
	case status == 413:
		return "request_too_large"
	case status == 429:
		return "rate_limit_error"
	case status == 504:
		return "timeout_error"
	case status == 529 || status == 503:
		return "overloaded_error"
	case status >= 500:
		return "api_error"
	default:
		return "invalid_request_error"
	}
}

// openAIErrorType is OpenAI's error type for an HTTP status.
func openAIErrorType(status int) string {
	switch {
	case status == 401:
		return "authentication_error"
	case status == 403:
		return "permission_error"
	case status == 404:
		return "not_found_error"
	case status == 429:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

// maxErrorText bounds an upstream error text that is not JSON.
const maxErrorText = 1024

// errorMessage reads an upstream error body of either family
// ({"error":{"message"}} or {"error":"text"} or {"message"}), falling back
// to the body's text, or the status text when the body is empty.
func errorMessage(status int, body []byte) (msg, typ string) {
	if root, ok := parse(body); ok && root.IsObject() {
		e := root.Get("error")
		switch {
		case e.IsObject():
			msg, typ = e.Get("message").String(), e.Get("type").String()
		case e.Type == gjson.String:
			msg = e.Str
		}
		if msg == "" {
			msg = root.Get("message").String()
		}
		if msg != "" {
			return strings.Clone(msg), strings.Clone(typ)
		}
	}
	s := strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD"))
	if len(s) > maxErrorText {
		s = strings.ToValidUTF8(s[:maxErrorText], "") + "…"
	}
	if s == "" {
		s = "upstream answered " + strconv.Itoa(status)
	}
	return s, ""
}

// ErrorAnthropicToOpenAI renders an Anthropic upstream's error answer (any
// body: JSON of either family, text, empty) for an OpenAI client: the
// upstream's message, a type for the status. The status stays the upstream's.
func ErrorAnthropicToOpenAI(status int, body []byte) []byte {
	msg, _ := errorMessage(status, body)
	return openAIError(nil, openAIErrorType(status), "", msg)
}

// ErrorOpenAIToAnthropic renders an OpenAI upstream's error answer for an
// Anthropic client: the upstream's message, Anthropic's type for the status.
func ErrorOpenAIToAnthropic(status int, body []byte) []byte {
	msg, _ := errorMessage(status, body)
	return anthropicError(nil, anthropicErrorType(status), msg)
}

// StreamErrorOpenAI is the in-band event that tells an OpenAI client its
// stream broke: `data: {"error":{…}}`; the stream then ends without [DONE].
func StreamErrorOpenAI(dst []byte, msg string) []byte {
	dst = append(dst, "data: "...)
	dst = openAIError(dst, "server_error", "", msg)
	return append(dst, "\n\n"...)
}

// StreamErrorAnthropic is the in-band `event: error` that tells an
// Anthropic client its stream broke.
func StreamErrorAnthropic(dst []byte, msg string) []byte {
	return streamErrorAnthropic(dst, "api_error", msg)
}

func streamErrorAnthropic(dst []byte, typ, msg string) []byte {
	dst = append(dst, "event: error\ndata: "...)
	dst = anthropicError(dst, typ, msg)
	return append(dst, "\n\n"...)
}
