package sim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"unicode/utf8"
)

// family selects the error shape: Anthropic for /v1/messages*, else OpenAI.
type family int

const (
	familyOpenAI family = iota
	familyAnthropic
)

func familyOf(path string) family {
	if strings.HasPrefix(path, "/v1/messages") {
		return familyAnthropic
	}
	return familyOpenAI
}

// errKind is one of the errors the server itself produces.
type errKind int

const (
	errUnauthorized errKind = iota
	errBadJSON
	errNotFound
	errRateLimit
)

// Messages of the errors the server produces, for assertions.
const (
	// RateLimitMessage is the message of a simulated rate limit (both
	// families); it mentions "rate limit" as real upstreams do.
	RateLimitMessage = "Rate limit reached for requests (simulated by sim). Please try again later."
	// UnauthorizedMessage is the message of the 401 sent for a missing or
	// unknown key; it never echoes the key.
	UnauthorizedMessage = "Incorrect API key provided."
)

// errorBody renders a server-produced error in the family's shape.
func errorBody(fam family, kind errKind, r *http.Request) string {
	if fam == familyAnthropic {
		switch kind {
		case errUnauthorized:
			return AnthropicError("authentication_error", UnauthorizedMessage)
		case errBadJSON:
			return AnthropicError("invalid_request_error", "There was an error parsing the body of your request: it is not valid JSON.")
		case errNotFound:
			return AnthropicError("not_found_error", fmt.Sprintf("Not found: %s %s", r.Method, r.URL.Path))
		default:
			return AnthropicError("rate_limit_error", RateLimitMessage)
		}
	}
	switch kind {
	case errUnauthorized:
		return openAIErrorCode("invalid_request_error", "invalid_api_key", UnauthorizedMessage)
	case errBadJSON:
		return OpenAIError("invalid_request_error", "We could not parse the JSON body of your request.")
	case errNotFound:
		return OpenAIError("invalid_request_error", fmt.Sprintf("Invalid URL (%s %s)", r.Method, r.URL.Path))
	default:
		return openAIErrorCode("rate_limit_error", "rate_limit_exceeded", RateLimitMessage)
	}
}

var errStatus = map[errKind]int{
	errUnauthorized: http.StatusUnauthorized,
	errBadJSON:      http.StatusBadRequest,
	errNotFound:     http.StatusNotFound,
	errRateLimit:    http.StatusTooManyRequests,
}

// writeError answers with a server-produced error.
func (c *call) writeError(fam family, kind errKind) {
	c.writeBody(errStatus[kind], "application/json", errorBody(fam, kind, c.r))
}

// MaxOpenAIUser is the longest "user" a chat completion takes, in
// characters: longer ones get OpenAI's 400 string_above_max_length.
const MaxOpenAIUser = 64

// simRequest is what the simulation reads from a request body.
type simRequest struct {
	model  string
	stream bool
	inputs int    // embeddings: number of inputs
	user   string // chat completions: OpenAI's user
	// effort is a chat completion's reasoning_effort: a streamed answer
	// then reasons first (a reasoning_content chunk, as DeepSeek, Kimi or
	// vLLM stream it).
	effort string
}

// parseLoose reads model, stream and input from a JSON body, ignoring
// fields of unexpected types.
func parseLoose(body []byte) simRequest {
	var raw struct {
		Model  any `json:"model"`
		Stream any `json:"stream"`
		Input  any `json:"input"`
		User   any `json:"user"`
		Effort any `json:"reasoning_effort"`
	}
	_ = json.Unmarshal(body, &raw) // a valid non-object body just yields zero fields
	var req simRequest
	req.model, _ = raw.Model.(string)
	req.stream, _ = raw.Stream.(bool)
	req.user, _ = raw.User.(string)
	req.effort, _ = raw.Effort.(string)
	req.inputs = 1
	if in, ok := raw.Input.([]any); ok && len(in) > 0 {
		req.inputs = len(in)
	}
	return req
}

