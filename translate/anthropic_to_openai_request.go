package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// RequestAnthropicToOpenAI turns an Anthropic messages request body into an
// OpenAI chat-completions request body (see TRANSLATION.md and the package
// comment for what is mapped, dropped and refused). A refused or unreadable
// request returns an *Error (400) naming the field. A streaming request asks
// for stream_options.include_usage, so the final message_delta has the usage.
// The result is appended to dst (which may be nil); body is not kept.
func RequestAnthropicToOpenAI(dst, body []byte, o Options) ([]byte, error) {
	root, ok := parseRequest(body, &o)
	if !ok || !root.IsObject() {
		return nil, invalid("body", "not a JSON object")
	}
	defer releaseTape(root)
	var f struct {
		model, system, messages, tools, toolChoice, maxTokens, temperature,
		topP, stop, metadata, stream, thinking, outputConfig gjson.Result
	}
	var err *Error
	each(root, func(k, v gjson.Result) bool {
		switch k.Str {
		case "model":
			f.model = v
		case "system":
			f.system = v
		case "messages":
			f.messages = v
		case "tools":
			f.tools = v
		case "tool_choice":
			f.toolChoice = v
		case "max_tokens":
			f.maxTokens = v
		case "temperature":
			f.temperature = v
		case "top_p":
			f.topP = v
		case "stop_sequences":
			f.stop = v
		case "metadata":
			f.metadata = v
		case "stream":
			f.stream = v
		case "thinking":
			f.thinking = v
		case "output_config":
			f.outputConfig = v
		case "mcp_servers":
			if len(v.Raw) > 2 {
				err = refuse("mcp_servers", "MCP servers run by Anthropic have no OpenAI equivalent")
			}
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
	out = key(out, "messages")
	out = append(out, '[')
	if out, err = systemMessage(out, f.system, f.messages); err != nil {
		return nil, err
	}
	i := 0
	each(f.messages, func(_, m gjson.Result) bool {
		out, err = messageToOpenAI(out, m, i, o.Reasoning)
		i++
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	out = append(out, ']')

	if f.maxTokens.Type == gjson.Number {
		// max_tokens by default: the OpenAI-compatible providers this serves
		// (DeepSeek, Kimi, Qwen, vLLM, Ollama) all read it; OpenAI's own
		// reasoning models want max_completion_tokens (a target setting).
		if o.MaxCompletionTokens {
			out = key(out, "max_completion_tokens")
		} else {
			out = key(out, "max_tokens")
		}
		if o.MaxOutputTokens > 0 && f.maxTokens.Num > float64(o.MaxOutputTokens) {
			out = strconv.AppendInt(out, int64(o.MaxOutputTokens), 10)
		} else {
			out = append(out, f.maxTokens.Raw...)
		}
	}
	if f.temperature.Type == gjson.Number {
		out = key(out, "temperature")
		out = append(out, f.temperature.Raw...)
	}
	if f.topP.Type == gjson.Number {
		out = key(out, "top_p")
		out = append(out, f.topP.Raw...)
	}
	if f.stop.IsArray() && len(f.stop.Raw) > 2 {
		out = key(out, "stop")
		out = append(out, f.stop.Raw...)
	}
	if u := get(f.metadata, "user_id"); u.Type == gjson.String {
		out = key(out, "user")
		out = appendUser(out, u)
	}
	if f.stream.Type == gjson.True {
		out = key(out, "stream")
		out = append(out, `true,"stream_options":{"include_usage":true}`...)
	}
	if o.Reasoning {
		if effort := reasoningEffort(f.thinking, f.outputConfig); effort != "" {
			out = key(out, "reasoning_effort")
			out = appendString(out, effort)
		}
	}
	if out, err = toolsToOpenAI(out, f.tools, f.toolChoice); err != nil {
		return nil, err
	}
	return append(out, '}'), nil
}

// maxOpenAIUser is the longest user OpenAI takes, in characters; a longer
// one is refused with 400 "Invalid 'user': string too long".
const maxOpenAIUser = 64

// appendUser appends metadata.user_id as OpenAI's user: as it is when it
// fits maxOpenAIUser, else its SHA-256 in hex (64 characters, one stable
// value per id). Claude Code's id is a ~150-character JSON text.
func appendUser(out []byte, u gjson.Result) []byte {
	if len(u.Raw)-2 <= maxOpenAIUser { // the escaped form is never shorter
		return append(out, u.Raw...)
	}
	s := str(u)
	if utf8.RuneCountInString(s) <= maxOpenAIUser {
		return append(out, u.Raw...)
	}
	sum := sha256.Sum256([]byte(s))
	out = append(out, '"')
	out = hex.AppendEncode(out, sum[:])
	return append(out, '"')
}

// reasoningEffort maps Anthropic's effort (output_config.effort, which
// Claude Code sends with adaptive thinking) or else its thinking setting to
// reasoning_effort.
func reasoningEffort(t, config gjson.Result) string {
	switch e := get(config, "effort").Str; e {
	case "low", "medium", "high":
		return e
	case "max":
		return "high"
	}
	switch get(t, "type").Str {
	case "enabled":
		switch b := get(t, "budget_tokens").Int(); {
		case b < 4096:
			return "low"
		case b < 16384:
			return "medium"
		default:
			return "high"
		}
	case "adaptive":
		return "medium"
	}
	return ""
}

// systemMessage appends one system message for Anthropic's system (a string
// or text blocks, joined with a blank line) followed by the text of every
// message whose role is "system" (Claude Code's mid-conversation system
// messages), in order; nothing when all of it is empty. OpenAI-compatible
// servers' chat templates often take a system message only first, and the
// other direction folds OpenAI system messages found anywhere into
// Anthropic's system the same way.
func systemMessage(out []byte, system, messages gjson.Result) ([]byte, *Error) {
	start := len(out)
	out = append(out, `{"role":"system","content":"`...)
	body := len(out)
	out, err := appendSystemText(out, body, system, "system")
	if err != nil {
		return nil, err
	}
	i := 0
	each(messages, func(_, m gjson.Result) bool {
		if get(m, "role").Str == "system" {
			out, err = appendSystemText(out, body, get(m, "content"), "messages["+strconv.Itoa(i)+"].content")
		}
		i++
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == body {
		return out[:start], nil
	}
	return append(out, `"}`...), nil
}

// appendSystemText appends the escaped text of an Anthropic system value (a
// string or text blocks) to out, each non-empty text after a blank line when
// out already holds text past start.
func appendSystemText(out []byte, start int, v gjson.Result, field string) ([]byte, *Error) {
	add := func(s string) {
		if s == "" {
			return
		}
		if len(out) > start {
			out = append(out, `\n\n`...)
		}
		out = append(out, s...)
	}
	switch {
	case v.Type == gjson.String:
		add(strBody(v))
	case v.IsArray():
		var err *Error
		j := 0
		each(v, func(_, b gjson.Result) bool {
			if get(b, "type").Str != "text" {
				err = refuse(field+"["+strconv.Itoa(j)+"].type", "only text is translated in system")
				return false
			}
			j++
			add(strBody(get(b, "text")))
			return true
		})
		if err != nil {
			return nil, err
		}
	case v.Exists() && v.Type != gjson.Null:
		return nil, invalid(field, "a string or an array is required")
	}
	return out, nil
}

// messageToOpenAI appends the OpenAI messages for the i-th Anthropic message:
// an assistant message (text, reasoning_content, tool_calls), or for a user
// message its tool results as tool messages first, then the rest.
func messageToOpenAI(out []byte, m gjson.Result, i int, reasoning bool) ([]byte, *Error) {
	field := "messages[" + strconv.Itoa(i) + "]"
	if !m.IsObject() {
		return nil, invalid(field, "an object is required")
	}
	var role, content gjson.Result
	each(m, func(k, v gjson.Result) bool {
		switch k.Str {
		case "role":
			role = v
		case "content":
			content = v
		}
		return true
	})
	switch role.Str {
	case "system":
		return out, nil // joined to the leading system message (systemMessage)
	case "user":
		return userToOpenAI(out, content, field)
	case "assistant":
		return assistantToOpenAI(out, content, field, reasoning)
	}
	return nil, invalid(field+".role", "unknown role "+strconv.Quote(role.Str))
}

// userToOpenAI: tool_result blocks become tool messages (in order, first);
// text, images and documents one user message after them. Images inside a
// tool result, which a tool message cannot carry, join that user message.
func userToOpenAI(out []byte, content gjson.Result, field string) ([]byte, *Error) {
	if content.Type == gjson.String {
		if content.Raw == `""` {
			return out, nil
		}
		out = comma(out)
		out = append(out, `{"role":"user","content":`...)
		out = append(out, content.Raw...)
		return append(out, '}'), nil
	}
	if !content.IsArray() {
		return nil, invalid(field+".content", "a string or an array is required")
	}
	// Two passes over the blocks, so that texts are copied once, straight
	// into out: the first writes the tool messages and learns whether the
	// rest is text only (then one string) or needs parts.
	var (
		imgs    []byte // image parts from tool results
		hasText bool
		onlyTx  = true
		err     *Error
	)
	j := 0
	each(content, func(_, b gjson.Result) bool {
		j++
		switch typ := get(b, "type").Str; typ {
		case "text":
			hasText = hasText || strBody(get(b, "text")) != ""
		case "image":
			onlyTx = false
		case "document":
			if get(get(b, "source"), "type").Str == "text" {
				hasText = hasText || strBody(get(get(b, "source"), "data")) != ""
			} else {
				onlyTx = false
			}
		case "tool_result":
			out, imgs, err = toolMessage(out, b, imgs, field+".content["+strconv.Itoa(j-1)+"]")
		default:
			err = refuse(field+".content["+strconv.Itoa(j-1)+"].type", "content block "+strconv.Quote(typ)+" has no OpenAI equivalent")
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if onlyTx && !hasText && len(imgs) == 0 {
		return out, nil
	}
	out = comma(out)
	out = append(out, `{"role":"user","content":`...)
	if onlyTx && len(imgs) == 0 {
		out = append(out, '"')
		start := len(out)
		each(content, func(_, b gjson.Result) bool {
			var s string
			switch get(b, "type").Str {
			case "text":
				s = strBody(get(b, "text"))
			case "document":
				s = strBody(get(get(b, "source"), "data"))
			}
			if s != "" {
				if len(out) > start {
					out = append(out, `\n\n`...)
				}
				out = append(out, s...)
			}
			return true
		})
		return append(out, `"}`...), nil
	}
	out = append(out, '[')
	j = 0
	each(content, func(_, b gjson.Result) bool {
		bf := field + ".content[" + strconv.Itoa(j) + "]"
		j++
		switch get(b, "type").Str {
		case "text":
			out = textPart(out, strBody(get(b, "text")))
		case "image":
			out, err = imagePart(out, get(b, "source"), bf)
		case "document":
			src := get(b, "source")
			switch get(src, "type").Str {
			case "text":
				out = textPart(out, strBody(get(src, "data")))
			case "base64":
				out = comma(out)
				out = append(out, `{"type":"file","file":{"file_data":"data:`...)
				out = append(out, strBody(get(src, "media_type"))...)
				out = append(out, `;base64,`...)
				out = append(out, strBody(get(src, "data"))...)
				out = append(out, `"}}`...)
			default:
				err = refuse(bf+".source.type", "this document source is not translated")
			}
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if len(imgs) > 0 {
		out = append(comma(out), imgs...)
	}
	return append(out, "]}"...), nil
}

// textPart appends an OpenAI text part for a string's escaped body, unless empty.
func textPart(out []byte, s string) []byte {
	if s == "" {
		return out
	}
	out = comma(out)
	out = append(out, `{"type":"text","text":"`...)
	out = append(out, s...)
	return append(out, `"}`...)
}

// imagePart appends an OpenAI image_url part for an Anthropic image source.
func imagePart(parts []byte, src gjson.Result, field string) ([]byte, *Error) {
	parts = comma(parts)
	switch get(src, "type").Str {
	case "base64":
		parts = append(parts, `{"type":"image_url","image_url":{"url":"data:`...)
		parts = append(parts, strBody(get(src, "media_type"))...)
		parts = append(parts, `;base64,`...)
		parts = append(parts, strBody(get(src, "data"))...)
		return append(parts, `"}}`...), nil
	case "url":
		u := get(src, "url")
		if u.Type != gjson.String {
			return nil, invalid(field+".source.url", "a string is required")
		}
		parts = append(parts, `{"type":"image_url","image_url":{"url":`...)
		parts = append(parts, u.Raw...)
		return append(parts, "}}"...), nil
	}
	return nil, refuse(field+".source.type", "this image source is not translated")
}

// toolMessage appends the tool message for one tool_result block, and the
// image parts it held to imgs. is_error has no OpenAI field: the text is marked.
func toolMessage(out []byte, b gjson.Result, imgs []byte, field string) ([]byte, []byte, *Error) {
	var id, content, isErr gjson.Result
	each(b, func(k, v gjson.Result) bool {
		switch k.Str {
		case "tool_use_id":
			id = v
		case "content":
			content = v
		case "is_error":
			isErr = v
		}
		return true
	})
	if id.Type != gjson.String {
		return nil, nil, invalid(field+".tool_use_id", "a string is required")
	}
	out = comma(out)
	out = append(out, `{"role":"tool","tool_call_id":`...)
	out = append(out, id.Raw...)
	out = append(out, `,"content":"`...)
	if isErr.Type == gjson.True {
		out = append(out, "Error: "...)
	}
	var err *Error
	switch {
	case content.Type == gjson.String:
		out = append(out, strBody(content)...)
	case content.IsArray():
		n := 0
		j := 0
		each(content, func(_, c gjson.Result) bool {
			cf := field + ".content[" + strconv.Itoa(j) + "]"
			j++
			switch typ := get(c, "type").Str; typ {
			case "text":
				if s := strBody(get(c, "text")); s != "" {
					if n > 0 {
						out = append(out, `\n\n`...)
					}
					out = append(out, s...)
					n++
				}
			case "image":
				imgs, err = imagePart(imgs, get(c, "source"), cf)
			default:
				err = refuse(cf+".type", "content block "+strconv.Quote(typ)+" in a tool result has no OpenAI equivalent")
			}
			return err == nil
		})
	}
	if err != nil {
		return nil, nil, err
	}
	return append(out, `"}`...), imgs, nil
}

// assistantToOpenAI appends one assistant message: texts joined as content,
// thinking joined as reasoning_content when the target reasons (signatures
// dropped; a target without reasoning may refuse the unknown field), tool_use
// blocks as tool_calls with the input as the arguments string.
func assistantToOpenAI(out []byte, content gjson.Result, field string, reasons bool) ([]byte, *Error) {
	if content.Type == gjson.String {
		out = comma(out)
		out = append(out, `{"role":"assistant","content":`...)
		out = append(out, content.Raw...)
		return append(out, '}'), nil
	}
	if !content.IsArray() {
		return nil, invalid(field+".content", "a string or an array is required")
	}
	var text, reasoning, calls []byte
	var err *Error
	j := 0
	each(content, func(_, b gjson.Result) bool {
		bf := field + ".content[" + strconv.Itoa(j) + "]"
		j++
		switch typ := get(b, "type").Str; typ {
		case "text":
			if s := strBody(get(b, "text")); s != "" {
				if len(text) > 0 {
					text = append(text, `\n\n`...)
				}
				text = append(text, s...)
			}
		case "thinking":
			if s := strBody(get(b, "thinking")); s != "" && reasons {
				if len(reasoning) > 0 {
					reasoning = append(reasoning, `\n\n`...)
				}
				reasoning = append(reasoning, s...)
			}
		case "redacted_thinking":
			// Encrypted for Anthropic only: nothing an OpenAI target can read.
		case "tool_use":
			var id, name, input gjson.Result
			each(b, func(k, v gjson.Result) bool {
				switch k.Str {
				case "id":
					id = v
				case "name":
					name = v
				case "input":
					input = v
				}
				return true
			})
			if id.Type != gjson.String || name.Type != gjson.String {
				err = invalid(bf, "a tool_use block needs a string id and name")
				return false
			}
			calls = comma(calls)
			calls = append(calls, `{"id":`...)
			calls = append(calls, id.Raw...)
			calls = append(calls, `,"type":"function","function":{"name":`...)
			calls = append(calls, name.Raw...)
			calls = append(calls, `,"arguments":`...)
			if input.Exists() {
				calls = appendString(calls, input.Raw)
			} else {
				calls = append(calls, `"{}"`...)
			}
			calls = append(calls, "}}"...)
		default:
			err = refuse(bf+".type", "content block "+strconv.Quote(typ)+" has no OpenAI equivalent")
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if len(text) == 0 && len(calls) == 0 && len(reasoning) == 0 {
		return out, nil
	}
	out = comma(out)
	out = append(out, `{"role":"assistant","content":`...)
	out = appendAssistantFields(out, text, reasoning, calls)
	return append(out, '}'), nil
}

// toolsToOpenAI appends "tools", "tool_choice" and "parallel_tool_calls".
func toolsToOpenAI(out []byte, tools, choice gjson.Result) ([]byte, *Error) {
	var err *Error
	if tools.IsArray() && len(tools.Raw) > 2 {
		out = key(out, "tools")
		out = append(out, '[')
		i := 0
		each(tools, func(_, t gjson.Result) bool {
			field := "tools[" + strconv.Itoa(i) + "]"
			i++
			var typ, name, desc, schema gjson.Result
			each(t, func(k, v gjson.Result) bool {
				switch k.Str {
				case "type":
					typ = v
				case "name":
					name = v
				case "description":
					desc = v
				case "input_schema":
					schema = v
				}
				return true
			})
			if typ.Exists() && typ.Str != "custom" {
				err = refuse(field, "Anthropic server tool "+strconv.Quote(typ.Str)+" has no OpenAI equivalent")
				return false
			}
			if name.Type != gjson.String {
				err = invalid(field+".name", "a string is required")
				return false
			}
			out = comma(out)
			out = append(out, `{"type":"function","function":{"name":`...)
			out = append(out, name.Raw...)
			if desc.Type == gjson.String {
				out = append(out, `,"description":`...)
				out = append(out, desc.Raw...)
			}
			out = append(out, `,"parameters":`...)
			if schema.IsObject() {
				out = append(out, schema.Raw...)
			} else {
				out = append(out, `{"type":"object","properties":{}}`...)
			}
			out = append(out, "}}"...)
			return true
		})
		if err != nil {
			return nil, err
		}
		out = append(out, ']')
	}
	if !choice.IsObject() {
		return out, nil
	}
	switch typ := get(choice, "type").Str; typ {
	case "auto":
		out = key(out, "tool_choice")
		out = append(out, `"auto"`...)
	case "any":
		out = key(out, "tool_choice")
		out = append(out, `"required"`...)
	case "none":
		out = key(out, "tool_choice")
		out = append(out, `"none"`...)
	case "tool":
		n := get(choice, "name")
		if n.Type != gjson.String {
			return nil, invalid("tool_choice.name", "a string is required")
		}
		out = key(out, "tool_choice")
		out = append(out, `{"type":"function","function":{"name":`...)
		out = append(out, n.Raw...)
		out = append(out, "}}"...)
	default:
		return nil, invalid("tool_choice.type", "unknown value "+strconv.Quote(typ))
	}
	if get(choice, "disable_parallel_tool_use").Type == gjson.True {
		out = key(out, "parallel_tool_calls")
		out = append(out, "false"...)
	}
	return out, nil
}

// appendAssistantFields appends an OpenAI assistant message's content (text,
// already JSON-escaped, or null), reasoning_content and tool_calls (already
// encoded, comma-separated): the fields an answer's message and a request's
// assistant turn share.
func appendAssistantFields(out, text, reasoning, calls []byte) []byte {
	if len(text) > 0 {
		out = append(out, '"')
		out = append(out, text...)
		out = append(out, '"')
	} else {
		out = append(out, "null"...)
	}
	if len(reasoning) > 0 {
		out = append(out, `,"reasoning_content":"`...)
		out = append(out, reasoning...)
		out = append(out, '"')
	}
	if len(calls) > 0 {
		out = append(out, `,"tool_calls":[`...)
		out = append(out, calls...)
		out = append(out, ']')
	}
	return out
}
