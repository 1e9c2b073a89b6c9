package sim

import "time"

// ToolCall is one scripted tool call for the tool helpers below: ID, tool
// name and arguments (a JSON object's text, e.g. `{"file_path":"/a"}`).
type ToolCall struct {
	ID, Name, Arguments string
}

type oaFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type oaToolCall struct {
	Index    *int       `json:"index,omitempty"`
	ID       string     `json:"id,omitempty"`
	Type     string     `json:"type,omitempty"`
	Function oaFunction `json:"function"`
}

type oaToolDelta struct {
	Role      string       `json:"role,omitempty"`
	Content   *string      `json:"content,omitempty"`
	ToolCalls []oaToolCall `json:"tool_calls,omitempty"`
}

type oaToolChunkChoice struct {
	Index        int         `json:"index"`
	Delta        oaToolDelta `json:"delta"`
	FinishReason *string     `json:"finish_reason"`
}

// OpenAIToolCallStream returns a chat completions stream that says text (if
// any) and then calls each tool, as OpenAI streams them: the first chunk of
// a call carries index, id, type and name with empty arguments, then the
// arguments arrive in two fragments; finish_reason "tool_calls", a usage
// chunk and [OpenAIDone].
func OpenAIToolCallStream(text string, calls []ToolCall, prompt, completion int) []string {
	m := newChunkMeta("chatcmpl-sim-tools", "")
	chunk := func(d oaToolDelta, finish *string) string {
		return sseData(struct {
			ID      string              `json:"id"`
			Object  string              `json:"object"`
			Created int64               `json:"created"`
			Model   string              `json:"model"`
			Choices []oaToolChunkChoice `json:"choices"`
		}{m.id, "chat.completion.chunk", m.created, m.model, []oaToolChunkChoice{{Delta: d, FinishReason: finish}}})
	}
	ev := []string{m.role()}
	if text != "" {
		ev = append(ev, m.content(text))
	}
	for i, c := range calls {
		ev = append(ev, chunk(oaToolDelta{ToolCalls: []oaToolCall{{Index: &i, ID: c.ID, Type: "function",
			Function: oaFunction{Name: c.Name}}}}, nil))
		half := len(c.Arguments) / 2
		for _, part := range []string{c.Arguments[:half], c.Arguments[half:]} {
			ev = append(ev, chunk(oaToolDelta{ToolCalls: []oaToolCall{{Index: &i,
				Function: oaFunction{Arguments: part}}}}, nil))
		}
	}
	finish := "tool_calls"
	return append(ev, chunk(oaToolDelta{}, &finish), m.usage(prompt, completion), OpenAIDone)
}

// OpenAIToolCallAnswer returns a non-stream chat completion that says text
// (null when empty) and calls the tools, finish_reason "tool_calls".
func OpenAIToolCallAnswer(text string, calls []ToolCall, prompt, completion int) string {
	tc := make([]oaToolCall, len(calls))
	for i, c := range calls {
		tc[i] = oaToolCall{ID: c.ID, Type: "function", Function: oaFunction{Name: c.Name, Arguments: c.Arguments}}
	}
	var content *string
	if text != "" {
		content = &text
	}
	type message struct {
		Role      string       `json:"role"`
		Content   *string      `json:"content"`
		ToolCalls []oaToolCall `json:"tool_calls"`
	}
	type choice struct {
		Index        int     `json:"index"`
		Message      message `json:"message"`
		FinishReason string  `json:"finish_reason"`
	}
	return mustJSON(struct {
		ID      string   `json:"id"`
		Object  string   `json:"object"`
		Created int64    `json:"created"`
		Model   string   `json:"model"`
		Choices []choice `json:"choices"`
		Usage   oaUsage  `json:"usage"`
	}{"chatcmpl-sim-tools", "chat.completion", time.Now().Unix(), DefaultOpenAIModel,
		[]choice{{Message: message{Role: "assistant", Content: content, ToolCalls: tc}, FinishReason: "tool_calls"}},
		oaUsage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}})
}

type anBlock struct {
	Type  string `json:"type"`
	Text  string `json:"text,omitempty"`
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Input any    `json:"input,omitempty"`
}

// rawJSON keeps a tool's arguments as they are in the encoded block.
type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

// AnthropicToolUseStream returns a messages stream that says text (if any)
// in a text block and then calls each tool in a tool_use block whose input
// arrives as two input_json_delta fragments (after an empty one, as
// Anthropic sends); stop_reason "tool_use".
func AnthropicToolUseStream(text string, calls []ToolCall, in, out int) []string {
	type typed struct {
		Type string `json:"type"`
	}
	type delta struct {
		Type        string `json:"type"`
		Text        string `json:"text,omitempty"`
		PartialJSON string `json:"partial_json"`
	}
	ev := []string{sseEvent("message_start", map[string]any{"type": "message_start", "message": anMessage{
		ID: "msg_sim_tools", Type: "message", Role: "assistant", Content: []anText{}, Model: DefaultAnthropicModel,
		Usage: anUsage{InputTokens: in, OutputTokens: 1}}})}
	idx := 0
	blockDelta := func(d any) string {
		return sseEvent("content_block_delta", map[string]any{"type": "content_block_delta", "index": idx, "delta": d})
	}
	stop := func() string {
		return sseEvent("content_block_stop", map[string]any{"type": "content_block_stop", "index": idx})
	}
	if text != "" {
		ev = append(ev,
			sseEvent("content_block_start", map[string]any{"type": "content_block_start", "index": idx,
				"content_block": anText{Type: "text", Text: ""}}),
			sseEvent("ping", typed{Type: "ping"}),
			blockDelta(anText{Type: "text_delta", Text: text}), stop())
		idx++
	}
	for _, c := range calls {
		half := len(c.Arguments) / 2
		ev = append(ev,
			sseEvent("content_block_start", map[string]any{"type": "content_block_start", "index": idx,
				"content_block": map[string]any{"type": "tool_use", "id": c.ID, "name": c.Name, "input": map[string]any{}}}),
			blockDelta(delta{Type: "input_json_delta"}),
			blockDelta(delta{Type: "input_json_delta", PartialJSON: c.Arguments[:half]}),
			blockDelta(delta{Type: "input_json_delta", PartialJSON: c.Arguments[half:]}),
			stop())
		idx++
	}
	return append(ev,
		sseEvent("message_delta", map[string]any{"type": "message_delta",
			"delta": map[string]any{"stop_reason": "tool_use", "stop_sequence": nil},
			"usage": map[string]any{"output_tokens": out}}),
		sseEvent("message_stop", typed{Type: "message_stop"}))
}

// AnthropicToolUseAnswer returns a non-stream message that says text (if
// any) and calls the tools, stop_reason "tool_use".
func AnthropicToolUseAnswer(text string, calls []ToolCall, in, out int) string {
	var blocks []anBlock
	if text != "" {
		blocks = append(blocks, anBlock{Type: "text", Text: text})
	}
	for _, c := range calls {
		blocks = append(blocks, anBlock{Type: "tool_use", ID: c.ID, Name: c.Name, Input: rawJSON(c.Arguments)})
	}
	return mustJSON(map[string]any{"id": "msg_sim_tools", "type": "message", "role": "assistant",
		"model": DefaultAnthropicModel, "content": blocks, "stop_reason": "tool_use", "stop_sequence": nil,
		"usage": anUsage{InputTokens: in, OutputTokens: out}})
}
