package translate

import (
	"bytes"

	"github.com/tidwall/gjson"
)

// AnthropicToOpenAIStream translates an Anthropic messages SSE stream (from
// an Anthropic target) into OpenAI chat-completion chunks (for an OpenAI
// client), event by event: a role chunk at message_start; content,
// reasoning_content and tool_calls deltas (arguments from input_json_delta);
// the finish reason at message_delta; at message_stop a usage chunk when the
// client asked for one (Options.IncludeUsage), then [DONE]. Pings are
// dropped (the relay sends its own keep-alives). Not safe for concurrent
// use; one per stream.
type AnthropicToOpenAIStream struct {
	o      Options
	sp     splitter
	done   bool
	prefix []byte // `data: {"id":…,"choices":[{"index":0,"delta":` for this stream
	head   []byte // `data: {"id":…,"model":…` for the usage chunk
	usage  usage
	tools  int   // tool_use blocks seen
	toolOf []int // for each content block index, its tool-call index (-1: not a tool)
	finish string
}

// NewAnthropicToOpenAIStream returns a translator for one stream; it uses
// o.Created, o.ID and o.IncludeUsage.
func NewAnthropicToOpenAIStream(o Options) *AnthropicToOpenAIStream {
	return &AnthropicToOpenAIStream{o: o}
}

// Done reports whether the stream reached its end: [DONE] or an error event
// was written. Later input is ignored.
func (s *AnthropicToOpenAIStream) Done() bool { return s.done }

// Feed takes upstream bytes as they arrive (any split) and appends the
// translated chunks of every complete upstream event to dst.
func (s *AnthropicToOpenAIStream) Feed(dst, chunk []byte) []byte {
	return feedEvents(&s.sp, s, dst, chunk)
}

// End is called when the upstream stream ended (EOF): a stream cut before
// message_stop gets the in-band error.
func (s *AnthropicToOpenAIStream) End(dst []byte) []byte {
	return s.Fail(dst, "the upstream stream ended before its end")
}

// Fail appends the in-band error (`data: {"error":…}`, no [DONE] after it)
// and ends the stream; nothing when it already ended.
func (s *AnthropicToOpenAIStream) Fail(dst []byte, msg string) []byte {
	if s.done {
		return dst
	}
	s.done = true
	return StreamErrorOpenAI(dst, msg)
}