// EstimateTokens is the prompt token count the default simulation reports
// for a request body: len(body)/4, at least 1.
func EstimateTokens(body []byte) int {
	return max(1, len(body)/4)
}

var simWords = strings.Fields(`This is a simulated answer from the llm-proxy test upstream,
streamed word by word so that you can watch retries, streaming and the live dashboard work
without a real key.`)

// SimulatedText returns the n pieces of a default answer: words, each but
// the last followed by a space. Joined, they are the full answer text.
func SimulatedText(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = simWords[i%len(simWords)]
		if i < n-1 {
			out[i] += " "
		}
	}
	return out
}

// simulate answers with the default behaviour for the path.
func (c *call) simulate(fam family) {
	path, method := c.r.URL.Path, c.r.Method
	var answer func(req simRequest, id string)
	switch {
	case method == http.MethodPost && path == "/v1/chat/completions":
		answer = c.chatCompletions
	case method == http.MethodPost && path == "/v1/messages":
		answer = c.messages
	case method == http.MethodPost && path == "/v1/messages/count_tokens":
		answer = c.countTokens
	case method == http.MethodGet && path == "/v1/models":
		answer = c.models
	case method == http.MethodPost && path == "/v1/responses":
		answer = c.responses
	case method == http.MethodPost && path == "/v1/embeddings":
		answer = c.embeddings
	default:
		c.writeError(fam, errNotFound)
		return
	}
	var req simRequest
	if method == http.MethodPost {
		if !json.Valid(c.rec.Body) {
			c.writeError(fam, errBadJSON)
			return
		}
		req = parseLoose(c.rec.Body)
	}
	if n := utf8.RuneCountInString(req.user); n > MaxOpenAIUser && path == "/v1/chat/completions" {
		// As OpenAI: Claude Code's metadata.user_id, passed on as it is, is refused.
		c.writeBody(http.StatusBadRequest, "application/json", mustJSON(map[string]any{"error": map[string]any{
			"message": fmt.Sprintf("Invalid 'user': string too long. Expected a string with maximum length %d, but got a string with length %d instead.", MaxOpenAIUser, n),
			"type":    "invalid_request_error", "param": "user", "code": "string_above_max_length"}}))
		return
	}
	if share := c.s.opts.RateLimitShare; share > 0 && rand.Float64() < share {
		c.writeError(fam, errRateLimit)
		return
	}
	id := c.rec.ID
	if id == "" {
		id = fmt.Sprint(c.seq)
	}
	if ch := c.s.opts.Chaos; ch != nil && generates(path) {
		c.fault = ch.Draw(id, c.nth)
	}
	answer(req, id)
}

// generates reports whether path is a generation route, where Chaos
// applies.
func generates(path string) bool {
	switch path {
	case "/v1/chat/completions", "/v1/messages", "/v1/responses":
		return true
	}
	return false
}

// streamDefault sends a default stream, each event tagged with the
// request's id, with the chaos fault if one was drawn.
func (c *call) streamDefault(events []string) {
	events = tagEvents(events, c.rec.ID)
	interval := max(0, c.s.opts.ChunkInterval)
	if c.fault != FaultNone {
		c.chaosAnswer(Step{Events: events, Interval: interval})
		return
	}
	c.stream(http.StatusOK, events, 0, interval)
}

// jsonAnswer sends a default non-stream answer after Options.Latency, with
// the chaos fault if one was drawn.
func (c *call) jsonAnswer(body string) {
	if !c.wait(c.s.opts.Latency) {
		return
	}
	if c.fault != FaultNone {
		c.chaosAnswer(Step{Body: body})
		return
	}
	c.writeBody(http.StatusOK, "application/json", body)
}

// chaosAnswer answers with the drawn fault: a stall or cut comes after
// half of the events.
func (c *call) chaosAnswer(st Step) {
	st.Fault = c.fault
	if st.Events != nil && (st.Fault == FaultStall || st.Fault == FaultCutStream) {
		st.Events = st.Events[:len(st.Events)/2]
	}
	c.runStep(&st)
}

