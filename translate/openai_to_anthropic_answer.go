package translate

import (
	"slices"
	"strings"

	"github.com/tidwall/gjson"
)

// AnswerOpenAIToAnthropic turns an OpenAI chat completion (a 2xx answer
// body) into an Anthropic message for an Anthropic client: reasoning_content
// as a thinking block, content (and refusal) as a text block, tool_calls as
// tool_use blocks with the arguments parsed into input, the finish reason and
// usage mapped; never an empty text block. Uses o.ID. An unreadable answer
// returns an *Error with Status 502.
// The result is appended to dst (which may be nil); body is not kept.
func AnswerOpenAIToAnthropic(dst, body []byte, o Options) ([]byte, error) {
	root, ok := parse(body)
	if !ok || !root.IsObject() {
		return nil, badAnswer("not a JSON object")
	}
	var id, model, choices, usage gjson.Result
	each(root, func(k, v gjson.Result) bool {
		switch k.Str {
		case "id":
			id = v
		case "model":
			model = v
		case "choices":
			choices = v
		case "usage":
			usage = v
		}
		return true
	})
	choice := first(choices)
	msg := get(choice, "message")
	out := slices.Grow(dst, len(body)+256)
	out = append(out, `{"id":`...)
	out = stringOr(out, id, o.id())
	out = append(out, `,"type":"message","role":"assistant","model":`...)
	out = stringOr(out, model, "")
	out = append(out, `,"content":[`...)
	var reasoning, content, refusal, calls gjson.Result
	each(msg, func(k, v gjson.Result) bool {
		switch k.Str {
		case "reasoning_content", "reasoning":
			if v.Type == gjson.String {
				reasoning = v
			}
		case "content":
			content = v
		case "refusal":
			refusal = v
		case "tool_calls":
			calls = v
		}
		return true
	})
	if reasoning.Type == gjson.String && reasoning.Raw != `""` {
		out = append(out, `{"type":"thinking","thinking":`...)
		out = append(out, reasoning.Raw...)
		out = append(out, `,"signature":""}`...)
	}
	switch {
	case content.Type == gjson.String:
		out = textBlock(out, content)
	case content.IsArray():
		each(content, func(_, p gjson.Result) bool {
			out = textBlock(out, get(p, "text"))
			return true
		})
	}
	out = textBlock(out, refusal)
	n := 0
	each(calls, func(_, c gjson.Result) bool {
		out = toolUseBlock(out, get(c, "id"), get(get(c, "function"), "name"), get(get(c, "function"), "arguments"), &o, n)
		n++
		return true
	})
	out = append(out, `],"stop_reason":`...)
	out = appendString(out, stopReason(get(choice, "finish_reason").Str))
	out = append(out, `,"stop_sequence":null,"usage":`...)
	out = anthropicUsage(out, openAIUsageOf(usage))
	return append(out, '}'), nil
}

// toolUseBlock appends a tool_use block for one OpenAI tool call.
func toolUseBlock(out []byte, id, name, args gjson.Result, o *Options, n int) []byte {
	out = comma(out)
	out = append(out, `{"type":"tool_use","id":`...)
	if id.Type == gjson.String && id.Raw != `""` {
		out = append(out, id.Raw...)
	} else {
		out = o.toolID(out, "toolu_", n)
	}
	out = append(out, `,"name":`...)
	out = stringOr(out, name, "")
	out = append(out, `,"input":`...)
	out = argumentsInput(out, args)
	return append(out, '}')
}

// argumentsInput appends the tool input object for an OpenAI arguments
// string. Arguments that are not a JSON object (a model's slip) are kept
// whole as {"arguments": "<text>"} rather than lost.
func argumentsInput(out []byte, args gjson.Result) []byte {
	s := str(args)
	switch {
	case args.IsObject():
		return append(out, args.Raw...)
	case strings.TrimSpace(s) == "":
		return append(out, "{}"...)
	case gjson.Valid(s) && gjson.Parse(s).IsObject():
		return append(out, s...)
	}
	out = append(out, `{"arguments":`...)
	out = appendString(out, s)
	return append(out, '}')
}

// stopReason maps an OpenAI finish_reason to an Anthropic stop_reason.
func stopReason(finish string) string {
	switch finish {
	case "length":
		return "max_tokens"
	case "tool_calls", "function_call":
		return "tool_use"
	case "content_filter":
		return "refusal"
	}
	return "end_turn"
}
