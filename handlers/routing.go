package handlers

import (
	"encoding/json"
	"time"
	"unsafe"

	"github.com/gofiber/fiber/v2"

	"github.com/llm-proxy/llm-proxy/routing"
	"github.com/llm-proxy/llm-proxy/stats"
)

// HeaderServedModel names, on answers routed by a routing file, the model
// that answered (after alias and fallback).
const HeaderServedModel = "X-LLM-Proxy-Model"

var (
	errModelNotFound = errorKind{"invalid_request_error", "model_not_found", "not_found_error"}
	errNoUsableKey   = errorKind{"upstream_error", "no_usable_upstream_key", "api_error"}
)

// routingFamily maps a route family to the routing's.
func routingFamily(f stats.Family) routing.Family {
	if f == stats.FamilyAnthropic {
		return routing.FamilyAnthropic
	}
	return routing.FamilyOpenAI
}

// modelBytes views the request's model as bytes without a copy; the
// relay only reads it during Do. nil when there is no model.
func modelBytes(model string) []byte {
	if model == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(model), len(model))
}

// listModels answers GET /v1/models with a routing file: the union of the
// upstreams' lists, filtered by each target's models patterns, plus the
// aliases; in Anthropic's shape when the request carries anthropic-version,
// else OpenAI's.
func (p *Proxy) listModels(c *fiber.Ctx, start time.Time, family stats.Family) error {
	models, _ := p.cfg.Relay.ListModels(start)
	var body []byte
	if len(c.Request().Header.Peek("anthropic-version")) > 0 {
		type model struct {
			Type        string `json:"type"`
			ID          string `json:"id"`
			DisplayName string `json:"display_name"`
			CreatedAt   string `json:"created_at"`
		}
		list := struct {
			Data    []model `json:"data"`
			HasMore bool    `json:"has_more"`
			FirstID *string `json:"first_id"`
			LastID  *string `json:"last_id"`
		}{Data: []model{}}
		for _, m := range models {
			list.Data = append(list.Data, model{Type: "model", ID: m.ID, DisplayName: m.ID, CreatedAt: "1970-01-01T00:00:00Z"})
		}
		if n := len(models); n > 0 {
			list.FirstID, list.LastID = &models[0].ID, &models[n-1].ID
		}
		body, _ = json.Marshal(list)
	} else {
		type model struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Created int64  `json:"created"`
			OwnedBy string `json:"owned_by"`
		}
		list := struct {
			Object string  `json:"object"`
			Data   []model `json:"data"`
		}{Object: "list", Data: []model{}}
		for _, m := range models {
			list.Data = append(list.Data, model{ID: m.ID, Object: "model", OwnedBy: m.Owner})
		}
		body, _ = json.Marshal(list)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	ev := &stats.Event{Time: start, Method: fiber.MethodGet, Route: "/v1/models", Family: family}
	p.finish(ev, fiber.StatusOK, stats.OutcomeOK, "")
	return c.Status(fiber.StatusOK).Send(body)
}
