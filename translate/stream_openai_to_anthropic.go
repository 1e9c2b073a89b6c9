package translate

import (
	"bytes"

	"github.com/tidwall/gjson"
)

// OpenAIToAnthropicStream translates an OpenAI chat-completions SSE stream
// (from an OpenAI target) into Anthropic's event sequence (for an Anthropic
// client), event by event: message_start on the first chunk; a
// content_block_start/_delta/_stop run for reasoning_content (thinking),
// content (text) and each tool call (tool_use, arguments as
// input_json_delta); at [DONE], message_delta with the stop reason and the
// usage totals (from the include_usage chunk), then message_stop.
// Not safe for concurrent use; one per stream.
type OpenAIToAnthropicStream struct {
	o        Options
	sp       splitter
	started  bool
	done     bool
	blocks   int    // content blocks opened so far
	open     byte   // kind of the open block: 0 none, 't' text, 'r' thinking, 'u' tool use
	toolIdx  []int  // for each OpenAI tool-call index, its block index (-1: none yet)
	stop     string // Anthropic stop reason, once a finish_reason came
	usage    usage
	generate int // tool ids generated so far
}

// NewOpenAIToAnthropicStream returns a translator for one stream; it uses
// o.ID (message and tool ids the upstream did not give).
func NewOpenAIToAnthropicStream(o Options) *OpenAIToAnthropicStream {
	return &OpenAIToAnthropicStream{o: o}
}

// Done reports whether the stream reached its end: message_stop or an error
// event was written. Later input is ignored.
func (s *OpenAIToAnthropicStream) Done() bool { return s.done }

// Feed takes upstream bytes as they arrive (any split) and appends the
// translated events of every complete upstream event to dst.
func (s *OpenAIToAnthropicStream) Feed(dst, chunk []byte) []byte {
	return feedEvents(&s.sp, s, dst, chunk)
}

// End is called when the upstream stream ended (EOF). A stream cut before
// its end gets an error event; one that gave a finish reason but no [DONE]
// is closed normally.
func (s *OpenAIToAnthropicStream) End(dst []byte) []byte {
	if s.done {
		return dst
	}
	if s.stop != "" {
		return s.finish(dst)
	}
	return s.Fail(dst, "the upstream stream ended before its end")
}

// Fail appends the in-band error event (a broken upstream read, or msg) and
// ends the stream.
func (s *OpenAIToAnthropicStream) Fail(dst []byte, msg string) []byte {
	if s.done {
		return dst
	}
	s.done = true
	return StreamErrorAnthropic(dst, msg)
}

// Event translates one upstream event's data (the JSON after "data:", or
// "[DONE]") and appends the resulting events to dst.
func (s *OpenAIToAnthropicStream) Event(dst, data []byte) []byte {
	if s.done {
		return dst
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return dst // a comment or keep-alive
	}
	if string(data) == "[DONE]" {
		return s.finish(dst)
	}
	root, ok := parse(data)
	if !ok || !root.IsObject() {
		return s.Fail(dst, "the upstream sent an unreadable event")
	}
	var id, model, choices, usage, errv gjson.Result
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
		case "error":
			errv = v
		}
		return true
	})
	if errv.Exists() && errv.Type != gjson.Null {
		msg := str(get(errv, "message"))
		if errv.Type == gjson.String {
			msg = str(errv)
		}
		if msg == "" {
			msg = "the upstream reported an error"
		}
		s.done = true
		return streamErrorAnthropic(dst, "api_error", msg)
	}
	if !s.started {
		dst = s.start(dst, id, model)
	}
	if usage.IsObject() {
		s.usage = openAIUsageOf(usage)
	}
	choice := first(choices)
	if !choice.Exists() {
		return dst // a usage-only chunk
	}
	var delta, finish gjson.Result
	each(choice, func(k, v gjson.Result) bool {
		switch k.Str {
		case "delta":
			delta = v
		case "finish_reason":
			finish = v
		}
		return true
	})
	each(delta, func(k, v gjson.Result) bool {
		switch k.Str {
		case "reasoning_content", "reasoning":
			if v.Type == gjson.String && v.Raw != `""` {
				dst = s.delta(dst, 'r', `{"type":"thinking_delta","thinking":`, v.Raw)
			}
		case "content":
			if v.Type == gjson.String && v.Raw != `""` {
				dst = s.delta(dst, 't', `{"type":"text_delta","text":`, v.Raw)
			}
		case "tool_calls":
			pos := 0
			each(v, func(_, c gjson.Result) bool {
				dst = s.toolCall(dst, c, pos)
				pos++
				return true
			})
		}
		return true
	})
	if finish.Type == gjson.String && finish.Str != "" {
		s.stop = stopReason(finish.Str)
		dst = s.closeBlock(dst)
	}
	return dst
}

