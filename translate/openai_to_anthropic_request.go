package translate

import (
	"bytes"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// RequestOpenAIToAnthropic turns an OpenAI chat-completions request body into
// an Anthropic messages request body (see TRANSLATION.md and the package
// comment for what is mapped, dropped and refused). A refused or unreadable
// request returns an *Error (400) naming the field; nothing should then go
// upstream. The result is appended to dst (which may be nil); body is not kept.
func RequestOpenAIToAnthropic(dst, body []byte, o Options) ([]byte, error) {
	root, ok := parseRequest(body, &o)
	if !ok || !root.IsObject() {
		return nil, invalid("body", "not a JSON object")
	}
	defer releaseTape(root)
	var f struct {
		model, messages, tools, toolChoice, parallel, maxTokens, maxCompletion,
		temperature, topP, stop, user, stream, effort gjson.Result
	}
	var err *Error
	each(root, func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			f.model = v
		case "messages":
			f.messages = v
		case "tools":
			f.tools = v
		case "tool_choice":
			f.toolChoice = v
		case "parallel_tool_calls":
			f.parallel = v
		case "max_tokens":
			f.maxTokens = v
		case "max_completion_tokens":
			f.maxCompletion = v
		case "temperature":
			f.temperature = v
		case "top_p":
			f.topP = v
		case "stop":
			f.stop = v
		case "user":
			f.user = v
		case "stream":
			f.stream = v
		case "reasoning_effort":
			f.effort = v
		case "n":
			if v.Type == gjson.Number && v.Num > 1 {
				err = refuse("n", "more than one choice has no Anthropic equivalent")
			}
		case "audio":
			if v.Type != gjson.Null {
				err = refuse("audio", "audio output has no Anthropic equivalent")
			}
		case "modalities":
			each(v, func(_, m gjson.Result) bool {
				if m.Str == "audio" {
					err = refuse("modalities", "audio output has no Anthropic equivalent")
				}
				return err == nil
			})
		case "response_format":
			if v.Type != gjson.Null && get(v, "type").Str != "text" {
				err = refuse("response_format", "structured output cannot be honoured by an Anthropic target")
			}
		case "web_search_options":
			err = refuse("web_search_options", "OpenAI web search has no equivalent on an Anthropic target")
		case "functions", "function_call":
			err = refuse(k.Str, "legacy functions are not translated; use tools")
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if !f.messages.IsArray() {
		return nil, invalid("messages", "an array is required")
	}

	out := slices.Grow(dst, len(body)+len(body)/8+256)
	out = append(out, '{')
	out = key(out, "model")
	if o.Model != "" {
		out = appendString(out, o.Model)
	} else if f.model.Type == gjson.String {
		out = append(out, f.model.Raw...)
	} else {
		return nil, invalid("model", "a string is required")
	}

	maxTokens := o.maxTokens()
	switch {
	case f.maxCompletion.Type == gjson.Number:
		maxTokens = f.maxCompletion.Int()
	case f.maxTokens.Type == gjson.Number:
		maxTokens = f.maxTokens.Int()
	}
	out = key(out, "max_tokens")
	out = appendInt(out, maxTokens)

	// System: every system/developer message becomes a system text block, in order.
	// (written after the messages, which are written straight into out)
	var system []byte
	out = key(out, "messages")
	out = append(out, '[')
	var t turn
	i := 0
	each(f.messages, func(_, m gjson.Result) bool {
		system, out, err = t.message(system, out, m, i, &o)
		i++
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	out = t.flush(out)
	out = append(out, ']')
	if len(system) > 0 {
		out = key(out, "system")
		out = append(out, '[')
		out = append(out, system...)
		out = append(out, ']')
	}

	thinking := int64(0)
	switch f.effort.Str {
	case "minimal", "low":
		thinking = 1024
	case "medium":
		thinking = 4096
	case "high":
		thinking = 16384
	}
	if thinking >= maxTokens {
		thinking = maxTokens - 1
	}
	if thinking >= 1024 {
		// Anthropic refuses a temperature or top_p other than its defaults
		// with thinking on: they are left out.
		out = key(out, "thinking")
		out = append(out, `{"type":"enabled","budget_tokens":`...)
		out = appendInt(out, thinking)
		out = append(out, '}')
	} else {
		if f.temperature.Type == gjson.Number {
			out = key(out, "temperature")
			if f.temperature.Num > 1 {
				out = append(out, '1')
			} else {
				out = append(out, f.temperature.Raw...)
			}
		}
		if f.topP.Type == gjson.Number {
			out = key(out, "top_p")
			out = append(out, f.topP.Raw...)
		}
	}
	switch {
	case f.stop.Type == gjson.String && f.stop.Raw != `""`:
		out = key(out, "stop_sequences")
		out = append(out, '[')
		out = append(out, f.stop.Raw...)
		out = append(out, ']')
	case f.stop.IsArray() && len(f.stop.Array()) > 0:
		out = key(out, "stop_sequences")
		out = append(out, '[')
		each(f.stop, func(_, s gjson.Result) bool {
			if s.Type == gjson.String && s.Raw != `""` {
				out = raw(out, s.Raw)
			}
			return true
		})
		out = append(out, ']')
	}
	if f.user.Type == gjson.String {
		out = key(out, "metadata")
		out = append(out, `{"user_id":`...)
		out = append(out, f.user.Raw...)
		out = append(out, '}')
	}
	if f.stream.Type == gjson.True {
		out = key(out, "stream")
		out = append(out, "true"...)
	}
	if out, err = toolsToAnthropic(out, f.tools, f.toolChoice, f.parallel); err != nil {
		return nil, err
	}
	return append(out, '}'), nil
}

// toolsToAnthropic appends "tools" and "tool_choice".
func toolsToAnthropic(out []byte, tools, choice, parallel gjson.Result) ([]byte, *Error) {
	var err *Error
	if tools.IsArray() && len(tools.Raw) > 2 {
		out = key(out, "tools")
		out = append(out, '[')
		i := 0
		each(tools, func(_, t gjson.Result) bool {
			field := "tools[" + strconv.Itoa(i) + "]"
			i++
			var typ, fn gjson.Result
			each(t, func(k, v gjson.Result) bool {
				switch k.Str {
				case "type":
					typ = v
				case "function":
					fn = v
				}
				return true
			})
			if typ.Str != "function" || !fn.IsObject() {
				err = refuse(field+".type", "only function tools are translated")
				return false
			}
			var name, desc, params gjson.Result
			each(fn, func(k, v gjson.Result) bool {
				switch k.Str {
				case "name":
					name = v
				case "description":
					desc = v
				case "parameters":
					params = v
				}
				return true
			})
			if name.Type != gjson.String {
				err = invalid(field+".function.name", "a string is required")
				return false
			}
			out = comma(out)
			out = append(out, `{"name":`...)
			out = append(out, name.Raw...)
			if desc.Type == gjson.String {
				out = key(out, "description")
				out = append(out, desc.Raw...)
			}
			out = key(out, "input_schema")
			if params.IsObject() {
				out = append(out, params.Raw...)
			} else {
				out = append(out, `{"type":"object","properties":{}}`...)
			}
			out = append(out, '}')
			return true
		})
		if err != nil {
			return nil, err
		}
		out = append(out, ']')
	}
	noParallel := parallel.Type == gjson.False
	var typ, name string
	switch {
	case choice.Type == gjson.String:
		switch choice.Str {
		case "auto":
			typ = "auto"
		case "required":
			typ = "any"
		case "none":
			typ = "none"
		default:
			return nil, invalid("tool_choice", "unknown value "+strconv.Quote(choice.Str))
		}
	case choice.IsObject():
		n := get(get(choice, "function"), "name")
		if n.Type != gjson.String {
			return nil, invalid("tool_choice.function.name", "a string is required")
		}
		typ, name = "tool", n.Raw
	case noParallel && tools.IsArray():
		typ = "auto"
	}
	if typ == "" {
		return out, nil
	}
	out = key(out, "tool_choice")
	out = append(out, `{"type":"`...)
	out = append(out, typ...)
	out = append(out, '"')
	if name != "" {
		out = append(out, `,"name":`...)
		out = append(out, name...)
	}
	if noParallel && typ != "none" {
		out = append(out, `,"disable_parallel_tool_use":true`...)
	}
	return append(out, '}'), nil
}

// turn gathers the content blocks of one Anthropic turn: consecutive OpenAI
// messages of the same Anthropic role merge into one turn, and a user turn
// lists its tool_result blocks first.
type turn struct {
	role    string // "user", "assistant" or "" before the first
	last    string // role of the last turn written
	results []byte // tool_result blocks
	blocks  []byte // other blocks
	tools   int    // tool calls without an id so far (for generated ids)
}

// flush appends the gathered turn to msgs, unless it has no content.
func (t *turn) flush(msgs []byte) []byte {
	if (len(t.results) > 0 || len(t.blocks) > 0) && t.last == t.role && bytes.HasSuffix(msgs, []byte("]}")) {
		// A turn of the same role as the last one written (an empty turn
		// between them was skipped): its blocks join that turn.
		msgs = append(msgs[:len(msgs)-2], ',')
		msgs = append(msgs, t.results...)
		if len(t.results) > 0 && len(t.blocks) > 0 {
			msgs = append(msgs, ',')
		}
		msgs = append(msgs, t.blocks...)
		msgs = append(msgs, "]}"...)
	} else if len(t.results) > 0 || len(t.blocks) > 0 {
		t.last = t.role
		msgs = comma(msgs)
		msgs = append(msgs, `{"role":"`...)
		msgs = append(msgs, t.role...)
		msgs = append(msgs, `","content":[`...)
		msgs = append(msgs, t.results...)
		if len(t.results) > 0 && len(t.blocks) > 0 {
			msgs = append(msgs, ',')
		}
		msgs = append(msgs, t.blocks...)
		msgs = append(msgs, "]}"...)
	}
	t.results, t.blocks = t.results[:0], t.blocks[:0]
	return msgs
}

// start flushes the current turn if it has another role.
func (t *turn) start(msgs []byte, role string) []byte {
	if t.role != role {
		msgs = t.flush(msgs)
		t.role = role
	}
	return msgs
}

// message translates the i-th OpenAI message.
func (t *turn) message(system, msgs []byte, m gjson.Result, i int, o *Options) ([]byte, []byte, *Error) {
	field := "messages[" + strconv.Itoa(i) + "]"
	if !m.IsObject() {
		return nil, nil, invalid(field, "an object is required")
	}
	var role, content, toolCalls, toolCallID gjson.Result
	each(m, func(k, v gjson.Result) bool {
		switch k.Str {
		case "role":
			role = v
		case "content":
			content = v
		case "tool_calls":
			toolCalls = v
		case "tool_call_id":
			toolCallID = v
		}
		return true
	})
	var err *Error
	switch role.Str {
	case "system", "developer":
		system, err = textBlocks(system, content, field)
	case "user":
		msgs = t.start(msgs, "user")
		t.blocks, err = userBlocks(t.blocks, content, field)
	case "assistant":
		msgs = t.start(msgs, "assistant")
		// reasoning_content has no signature, which Anthropic requires of a
		// thinking block sent back: it is dropped.
		if t.blocks, err = textBlocks(t.blocks, content, field); err == nil {
			t.blocks, err = t.toolUses(t.blocks, toolCalls, field, o)
		}
	case "tool":
		msgs = t.start(msgs, "user")
		if toolCallID.Type != gjson.String {
			return nil, nil, invalid(field+".tool_call_id", "a string is required")
		}
		r := comma(t.results)
		r = append(r, `{"type":"tool_result","tool_use_id":`...)
		r = append(r, toolCallID.Raw...)
		switch {
		case content.Type == gjson.String:
			r = append(r, `,"content":`...)
			r = append(r, content.Raw...)
		case content.IsArray():
			var blocks []byte
			if blocks, err = textBlocks(nil, content, field); err == nil && len(blocks) > 0 {
				r = append(r, `,"content":[`...)
				r = append(r, blocks...)
				r = append(r, ']')
			}
		}
		t.results = append(r, '}')
	default:
		return nil, nil, invalid(field+".role", "unknown role "+strconv.Quote(role.Str))
	}
	return system, msgs, err
}

// textBlocks appends Anthropic text blocks for OpenAI content made of text
// (a string, or text and refusal parts); empty texts are skipped.
func textBlocks(b []byte, content gjson.Result, field string) ([]byte, *Error) {
	switch {
	case content.Type == gjson.String:
		return textBlock(b, content), nil
	case content.IsArray():
		var err *Error
		j := 0
		each(content, func(_, p gjson.Result) bool {
			pf := field + ".content[" + strconv.Itoa(j) + "]"
			j++
			switch get(p, "type").Str {
			case "text":
				b = textBlock(b, get(p, "text"))
			case "refusal":
				b = textBlock(b, get(p, "refusal"))
			default:
				err = refuse(pf+".type", "only text is translated here")
			}
			return err == nil
		})
		return b, err
	case content.Type == gjson.Null || !content.Exists():
		return b, nil
	}
	return b, invalid(field+".content", "a string or an array is required")
}

func textBlock(b []byte, text gjson.Result) []byte {
	if text.Type != gjson.String || text.Raw == `""` {
		return b
	}
	b = comma(b)
	b = append(b, `{"type":"text","text":`...)
	b = append(b, text.Raw...)
	return append(b, '}')
}

// userBlocks appends Anthropic blocks for a user message's content: text
// and images (data URLs as base64, other URLs by reference).
func userBlocks(b []byte, content gjson.Result, field string) ([]byte, *Error) {
	if !content.IsArray() {
		return textBlocks(b, content, field)
	}
	var err *Error
	j := 0
	each(content, func(_, p gjson.Result) bool {
		pf := field + ".content[" + strconv.Itoa(j) + "]"
		j++
		switch typ := get(p, "type").Str; typ {
		case "text":
			b = textBlock(b, get(p, "text"))
		case "image_url":
			u := get(p, "image_url")
			if u.Type != gjson.String {
				u = get(u, "url")
			}
			if u.Type != gjson.String {
				err = invalid(pf+".image_url.url", "a string is required")
				return false
			}
			b = imageBlock(b, u)
		case "input_audio":
			err = refuse(pf+".input_audio", "audio input has no Anthropic equivalent")
		default:
			err = refuse(pf+".type", "content part "+strconv.Quote(typ)+" is not translated")
		}
		return err == nil
	})
	return b, err
}

// imageBlock appends an Anthropic image block for an OpenAI image URL.
func imageBlock(b []byte, u gjson.Result) []byte {
	b = comma(b)
	if rest, ok := strings.CutPrefix(str(u), "data:"); ok {
		if mt, data, ok := strings.Cut(rest, ";base64,"); ok {
			b = append(b, `{"type":"image","source":{"type":"base64","media_type":`...)
			b = appendString(b, mt)
			b = append(b, `,"data":`...)
			b = appendString(b, data)
			return append(b, "}}"...)
		}
	}
	b = append(b, `{"type":"image","source":{"type":"url","url":`...)
	b = append(b, u.Raw...)
	return append(b, "}}"...)
}

// toolUses appends tool_use blocks for an assistant message's tool_calls.
func (t *turn) toolUses(b []byte, calls gjson.Result, field string, o *Options) ([]byte, *Error) {
	if !calls.IsArray() {
		return b, nil
	}
	var err *Error
	j := 0
	each(calls, func(_, c gjson.Result) bool {
		cf := field + ".tool_calls[" + strconv.Itoa(j) + "]"
		j++
		var id, name, args gjson.Result
		each(c, func(k, v gjson.Result) bool {
			switch k.Str {
			case "id":
				id = v
			case "function":
				name, args = get(v, "name"), get(v, "arguments")
			}
			return true
		})
		if name.Type != gjson.String {
			err = invalid(cf+".function.name", "a string is required")
			return false
		}
		b = comma(b)
		b = append(b, `{"type":"tool_use","id":`...)
		if id.Type == gjson.String && id.Raw != `""` {
			b = append(b, id.Raw...)
		} else {
			b = o.toolID(b, "toolu_", t.tools)
			t.tools++
		}
		b = append(b, `,"name":`...)
		b = append(b, name.Raw...)
		b = append(b, `,"input":`...)
		a := str(args)
		switch {
		case args.Type == gjson.String && strings.TrimSpace(a) == "":
			b = append(b, "{}"...)
		case args.Type == gjson.String && gjson.Valid(a) && gjson.Parse(a).IsObject():
			b = append(b, a...)
		case args.IsObject():
			b = append(b, args.Raw...)
		default:
			err = invalid(cf+".function.arguments", "a JSON object is required")
			return false
		}
		b = append(b, '}')
		return true
	})
	return b, err
}
