package sim

import (
	"encoding/json"
	"time"
)

// Default model names used by the exported helpers, which take no model
// argument, and by the default simulation when a request names no model.
const (
	// DefaultOpenAIModel is the model reported by OpenAI-shaped helpers.
	DefaultOpenAIModel = "gpt-4o-mini"
	// DefaultAnthropicModel is the model reported by Anthropic-shaped helpers.
	DefaultAnthropicModel = "claude-3-5-haiku-latest"
)

// OpenAIDone is the terminal event of an OpenAI chat completions stream.
const OpenAIDone = "data: [DONE]\n\n"

// mustJSON marshals v, which is always one of this package's own value
// types, so an error is a programming mistake.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("sim: " + err.Error())
	}
	return string(b)
}

// sseData renders v as one `data:` SSE event.
func sseData(v any) string { return "data: " + mustJSON(v) + "\n\n" }

// sseEvent renders v as one named SSE event.
func sseEvent(name string, v any) string {
	return "event: " + name + "\ndata: " + mustJSON(v) + "\n\n"
}

// ---- OpenAI ----

type oaError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

type oaErrorBody struct {
	Error oaError `json:"error"`
}

func oaErrorValue(typ, code, msg string) oaErrorBody {
	e := oaErrorBody{Error: oaError{Message: msg, Type: typ}}
	if code != "" {
		e.Error.Code = &code
	}
	return e
}

// OpenAIError returns an error body in the OpenAI shape:
// {"error":{"message":msg,"type":typ,"param":null,"code":null}}.
func OpenAIError(typ, msg string) string { return mustJSON(oaErrorValue(typ, "", msg)) }

// openAIErrorCode is OpenAIError with a non-null code.
func openAIErrorCode(typ, code, msg string) string { return mustJSON(oaErrorValue(typ, code, msg)) }

// OpenAIErrorEvent returns an OpenAI-style in-stream error event:
// `data: {"error":{…}}` followed by a blank line.
func OpenAIErrorEvent(typ, msg string) string { return sseData(oaErrorValue(typ, "", msg)) }

type oaUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type oaDelta struct {
	Role      string  `json:"role,omitempty"`
	Content   *string `json:"content,omitempty"`
	Reasoning string  `json:"reasoning_content,omitempty"`
}