// Event translates one upstream event's data (the JSON after "data:"; the
// event name is repeated in its "type") and appends the chunks to dst.
func (s *AnthropicToOpenAIStream) Event(dst, data []byte) []byte {
	if s.done {
		return dst
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return dst
	}
	root, ok := parse(data)
	if !ok || !root.IsObject() {
		return s.Fail(dst, "the upstream sent an unreadable event")
	}
	var typ, index, block, delta, message, usage, errv gjson.Result
	each(root, func(k, v gjson.Result) bool {
		switch k.Str {
		case "type":
			typ = v
		case "index":
			index = v
		case "content_block":
			block = v
		case "delta":
			delta = v
		case "message":
			message = v
		case "usage":
			usage = v
		case "error":
			errv = v
		}
		return true
	})
	switch typ.Str {
	case "message_start":
		var id, model gjson.Result
		each(message, func(k, v gjson.Result) bool {
			switch k.Str {
			case "id":
				id = v
			case "model":
				model = v
			case "usage":
				s.usage = anthropicUsageOf(v)
			}
			return true
		})
		s.makePrefix(id, model)
		dst = append(dst, s.prefix...)
		dst = append(dst, `{"role":"assistant","content":""},"finish_reason":null}]}`+"\n\n"...)
	case "content_block_start":
		i := blockIndex(index)
		switch get(block, "type").Str {
		case "tool_use":
			for len(s.toolOf) <= i {
				s.toolOf = append(s.toolOf, -1)
			}
			s.toolOf[i] = s.tools
			dst = s.chunk(dst)
			dst = append(dst, `{"tool_calls":[{"index":`...)
			dst = appendInt(dst, int64(s.tools))
			dst = append(dst, `,"id":`...)
			if id := get(block, "id"); id.Type == gjson.String && id.Raw != `""` {
				dst = append(dst, id.Raw...)
			} else {
				dst = s.o.toolID(dst, "call_", s.tools)
			}
			dst = append(dst, `,"type":"function","function":{"name":`...)
			dst = stringOr(dst, get(block, "name"), "")
			dst = append(dst, `,"arguments":""}}]},"finish_reason":null}]}`+"\n\n"...)
			s.tools++
		case "text":
			if t := get(block, "text"); t.Type == gjson.String && t.Raw != `""` {
				dst = s.deltaField(dst, `{"content":`, t.Raw)
			}
		}
	case "content_block_delta":
		var dt, val gjson.Result
		each(delta, func(k, v gjson.Result) bool {
			switch k.Str {
			case "type":
				dt = v
			case "text", "thinking", "partial_json":
				val = v
			}
			return true
		})
		if val.Type != gjson.String || val.Raw == `""` {
			return dst
		}
		switch dt.Str {
		case "text_delta":
			dst = s.deltaField(dst, `{"content":`, val.Raw)
		case "thinking_delta":
			dst = s.deltaField(dst, `{"reasoning_content":`, val.Raw)
		case "input_json_delta":
			i := blockIndex(index)
			if i >= len(s.toolOf) || s.toolOf[i] < 0 {
				return dst
			}
			dst = s.chunk(dst)
			dst = append(dst, `{"tool_calls":[{"index":`...)
			dst = appendInt(dst, int64(s.toolOf[i]))
			dst = append(dst, `,"function":{"arguments":`...)
			dst = append(dst, val.Raw...)
			dst = append(dst, `}}]},"finish_reason":null}]}`+"\n\n"...)
		}
	case "message_delta":
		if usage.IsObject() {
			u := anthropicUsageOf(usage)
			s.usage.output = u.output
			if get(usage, "input_tokens").Exists() {
				s.usage.input, s.usage.cacheRead, s.usage.cacheCreation = u.input, u.cacheRead, u.cacheCreation
			}
		}
		s.finish = finishReason(get(delta, "stop_reason").Str)
		dst = s.chunk(dst)
		dst = append(dst, `{},"finish_reason":`...)
		dst = appendString(dst, s.finish)
		dst = append(dst, "}]}\n\n"...)
	case "message_stop":
		if s.o.IncludeUsage {
			s.ensurePrefix()
			dst = append(dst, s.head...)
			dst = append(dst, `,"choices":[],"usage":`...)
			dst = openAIUsage(dst, s.usage)
			dst = append(dst, "}\n\n"...)
		}
		dst = append(dst, "data: [DONE]\n\n"...)
		s.done = true
	case "error":
		msg := str(get(errv, "message"))
		if msg == "" {
			msg = "the upstream reported an error"
		}
		s.done = true
		dst = append(dst, "data: "...)
		dst = openAIError(dst, openAIErrorTypeOf(get(errv, "type").Str), "", msg)
		dst = append(dst, "\n\n"...)
	}
	return dst
}

// openAIErrorTypeOf maps an Anthropic error type to OpenAI's vocabulary.
func openAIErrorTypeOf(t string) string {
	switch t {
	case "rate_limit_error":
		return "rate_limit_error"
	case "invalid_request_error":
		return "invalid_request_error"
	}
	return "server_error"
}

func blockIndex(r gjson.Result) int {
	if r.Type == gjson.Number && r.Num >= 0 && r.Num < 1<<16 {
		return int(r.Num)
	}
	return 0
}

// makePrefix builds the constant start of this stream's chunks.
func (s *AnthropicToOpenAIStream) makePrefix(id, model gjson.Result) {
	h := make([]byte, 0, 160)
	h = append(h, `data: {"id":`...)
	h = stringOr(h, id, s.o.id())
	h = append(h, `,"object":"chat.completion.chunk","created":`...)
	h = appendInt(h, s.o.Created)
	h = append(h, `,"model":`...)
	h = stringOr(h, model, "")
	s.head = h
	s.prefix = append(h[:len(h):len(h)], `,"choices":[{"index":0,"delta":`...)
}

func (s *AnthropicToOpenAIStream) ensurePrefix() {
	if s.prefix == nil {
		s.makePrefix(gjson.Result{}, gjson.Result{})
	}
}

// chunk appends the start of a chunk, up to its delta.
func (s *AnthropicToOpenAIStream) chunk(dst []byte) []byte {
	s.ensurePrefix()
	return append(dst, s.prefix...)
}

// deltaField appends a chunk whose delta is head + val + "}".
func (s *AnthropicToOpenAIStream) deltaField(dst []byte, head, val string) []byte {
	dst = s.chunk(dst)
	dst = append(dst, head...)
	dst = append(dst, val...)
	return append(dst, `},"finish_reason":null}]}`+"\n\n"...)
}
