package sim

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/tidwall/gjson"
)

// The default simulation does one tool round trip, in both APIs, so that
// demo mode and end-to-end tests (Claude Code included) can show tools and
// translation without scripting:
//   - when the last message carries a tool result (an OpenAI "tool" message,
//     an Anthropic user turn with tool_result blocks), the answer is the text
//     "The tool returned: " and the result's first 300 bytes;
//   - else when the request offers a tool with a "file_path" or "path"
//     property and the last user text names an absolute path, the answer
//     calls that tool with that path (finish_reason tool_calls / stop_reason
//     tool_use): a tool that requires no other parameter first, file_path
//     before path, else the first such tool;
//   - else the usual simulated text.

// absPath finds an absolute file path in a prompt.
var absPath = regexp.MustCompile(`(?:^|\s)(/[\w.\-/]+[\w])`)

// toolTurn returns the tool call or the text the default simulation answers
// with for a request body, or ok=false for the usual text.
func toolTurn(body []byte) (call *ToolCall, reply string, ok bool) {
	msgs := gjson.GetBytes(body, "messages").Array()
	if len(msgs) == 0 {
		return nil, "", false
	}
	last := msgs[len(msgs)-1]
	if result, isResult := toolResultText(last); isResult {
		if len(result) > 300 {
			result = result[:300]
		}
		return nil, "The tool returned: " + strings.ToValidUTF8(result, ""), true
	}
	if last.Get("role").String() != "user" {
		return nil, "", false
	}
	// The last path named: Claude Code puts reminders before the prompt.
	all := absPath.FindAllStringSubmatch(textOf(last.Get("content")), -1)
	if all == nil {
		return nil, "", false
	}
	m := all[len(all)-1]
	// The tool a path alone can call, file_path before path (Claude Code
	// lists Edit, which requires more, before Read, and EnterWorktree's
	// optional path before both); else the first with such a property.
	var name, prop string
	best := 0
	gjson.GetBytes(body, "tools").ForEach(func(_, t gjson.Result) bool {
		n, schema := t.Get("name"), t.Get("input_schema")
		if !n.Exists() {
			n, schema = t.Get("function.name"), t.Get("function.parameters")
		}
		for i, p := range []string{"file_path", "path"} {
			if !schema.Get("properties").Get(p).Exists() {
				continue
			}
			alone := true
			schema.Get("required").ForEach(func(_, r gjson.Result) bool {
				alone = r.String() == p
				return alone
			})
			score := 2 - i // file_path 2, path 1; +2 when nothing else is required
			if alone {
				score += 2
			}
			if score > best {
				name, prop, best = n.String(), p, score
			}
			break
		}
		return best < 4
	})
	if name == "" {
		return nil, "", false
	}
	args, _ := json.Marshal(map[string]string{prop: m[1]})
	return &ToolCall{ID: "toolu_sim_" + name, Name: name, Arguments: string(args)}, "", true
}

// toolResultText returns the text of the tool result a message carries.
func toolResultText(m gjson.Result) (string, bool) {
	if m.Get("role").String() == "tool" {
		return textOf(m.Get("content")), true
	}
	var text string
	found := false
	m.Get("content").ForEach(func(_, b gjson.Result) bool {
		if b.Get("type").String() == "tool_result" {
			text, found = textOf(b.Get("content")), true
			return false
		}
		return true
	})
	return text, found
}

// textOf joins the text of a content value (a string or parts/blocks).
func textOf(c gjson.Result) string {
	if c.Type == gjson.String {
		return c.String()
	}
	var sb strings.Builder
	c.ForEach(func(_, p gjson.Result) bool {
		sb.WriteString(p.Get("text").String())
		return true
	})
	return sb.String()
}

// openAIToolTurn answers a chat completion with toolTurn's call or text.
func (c *call) openAIToolTurn(req simRequest, model, id string) bool {
	tc, reply, ok := toolTurn(c.rec.Body)
	if !ok {
		return false
	}
	in := EstimateTokens(c.rec.Body)
	switch {
	case tc != nil && req.stream:
		c.streamDefault(withReasoning(req, OpenAIToolCallStream("", []ToolCall{*tc}, in, 10)))
	case tc != nil:
		c.jsonAnswer(OpenAIToolCallAnswer("", []ToolCall{*tc}, in, 10))
	case req.stream:
		text := strings.SplitAfter(reply, " ")
		c.streamDefault(withReasoning(req, newChunkMeta("chatcmpl-sim-"+id, model).stream(text, in, len(text))))
	default:
		c.jsonAnswer(openAICompletion("chatcmpl-sim-"+id, model, reply, in, len(strings.Fields(reply))))
	}
	return true
}

// anthropicToolTurn answers a messages request with toolTurn's call or text.
func (c *call) anthropicToolTurn(req simRequest, model, id string) bool {
	tc, reply, ok := toolTurn(c.rec.Body)
	if !ok {
		return false
	}
	in := EstimateTokens(c.rec.Body)
	switch {
	case tc != nil && req.stream:
		c.streamDefault(AnthropicToolUseStream("", []ToolCall{*tc}, in, 10))
	case tc != nil:
		c.jsonAnswer(AnthropicToolUseAnswer("", []ToolCall{*tc}, in, 10))
	case req.stream:
		text := strings.SplitAfter(reply, " ")
		c.streamDefault(anthropicStream("msg_sim_"+id, model, text, in, len(text)))
	default:
		c.jsonAnswer(anthropicMessage("msg_sim_"+id, model, reply, in, len(strings.Fields(reply))))
	}
	return true
}