type oaChunkChoice struct {
	Index        int     `json:"index"`
	Delta        oaDelta `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

type oaChunk struct {
	ID      string          `json:"id"`
	Object  string          `json:"object"`
	Created int64           `json:"created"`
	Model   string          `json:"model"`
	Choices []oaChunkChoice `json:"choices"`
	Usage   *oaUsage        `json:"usage,omitempty"`
}

// chunkMeta identifies one OpenAI stream: all its chunks share id, created
// and model, as in the real API.
type chunkMeta struct {
	id      string
	created int64
	model   string
}

func newChunkMeta(id, model string) chunkMeta {
	if model == "" {
		model = DefaultOpenAIModel
	}
	return chunkMeta{id: id, created: time.Now().Unix(), model: model}
}

func (m chunkMeta) chunk(choices []oaChunkChoice, usage *oaUsage) string {
	if choices == nil {
		choices = []oaChunkChoice{}
	}
	return sseData(oaChunk{ID: m.id, Object: "chat.completion.chunk", Created: m.created,
		Model: m.model, Choices: choices, Usage: usage})
}

func (m chunkMeta) content(s string) string {
	return m.chunk([]oaChunkChoice{{Delta: oaDelta{Content: &s}}}, nil)
}

func (m chunkMeta) role() string {
	empty := ""
	return m.chunk([]oaChunkChoice{{Delta: oaDelta{Role: "assistant", Content: &empty}}}, nil)
}

func (m chunkMeta) finish(reason string) string {
	return m.chunk([]oaChunkChoice{{Delta: oaDelta{}, FinishReason: &reason}}, nil)
}

func (m chunkMeta) usage(prompt, completion int) string {
	return m.chunk(nil, &oaUsage{PromptTokens: prompt, CompletionTokens: completion,
		TotalTokens: prompt + completion})
}

func (m chunkMeta) stream(text []string, prompt, completion int) []string {
	ev := make([]string, 0, len(text)+4)
	ev = append(ev, m.role())
	for _, t := range text {
		ev = append(ev, m.content(t))
	}
	return append(ev, m.finish("stop"), m.usage(prompt, completion), OpenAIDone)
}

// OpenAIChunk returns one chat.completion.chunk event whose delta carries
// content: `data: {"object":"chat.completion.chunk",…}` and a blank line.
func OpenAIChunk(content string) string {
	return newChunkMeta("chatcmpl-sim", "").content(content)
}

// OpenAIUsageChunk returns the final usage chunk of an OpenAI stream (empty
// choices, usage with prompt, completion and total tokens), as sent with
// stream_options.include_usage.
func OpenAIUsageChunk(prompt, completion int) string {
	return newChunkMeta("chatcmpl-sim", "").usage(prompt, completion)
}

// OpenAIStream returns a complete chat completions stream: a role chunk, one
// content chunk per element of text, a chunk with finish_reason "stop", a
// usage chunk, and [OpenAIDone] — len(text)+4 events.
func OpenAIStream(text []string, prompt, completion int) []string {
	return newChunkMeta("chatcmpl-sim", "").stream(text, prompt, completion)
}

type oaMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type oaChoice struct {
	Index        int       `json:"index"`
	Message      oaMessage `json:"message"`
	FinishReason string    `json:"finish_reason"`
}

type oaCompletion struct {
	ID      string     `json:"id"`
	Object  string     `json:"object"`
	Created int64      `json:"created"`
	Model   string     `json:"model"`
	Choices []oaChoice `json:"choices"`
	Usage   oaUsage    `json:"usage"`
}

// openAICompletion is a non-stream chat.completion body.
func openAICompletion(id, model, text string, prompt, completion int) string {
	return mustJSON(oaCompletion{
		ID: id, Object: "chat.completion", Created: time.Now().Unix(), Model: model,
		Choices: []oaChoice{{Message: oaMessage{Role: "assistant", Content: text}, FinishReason: "stop"}},
		Usage:   oaUsage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion},
	})
}

// ---- Anthropic ----

type anError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type anErrorBody struct {
	Type  string  `json:"type"`
	Error anError `json:"error"`
}

// AnthropicError returns an error body in the Anthropic shape:
// {"type":"error","error":{"type":typ,"message":msg}}.
func AnthropicError(typ, msg string) string {
	return mustJSON(anErrorBody{Type: "error", Error: anError{Type: typ, Message: msg}})
}

// AnthropicErrorEvent returns an Anthropic in-stream error event:
// `event: error` and `data: {"type":"error","error":{…}}`, then a blank line.
func AnthropicErrorEvent(typ, msg string) string {
	return sseEvent("error", anErrorBody{Type: "error", Error: anError{Type: typ, Message: msg}})
}

type anUsage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

type anText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anMessage struct {
	ID           string   `json:"id"`
	Type         string   `json:"type"`
	Role         string   `json:"role"`
	Content      []anText `json:"content"`
	Model        string   `json:"model"`
	StopReason   *string  `json:"stop_reason"`
	StopSequence *string  `json:"stop_sequence"`
	Usage        anUsage  `json:"usage"`
}

func anthropicMessage(id, model, text string, in, out int) string {
	stop := "end_turn"
	return mustJSON(anMessage{ID: id, Type: "message", Role: "assistant",
		Content: []anText{{Type: "text", Text: text}}, Model: model, StopReason: &stop,
		Usage: anUsage{InputTokens: in, OutputTokens: out}})
}

func anthropicStream(id, model string, text []string, in, out int) []string {
	if model == "" {
		model = DefaultAnthropicModel
	}
	type typed struct {
		Type string `json:"type"`
	}
	type start struct {
		Type    string    `json:"type"`
		Message anMessage `json:"message"`
	}
	type blockStart struct {
		Type         string `json:"type"`
		Index        int    `json:"index"`
		ContentBlock anText `json:"content_block"`
	}
	type blockDelta struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
		Delta anText `json:"delta"`
	}
	type blockStop struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}
	type msgDeltaBody struct {
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	}
	type msgDelta struct {
		Type  string       `json:"type"`
		Delta msgDeltaBody `json:"delta"`
		Usage struct {
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}

	ev := make([]string, 0, len(text)+6)
	ev = append(ev,
		sseEvent("message_start", start{Type: "message_start", Message: anMessage{
			ID: id, Type: "message", Role: "assistant", Content: []anText{}, Model: model,
			Usage: anUsage{InputTokens: in, OutputTokens: 1}}}),
		sseEvent("content_block_start", blockStart{Type: "content_block_start",
			ContentBlock: anText{Type: "text", Text: ""}}),
		sseEvent("ping", typed{Type: "ping"}),
	)
	for _, t := range text {
		ev = append(ev, sseEvent("content_block_delta", blockDelta{Type: "content_block_delta",
			Delta: anText{Type: "text_delta", Text: t}}))
	}
	md := msgDelta{Type: "message_delta", Delta: msgDeltaBody{StopReason: "end_turn"}}
	md.Usage.OutputTokens = out
	return append(ev,
		sseEvent("content_block_stop", blockStop{Type: "content_block_stop"}),
		sseEvent("message_delta", md),
		sseEvent("message_stop", typed{Type: "message_stop"}),
	)
}

// AnthropicStream returns a complete Anthropic messages stream: message_start
// (usage.input_tokens = in), content_block_start, ping, one
// content_block_delta per element of text, content_block_stop, message_delta
// (usage.output_tokens = out) and message_stop — len(text)+6 events, each as
// `event: X\ndata: {…}\n\n`.
func AnthropicStream(text []string, in, out int) []string {
	return anthropicStream("msg_sim", "", text, in, out)
}

// ---- Responses API ----

type rsContent struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
}

type rsItem struct {
	Type    string      `json:"type"`
	ID      string      `json:"id"`
	Status  string      `json:"status"`
	Role    string      `json:"role"`
	Content []rsContent `json:"content"`
}

type rsUsage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

type rsResponse struct {
	ID        string   `json:"id"`
	Object    string   `json:"object"`
	CreatedAt int64    `json:"created_at"`
	Status    string   `json:"status"`
	Model     string   `json:"model"`
	Output    []rsItem `json:"output"`
	Usage     *rsUsage `json:"usage"`
}

func responsesObject(id, model, text string, in, out int, done bool) rsResponse {
	r := rsResponse{ID: id, Object: "response", CreatedAt: time.Now().Unix(), Status: "in_progress",
		Model: model, Output: []rsItem{}}
	if done {
		r.Status = "completed"
		r.Output = []rsItem{responsesItem(id, text, "completed")}
		r.Usage = &rsUsage{InputTokens: in, OutputTokens: out, TotalTokens: in + out}
	}
	return r
}

func responsesItem(id, text, status string) rsItem {
	content := []rsContent{}
	if status == "completed" {
		content = []rsContent{{Type: "output_text", Text: text, Annotations: []any{}}}
	}
	return rsItem{Type: "message", ID: "msg_" + id, Status: status, Role: "assistant", Content: content}
}

func responsesStream(id, model string, text []string, in, out int) []string {
	if model == "" {
		model = DefaultOpenAIModel
	}
	full := ""
	for _, t := range text {
		full += t
	}
	seq := 0
	ev := make([]string, 0, len(text)+8)
	add := func(name string, fields map[string]any) {
		fields["type"] = name
		fields["sequence_number"] = seq
		seq++
		ev = append(ev, sseEvent(name, fields))
	}
	itemID := "msg_" + id
	add("response.created", map[string]any{"response": responsesObject(id, model, "", 0, 0, false)})
	add("response.in_progress", map[string]any{"response": responsesObject(id, model, "", 0, 0, false)})
	add("response.output_item.added", map[string]any{"output_index": 0, "item": responsesItem(id, "", "in_progress")})
	add("response.content_part.added", map[string]any{"item_id": itemID, "output_index": 0, "content_index": 0,
		"part": rsContent{Type: "output_text", Text: "", Annotations: []any{}}})
	for _, t := range text {
		add("response.output_text.delta", map[string]any{"item_id": itemID, "output_index": 0,
			"content_index": 0, "delta": t})
	}
	add("response.output_text.done", map[string]any{"item_id": itemID, "output_index": 0,
		"content_index": 0, "text": full})
	add("response.content_part.done", map[string]any{"item_id": itemID, "output_index": 0, "content_index": 0,
		"part": rsContent{Type: "output_text", Text: full, Annotations: []any{}}})
	add("response.output_item.done", map[string]any{"output_index": 0, "item": responsesItem(id, full, "completed")})
	add("response.completed", map[string]any{"response": responsesObject(id, model, full, in, out, true)})
	return ev
}

// ResponsesStream returns a complete Responses API stream: response.created,
// response.in_progress, response.output_item.added,
// response.content_part.added, one response.output_text.delta per element of
// text, response.output_text.done, response.content_part.done,
// response.output_item.done and response.completed (usage.input_tokens = in,
// usage.output_tokens = out) — len(text)+8 events.
func ResponsesStream(text []string, in, out int) []string {
	return responsesStream("resp_sim", "", text, in, out)
}
