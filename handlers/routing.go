package handlers

import (
	"unsafe"

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