func (s *OpenAIToAnthropicStream) start(dst []byte, id, model gjson.Result) []byte {
	s.started = true
	dst = append(dst, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"...)
	dst = stringOr(dst, id, s.o.id())
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	dst = stringOr(dst, model, "")
	dst = append(dst, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}`+"\n\n"...)
	return dst
}

// delta appends a delta of kind (opening a block of that kind if needed);
// head is the delta object's start, val the raw string that ends it.
func (s *OpenAIToAnthropicStream) delta(dst []byte, kind byte, head, val string) []byte {
	if s.open != kind {
		dst = s.closeBlock(dst)
		dst = append(dst, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
		dst = appendInt(dst, int64(s.blocks))
		if kind == 'r' {
			dst = append(dst, `,"content_block":{"type":"thinking","thinking":"","signature":""}}`+"\n\n"...)
		} else {
			dst = append(dst, `,"content_block":{"type":"text","text":""}}`+"\n\n"...)
		}
		s.open = kind
		s.blocks++
	}
	return s.appendDelta(dst, s.blocks-1, head, val)
}

func (s *OpenAIToAnthropicStream) appendDelta(dst []byte, index int, head, val string) []byte {
	dst = append(dst, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
	dst = appendInt(dst, int64(index))
	dst = append(dst, `,"delta":`...)
	dst = append(dst, head...)
	dst = append(dst, val...)
	return append(dst, "}}\n\n"...)
}

// toolCall handles one entry of delta.tool_calls (pos: its place in the
// array, the index when the upstream gives none).
func (s *OpenAIToAnthropicStream) toolCall(dst []byte, c gjson.Result, pos int) []byte {
	var idx, id, fn gjson.Result
	each(c, func(k, v gjson.Result) bool {
		switch k.Str {
		case "index":
			idx = v
		case "id":
			id = v
		case "function":
			fn = v
		}
		return true
	})
	i := pos
	if idx.Type == gjson.Number && idx.Num >= 0 && idx.Num < 1024 {
		i = int(idx.Num)
	}
	for len(s.toolIdx) <= i {
		s.toolIdx = append(s.toolIdx, -1)
	}
	var name, args gjson.Result
	each(fn, func(k, v gjson.Result) bool {
		switch k.Str {
		case "name":
			name = v
		case "arguments":
			args = v
		}
		return true
	})
	block := s.toolIdx[i]
	if block < 0 {
		dst = s.closeBlock(dst)
		block = s.blocks
		s.toolIdx[i] = block
		s.blocks++
		s.open = 'u'
		dst = append(dst, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
		dst = appendInt(dst, int64(block))
		dst = append(dst, `,"content_block":{"type":"tool_use","id":`...)
		if id.Type == gjson.String && id.Raw != `""` {
			dst = append(dst, id.Raw...)
		} else {
			dst = s.o.toolID(dst, "toolu_", s.generate)
			s.generate++
		}
		dst = append(dst, `,"name":`...)
		dst = stringOr(dst, name, "")
		dst = append(dst, `,"input":{}}}`+"\n\n"...)
	}
	if args.Type == gjson.String && args.Raw != `""` {
		dst = s.appendDelta(dst, block, `{"type":"input_json_delta","partial_json":`, args.Raw)
	}
	return dst
}

func (s *OpenAIToAnthropicStream) closeBlock(dst []byte) []byte {
	if s.open == 0 {
		return dst
	}
	s.open = 0
	dst = append(dst, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"...)
	dst = appendInt(dst, int64(s.blocks-1))
	return append(dst, "}\n\n"...)
}

// finish closes the message: the open block, message_delta with the stop
// reason and usage, message_stop.
func (s *OpenAIToAnthropicStream) finish(dst []byte) []byte {
	if !s.started {
		dst = s.start(dst, gjson.Result{}, gjson.Result{})
	}
	dst = s.closeBlock(dst)
	stop := s.stop
	if stop == "" {
		stop = "end_turn"
	}
	dst = append(dst, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"...)
	dst = appendString(dst, stop)
	dst = append(dst, `,"stop_sequence":null},"usage":`...)
	dst = anthropicUsage(dst, s.usage)
	dst = append(dst, "}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
	s.done = true
	return dst
}
