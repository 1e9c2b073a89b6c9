package handlers

import (
	"io"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/translate"
	"github.com/llm-proxy/llm-proxy/upstream"
)

// maxTranslatedAnswer bounds a non-stream answer read whole to be
// translated (one too large to hold is streamed untranslated otherwise).
const maxTranslatedAnswer = 64 << 20

// translateOptions are the options of the answer translators for a request
// that arrived at start with body.
func translateOptions(family stats.Family, body []byte, start time.Time) translate.Options {
	o := translate.Options{ID: strconv.FormatInt(start.UnixNano(), 36), Created: start.Unix()}
	if family == stats.FamilyOpenAI {
		o.IncludeUsage = translate.WantsUsage(body)
	}
	return o
}

// sendRefusal answers a request the translators refused, in the client's shape.
func sendRefusal(c *fiber.Ctx, family stats.Family, e *translate.Error) error {
	status := e.Status
	if status == 0 {
		status = fiber.StatusBadRequest
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	if family == stats.FamilyAnthropic {
		return c.Send(e.Anthropic())
	}
	return c.Send(e.OpenAI())
}

// translatedAnswer is the client's answer for a complete (or too large to
// hold, read here whole) upstream answer of a translated attempt: 2xx via
// the answer translator, errors in the client's family shape with the
// upstream's status.
func translatedAnswer(res *upstream.Result, o translate.Options) ([]byte, error) {
	body := res.Resp.Body()
	if res.Body != nil {
		rest, err := io.ReadAll(io.LimitReader(res.Body, maxTranslatedAnswer))
		if err != nil {
			return nil, err
		}
		body = append(append([]byte(nil), res.Prefix...), rest...)
	}
	status := res.Resp.StatusCode()
	if status < 200 || status >= 300 {
		return res.Translate.Error(status, body), nil
	}
	return res.Translate.Answer(nil, body, o)
}
