package translate

import (
	"github.com/tidwall/gjson"
	"slices"
)

// badAnswer is returned for an upstream answer the translators cannot read:
// the upstream's fault, 502 for the client.
func badAnswer(why string) *Error {
	return &Error{Status: 502, Message: "the upstream's answer could not be translated: " + why}
}

// AnswerAnthropicToOpenAI turns an Anthropic message (a 2xx answer body)
// into an OpenAI chat completion for an OpenAI client: texts joined as
// content, thinking as reasoning_content, tool_use as tool_calls, the stop
// reason and usage mapped. Uses o.Created and o.ID. An unreadable answer
// returns an *Error with Status 502.
// The result is appended to dst (which may be nil); body is not kept.
func AnswerAnthropicToOpenAI(dst, body []byte, o Options) ([]byte, error) {
	root, ok := parse(body)
	if !ok || !root.IsObject() {
		return nil, badAnswer("not a JSON object")
	}
	var id, model, content, stop, usage gjson.Result
	each(root, func(k, v gjson.Result) bool {
		switch k.Str {
		case "id":
			id = v
		case "model":
			model = v
		case "content":
			content = v
		case "stop_reason":
			stop = v
		case "usage":
			usage = v
		}
		return true
	})
	var text, reasoning, calls []byte
	n := 0
	each(content, func(_, b gjson.Result) bool {
		switch get(b, "type").Str {
		case "text":
			text = append(text, strBody(get(b, "text"))...)
		case "thinking":
			reasoning = append(reasoning, strBody(get(b, "thinking"))...)
		case "tool_use":
			tid, name, input := get(b, "id"), get(b, "name"), get(b, "input")
			calls = comma(calls)
			calls = append(calls, `{"id":`...)
			if tid.Type == gjson.String && tid.Raw != `""` {
				calls = append(calls, tid.Raw...)
			} else {
				calls = o.toolID(calls, "call_", n)
			}
			n++
			calls = append(calls, `,"type":"function","function":{"name":`...)
			if name.Type == gjson.String {
				calls = append(calls, name.Raw...)
			} else {
				calls = append(calls, `""`...)
			}
			calls = append(calls, `,"arguments":`...)
			if input.Exists() {
				calls = appendString(calls, input.Raw)
			} else {
				calls = append(calls, `"{}"`...)
			}
			calls = append(calls, "}}"...)
		}
		return true
	})

	out := slices.Grow(dst, len(body)+256)
	out = append(out, `{"id":`...)
	out = stringOr(out, id, o.id())
	out = append(out, `,"object":"chat.completion","created":`...)
	out = appendInt(out, o.Created)
	out = append(out, `,"model":`...)
	out = stringOr(out, model, "")
	out = append(out, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	out = appendAssistantFields(out, text, reasoning, calls)
	out = append(out, `},"finish_reason":`...)
	out = appendString(out, finishReason(stop.Str))
	out = append(out, `}],"usage":`...)
	out = openAIUsage(out, anthropicUsageOf(usage))
	return append(out, '}'), nil
}

// stringOr appends r when it is a JSON string, else def as a string.
func stringOr(b []byte, r gjson.Result, def string) []byte {
	if r.Type == gjson.String {
		return append(b, r.Raw...)
	}
	return appendString(b, def)
}

// finishReason maps an Anthropic stop_reason to an OpenAI finish_reason.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	return "stop" // end_turn, stop_sequence, pause_turn, none given
}

// usage is token counts in Anthropic's terms.
type usage struct {
	input, output, cacheRead, cacheCreation int64
}

// anthropicUsageOf reads an Anthropic usage object.
func anthropicUsageOf(u gjson.Result) usage {
	var x usage
	each(u, func(k, v gjson.Result) bool {
		switch k.Str {
		case "input_tokens":
			x.input = v.Int()
		case "output_tokens":
			x.output = v.Int()
		case "cache_read_input_tokens":
			x.cacheRead = v.Int()
		case "cache_creation_input_tokens":
			x.cacheCreation = v.Int()
		}
		return true
	})
	return x
}

// openAIUsageOf reads an OpenAI usage object: the cached prompt tokens are
// Anthropic's cache reads, the rest of the prompt its input.
func openAIUsageOf(u gjson.Result) usage {
	var x usage
	var prompt int64
	each(u, func(k, v gjson.Result) bool {
		switch k.Str {
		case "prompt_tokens":
			prompt = v.Int()
		case "completion_tokens":
			x.output = v.Int()
		case "prompt_tokens_details":
			x.cacheRead = get(v, "cached_tokens").Int()
		}
		return true
	})
	x.cacheRead = max(0, min(x.cacheRead, prompt))
	x.input = prompt - x.cacheRead
	return x
}

// openAIUsage appends an OpenAI usage object:
// prompt_tokens = input + cache reads + cache writes.
func openAIUsage(b []byte, u usage) []byte {
	prompt := u.input + u.cacheRead + u.cacheCreation
	b = append(b, `{"prompt_tokens":`...)
	b = appendInt(b, prompt)
	b = append(b, `,"completion_tokens":`...)
	b = appendInt(b, u.output)
	b = append(b, `,"total_tokens":`...)
	b = appendInt(b, prompt+u.output)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = appendInt(b, u.cacheRead)
	return append(b, "}}"...)
}

// anthropicUsage appends an Anthropic usage object.
func anthropicUsage(b []byte, u usage) []byte {
	b = append(b, `{"input_tokens":`...)
	b = appendInt(b, u.input)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = appendInt(b, u.cacheCreation)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = appendInt(b, u.cacheRead)
	b = append(b, `,"output_tokens":`...)
	b = appendInt(b, u.output)
	return append(b, '}')
}