func (c *call) chatCompletions(req simRequest, id string) {
	model := cmp.Or(req.model, DefaultOpenAIModel)
	if c.openAIToolTurn(req, model, id) { // tooluse.go
		return
	}
	text := SimulatedText(c.s.opts.StreamChunks)
	in, out := EstimateTokens(c.rec.Body), len(text)
	if req.stream {
		c.streamDefault(withReasoning(req, newChunkMeta("chatcmpl-sim-"+id, model).stream(text, in, out)))
		return
	}
	c.jsonAnswer(openAICompletion("chatcmpl-sim-"+id, model, strings.Join(text, ""), in, out))
}

// ReasoningText is what a streamed chat completion reasons when asked
// with reasoning_effort, followed by the effort asked.
const ReasoningText = "Reasoning at effort "

// withReasoning puts a reasoning_content chunk after the role chunk of a
// chat completions stream when the request gave reasoning_effort.
func withReasoning(req simRequest, events []string) []string {
	if req.effort == "" || len(events) == 0 {
		return events
	}
	m := newChunkMeta("chatcmpl-sim-reasoning", "")
	r := m.chunk([]oaChunkChoice{{Delta: oaDelta{Reasoning: ReasoningText + req.effort + "."}}}, nil)
	return append([]string{events[0], r}, events[1:]...)
}

func (c *call) messages(req simRequest, id string) {
	model := cmp.Or(req.model, DefaultAnthropicModel)
	if c.anthropicToolTurn(req, model, id) { // tooluse.go
		return
	}
	text := SimulatedText(c.s.opts.StreamChunks)
	in, out := EstimateTokens(c.rec.Body), len(text)
	if req.stream {
		c.streamDefault(anthropicStream("msg_sim_"+id, model, text, in, out))
		return
	}
	c.jsonAnswer(anthropicMessage("msg_sim_"+id, model, strings.Join(text, ""), in, out))
}

func (c *call) countTokens(simRequest, string) {
	c.jsonAnswer(mustJSON(map[string]int{"input_tokens": EstimateTokens(c.rec.Body)}))
}

// SimulatedModels are the model ids listed by the default GET /v1/models.
var SimulatedModels = []string{"gpt-4o-mini", "gpt-4o", "o3-mini", "claude-3-5-haiku-latest", "claude-sonnet-4-5"}

func (c *call) models(simRequest, string) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list"}
	for _, id := range SimulatedModels {
		list.Data = append(list.Data, model{ID: id, Object: "model", Created: 1700000000, OwnedBy: "sim"})
	}
	c.jsonAnswer(mustJSON(list))
}

func (c *call) responses(req simRequest, id string) {
	model := cmp.Or(req.model, DefaultOpenAIModel)
	if c.openAIToolTurn(req, model, id) { // tooluse.go
		return
	}
	text := SimulatedText(c.s.opts.StreamChunks)
	in, out := EstimateTokens(c.rec.Body), len(text)
	if req.stream {
		c.streamDefault(responsesStream("resp_sim_"+id, model, text, in, out))
		return
	}
	c.jsonAnswer(mustJSON(responsesObject("resp_sim_"+id, model, strings.Join(text, ""), in, out, true)))
}

func (c *call) embeddings(req simRequest, _ string) {
	type embedding struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	}
	in := EstimateTokens(c.rec.Body)
	list := struct {
		Object string      `json:"object"`
		Data   []embedding `json:"data"`
		Model  string      `json:"model"`
		Usage  struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}{Object: "list", Model: cmp.Or(req.model, "text-embedding-3-small")}
	list.Usage.PromptTokens, list.Usage.TotalTokens = in, in
	for i := range req.inputs {
		v := make([]float64, 8)
		for j := range v {
			v[j] = float64((i+1)*(j+1)%7) / 7
		}
		list.Data = append(list.Data, embedding{Object: "embedding", Index: i, Embedding: v})
	}
	c.jsonAnswer(mustJSON(list))
}
