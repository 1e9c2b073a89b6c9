package app

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// The routing files of these tests: one API only per model.
const (
	anthropicOnly = `targets:
  - {name: claude, url: "{URL}", keys: ["${KEY_A}"], api: anthropic, models: ["claude-*"]}
`
	openAIOnly = `targets:
  - {name: oai, url: "{URL}", keys: ["${KEY_A}"], api: openai, models: ["gpt-*"]}
`
)

// OpenAI-shaped requests with a file-reading tool (the simulator calls it
// when the prompt names an absolute path, then answers from its result).
const (
	oaTool     = `"tools":[{"type":"function","function":{"name":"read_file","description":"Read a file","parameters":{"type":"object","properties":{"file_path":{"type":"string"}},"required":["file_path"]}}}]`
	oaAsk      = `{"model":"claude-sonnet-4-5",%s` + oaTool + `,"messages":[{"role":"user","content":"What is in /tmp/notes.txt?"}]}`
	oaWithTool = `{"model":"claude-sonnet-4-5",%s` + oaTool + `,"messages":[{"role":"user","content":"What is in /tmp/notes.txt?"},{"role":"assistant","content":null,"tool_calls":[{"id":"%s","type":"function","function":{"name":"read_file","arguments":"{\"file_path\":\"/tmp/notes.txt\"}"}}]},{"role":"tool","tool_call_id":"%s","content":"secret-42"}]}`
	anTool     = `"tools":[{"name":"read_file","description":"Read a file","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}},"required":["file_path"]}}]`
	anAsk      = `{"model":"gpt-4o",%s"max_tokens":256,` + anTool + `,"messages":[{"role":"user","content":"What is in /tmp/notes.txt?"}]}`
	anWithTool = `{"model":"gpt-4o",%s"max_tokens":256,` + anTool + `,"messages":[{"role":"user","content":"What is in /tmp/notes.txt?"},{"role":"assistant","content":[{"type":"tool_use","id":"%s","name":"read_file","input":{"file_path":"/tmp/notes.txt"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"%s","content":"secret-42"}]}]}`
)

func fill(format string, args ...string) string {
	for _, a := range args {
		format = strings.Replace(format, "%s", a, 1)
	}
	return format
}

// sseData returns the data lines of an SSE body, in order.
func sseData(body []byte) []string {
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

// wantTranslatedTrail checks the record of the n-th request: one attempt,
// translated as want says.
func wantTranslatedTrail(t *testing.T, p *proxy, n int, want string) {
	t.Helper()
	ev := p.event(n)
	if len(ev.Attempts) != 1 {
		t.Fatalf("request %d: %d attempts, want 1", n, len(ev.Attempts))
	}
	a := ev.Attempts[0]
	if a.Translated != (want != "") || a.Translation != want {
		t.Errorf("request %d: translated %v %q, want %q", n, a.Translated, a.Translation, want)
	}
}

// TestTranslateE2E_OpenAIClientAnthropicTarget: an OpenAI client reaches an
// Anthropic-only upstream, with a tool round trip, stream and not.
func TestTranslateE2E_OpenAIClientAnthropicTarget(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	p, _ := startRouted(t, anthropicOnly, srv, nil)
	for i, stream := range []bool{false, true} {
		flag := ""
		if stream {
			flag = `"stream":true,`
		}
		// Turn 1: the model calls the tool.
		a := p.call(request{path: "/v1/chat/completions", body: fill(oaAsk, flag)})
		wantStatus(t, a, 200)
		var id, name, args, finish string
		if stream {
			data := sseData(a.body)
			if len(data) == 0 || data[len(data)-1] != "[DONE]" {
				t.Fatalf("stream does not end with [DONE]: %s", a.body)
			}
			for _, d := range data[:len(data)-1] {
				c := gjson.Get(d, "choices.0")
				if tc := c.Get("delta.tool_calls.0"); tc.Exists() {
					id += tc.Get("id").String()
					name += tc.Get("function.name").String()
					args += tc.Get("function.arguments").String()
				}
				if f := c.Get("finish_reason").String(); f != "" {
					finish = f
				}
			}
		} else {
			if got := gjson.GetBytes(a.body, "object").String(); got != "chat.completion" {
				t.Fatalf("object = %q, body %s", got, a.body)
			}
			tc := gjson.GetBytes(a.body, "choices.0.message.tool_calls.0")
			id, name, args = tc.Get("id").String(), tc.Get("function.name").String(), tc.Get("function.arguments").String()
			finish = gjson.GetBytes(a.body, "choices.0.finish_reason").String()
		}
		if finish != "tool_calls" || name != "read_file" || gjson.Get(args, "file_path").String() != "/tmp/notes.txt" || id == "" {
			t.Fatalf("stream=%v: tool call %q %q %q finish %q; body %s", stream, id, name, args, finish, a.body)
		}
		up := srv.Requests()[2*i]
		if up.Path != "/v1/messages" || up.Key != upKeyA || up.Header.Get("Authorization") != "" || up.Header.Get("anthropic-version") == "" {
			t.Errorf("upstream got %s key %q auth %q version %q", up.Path, up.Key, up.Header.Get("Authorization"), up.Header.Get("anthropic-version"))
		}
		if got := gjson.GetBytes(up.Body, "max_tokens").Int(); got != 8192 {
			t.Errorf("upstream max_tokens = %d, want the default 8192", got)
		}
		wantTranslatedTrail(t, p, 2*i+1, "openai→anthropic")

		// Turn 2: the tool's result goes back; the model answers from it.
		a = p.call(request{path: "/v1/chat/completions", body: fill(oaWithTool, flag, id, id)})
		wantStatus(t, a, 200)
		text := gjson.GetBytes(a.body, "choices.0.message.content").String()
		if stream {
			text = ""
			for _, d := range sseData(a.body) {
				text += gjson.Get(d, "choices.0.delta.content").String()
			}
		}
		if !strings.Contains(text, "The tool returned: secret-42") {
			t.Errorf("stream=%v: answer %q, want it to quote the tool result; body %s", stream, text, a.body)
		}
		wantTranslatedTrail(t, p, 2*i+2, "openai→anthropic")
	}
}

// TestTranslateE2E_AnthropicClientOpenAITarget: an Anthropic client reaches
// an OpenAI-only upstream, with a tool round trip, stream and not.
func TestTranslateE2E_AnthropicClientOpenAITarget(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	p, _ := startRouted(t, openAIOnly, srv, nil)
	for i, stream := range []bool{false, true} {
		flag := ""
		if stream {
			flag = `"stream":true,`
		}
		// As Claude Code sends it: ?beta=true, which is not carried over.
		a := p.call(request{path: "/v1/messages?beta=true", body: fill(anAsk, flag), keyHeader: "x-api-key", header: map[string]string{"anthropic-version": "2023-06-01"}})
		wantStatus(t, a, 200)
		var id, name, input, stop string
		if stream {
			data := sseData(a.body)
			if !strings.Contains(string(a.body), "event: message_stop") {
				t.Fatalf("stream without message_stop: %s", a.body)
			}
			for _, d := range data {
				switch gjson.Get(d, "type").String() {
				case "content_block_start":
					if b := gjson.Get(d, "content_block"); b.Get("type").String() == "tool_use" {
						id, name = b.Get("id").String(), b.Get("name").String()
					}
				case "content_block_delta":
					input += gjson.Get(d, "delta.partial_json").String()
				case "message_delta":
					stop = gjson.Get(d, "delta.stop_reason").String()
				}
			}
		} else {
			if got := gjson.GetBytes(a.body, "type").String(); got != "message" {
				t.Fatalf("type = %q, body %s", got, a.body)
			}
			gjson.GetBytes(a.body, "content").ForEach(func(_, b gjson.Result) bool {
				if b.Get("type").String() == "tool_use" {
					id, name, input = b.Get("id").String(), b.Get("name").String(), b.Get("input").Raw
				}
				return true
			})
			stop = gjson.GetBytes(a.body, "stop_reason").String()
		}
		if stop != "tool_use" || name != "read_file" || gjson.Get(input, "file_path").String() != "/tmp/notes.txt" || id == "" {
			t.Fatalf("stream=%v: tool use %q %q %q stop %q; body %s", stream, id, name, input, stop, a.body)
		}
		up := srv.Requests()[2*i]
		if up.Path != "/v1/chat/completions" || up.Key != upKeyA || up.Header.Get("x-api-key") != "" || !strings.HasPrefix(up.Header.Get("Authorization"), "Bearer ") {
			t.Errorf("upstream got %s key %q x-api-key %q auth %q", up.Path, up.Key, up.Header.Get("x-api-key"), up.Header.Get("Authorization"))
		}
		wantTranslatedTrail(t, p, 2*i+1, "anthropic→openai")

		a = p.call(request{path: "/v1/messages", body: fill(anWithTool, flag, id, id), keyHeader: "x-api-key"})
		wantStatus(t, a, 200)
		text := gjson.GetBytes(a.body, "content.0.text").String()
		if stream {
			text = ""
			for _, d := range sseData(a.body) {
				text += gjson.Get(d, "delta.text").String()
			}
		}
		if !strings.Contains(text, "The tool returned: secret-42") {
			t.Errorf("stream=%v: answer %q, want it to quote the tool result; body %s", stream, text, a.body)
		}
		wantTranslatedTrail(t, p, 2*i+2, "anthropic→openai")
	}
}

// TestTranslateE2E_RefusedField: n > 1 has no Anthropic equivalent: 400 in
// OpenAI's shape naming the field, and nothing goes upstream.
func TestTranslateE2E_RefusedField(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	p, _ := startRouted(t, anthropicOnly, srv, nil)
	a := p.call(request{path: "/v1/chat/completions", body: `{"model":"claude-sonnet-4-5","n":2,"messages":[{"role":"user","content":"hi"}]}`})
	wantStatus(t, a, 400)
	if msg := gjson.GetBytes(a.body, "error.message").String(); !strings.HasPrefix(msg, "n:") {
		t.Errorf("error message %q does not name the field n; body %s", msg, a.body)
	}
	if got := gjson.GetBytes(a.body, "error.param").String(); got != "n" {
		t.Errorf("error.param = %q, want n", got)
	}
	if n := srv.Count(); n != 0 {
		t.Errorf("upstream got %d requests, want 0", n)
	}
	if ev := p.event(1); ev.Status != 400 || len(ev.Attempts) != 0 {
		t.Errorf("record: status %d, %d attempts; want 400, none", ev.Status, len(ev.Attempts))
	}
}

// TestTranslateE2E_CountTokensEstimated: count_tokens for a model only
// OpenAI targets serve is answered locally, ceil(text bytes / 4), and the
// record says it is an estimate.
func TestTranslateE2E_CountTokensEstimated(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	p, _ := startRouted(t, openAIOnly, srv, nil)
	// Text bytes: "be brief" (8) + "hello there" (11) = 19 → ceil(19/4) = 5.
	a := p.call(request{path: "/v1/messages/count_tokens", keyHeader: "x-api-key",
		body: `{"model":"gpt-4o","system":"be brief","messages":[{"role":"user","content":"hello there"}]}`})
	wantStatus(t, a, 200)
	if got := gjson.GetBytes(a.body, "input_tokens").Int(); got != 5 {
		t.Errorf("input_tokens = %d, want 5; body %s", got, a.body)
	}
	if n := srv.Count(); n != 0 {
		t.Errorf("upstream got %d requests, want 0", n)
	}
	if ev := p.event(1); !ev.Estimated || ev.InputTokens != 5 {
		t.Errorf("record: estimated %v, input tokens %d; want true, 5", ev.Estimated, ev.InputTokens)
	}
}

// TestTranslateE2E_SameAPIPreferred: with a target of the client's API for
// the model, nothing is translated: the body goes byte for byte, the key
// in the client's style.
func TestTranslateE2E_SameAPIPreferred(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	p, _ := startRouted(t, `targets:
  - {name: claude, url: "{URL}", keys: ["${KEY_A}"], api: anthropic, models: ["m-*"], priority: 0}
  - {name: oai, url: "{URL}", keys: ["${KEY_B}"], api: openai, models: ["m-*"], priority: 1}
`, srv, nil)
	body := `{"model":"m-1","messages":[{"role":"user","content":"hi"}]}`
	wantStatus(t, p.call(request{path: "/v1/chat/completions", body: body}), 200)
	up := srv.Requests()[0]
	if up.Path != "/v1/chat/completions" || up.Key != upKeyB || string(up.Body) != body {
		t.Errorf("upstream got %s key %q body %s; want the openai target, the body unchanged", up.Path, up.Key, up.Body)
	}
	wantTranslatedTrail(t, p, 1, "")
}

// TestTranslateE2E_ErrorsInClientShape: the upstream's rate limit is
// classified in its own (Anthropic) shape and retried on the next target;
// its final error reaches the OpenAI client in OpenAI's shape with the
// upstream's status and message; both attempts are recorded translated.
func TestTranslateE2E_ErrorsInClientShape(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	p, _ := startRouted(t, `targets:
  - {name: claude, url: "{URL}", keys: ["${KEY_A}", "${KEY_B}"], api: anthropic, models: ["claude-*"]}
`, srv, nil)
	srv.Push(
		sim.Step{Status: 429, Body: sim.AnthropicError("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")},
		sim.Step{Status: 400, Body: sim.AnthropicError("invalid_request_error", "messages: text content blocks must be non-empty")},
	)
	a := p.call(chat("claude-sonnet-4-5"))
	wantStatus(t, a, 400)
	if got := gjson.GetBytes(a.body, "error.message").String(); got != "messages: text content blocks must be non-empty" {
		t.Errorf("error.message = %q; body %s", got, a.body)
	}
	if gjson.GetBytes(a.body, "type").Exists() {
		t.Errorf("body in Anthropic's shape, want OpenAI's: %s", a.body)
	}
	ev := p.event(1)
	if got := strings.Join(reasons(ev), " "); got != "rate_limit client_error" {
		t.Errorf("reasons = %q, want rate_limit client_error", got)
	}
	for _, at := range ev.Attempts {
		if !at.Translated || at.Translation != "openai→anthropic" {
			t.Errorf("attempt %+v not recorded as translated", at)
		}
	}
}

// TestTranslateE2E_BrokenStream: an OpenAI upstream stream that breaks
// mid-way reaches the Anthropic client as its own in-band error event, and
// the record says the stream broke without its terminal marker.
func TestTranslateE2E_BrokenStream(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	p, _ := startRouted(t, openAIOnly, srv, nil)
	evs := sim.OpenAIStream([]string{"Hello", " there"}, 5, 2)
	srv.Push(sim.Step{Events: evs[:2], Fault: sim.FaultCutStream})
	a, _, _ := p.stream(request{path: "/v1/messages", keyHeader: "x-api-key",
		body: `{"model":"gpt-4o","stream":true,"max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`})
	wantStatus(t, a, 200)
	body := string(a.body)
	if !strings.Contains(body, "event: message_start") || !strings.Contains(body, "event: error") {
		t.Errorf("stream = %s, want message_start then an error event", body)
	}
	if strings.Contains(body, "message_stop") || strings.Contains(body, "[DONE]") {
		t.Errorf("a broken stream must not end normally: %s", body)
	}
	if ev := p.event(1); ev.Outcome != "stream_broken" || ev.Terminal {
		t.Errorf("record: outcome %q terminal %v, want stream_broken, false", ev.Outcome, ev.Terminal)
	}
}

// TestTranslateE2E_KeepAlive: a translated stream that goes silent between
// events gets the client family's keep-alive (event: ping for Anthropic),
// between whole events, and still ends normally.
func TestTranslateE2E_KeepAlive(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	p, _ := startRouted(t, openAIOnly, srv, func(c *Config) { c.KeepAliveInterval = 40 * time.Millisecond })
	srv.Push(sim.Step{Events: sim.OpenAIStream([]string{"Hello", " there"}, 5, 2), Interval: 250 * time.Millisecond})
	a, evs := p.streamOK(request{path: "/v1/messages", keyHeader: "x-api-key",
		body: `{"model":"gpt-4o","stream":true,"max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`})
	wantStatus(t, a, 200)
	pings := 0
	for _, e := range evs {
		if strings.HasPrefix(e.raw, "event: ping\n") {
			pings++
		}
	}
	if pings == 0 || !strings.Contains(string(a.body), "event: message_stop") {
		t.Errorf("%d pings, stream %s; want pings and message_stop", pings, a.body)
	}
	if ev := p.event(1); !ev.Terminal || ev.Outcome != "ok" {
		t.Errorf("record: terminal %v outcome %q", ev.Terminal, ev.Outcome)
	}
}

// TestTranslateE2E_FallbackToTheOtherAPI: a fallback model only the other
// API serves takes over, translated, when the requested model's attempts
// end in a server error; the trail shows which attempt was translated.
func TestTranslateE2E_FallbackToTheOtherAPI(t *testing.T) {
	srv := newUpstream(t, sim.Options{})
	p, _ := startRouted(t, `targets:
  - {name: oai, url: "{URL}", keys: ["${KEY_A}"], api: openai, models: ["gpt-*"]}
  - {name: claude, url: "{URL}", keys: ["${KEY_B}"], api: anthropic, models: ["claude-*"]}
models:
  gpt-4o: {fallback: [claude-sonnet-4-5]}
`, srv, func(c *Config) { c.MaxRetries = 0 })
	srv.Push(sim.Step{Key: upKeyA, Status: 503, Body: sim.OpenAIError("server_error", "The server is overloaded")})
	a := p.call(chat("gpt-4o"))
	wantStatus(t, a, 200)
	if got := gjson.GetBytes(a.body, "object").String(); got != "chat.completion" {
		t.Errorf("object = %q, want chat.completion; body %s", got, a.body)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 || reqs[1].Path != "/v1/messages" || reqs[1].Key != upKeyB {
		t.Fatalf("upstream requests: %d, want the second to /v1/messages with key B", len(reqs))
	}
	ev := p.event(1)
	if len(ev.Attempts) != 2 || ev.Attempts[0].Translated || !ev.Attempts[1].Translated || ev.ServedModel != "claude-sonnet-4-5" {
		t.Errorf("record: attempts %+v, served %q; want gpt-4o untranslated then claude-sonnet-4-5 translated", ev.Attempts, ev.ServedModel)
	}
}

// TestTranslateE2E_PerTargetReasoningAndLimitField: an Anthropic client's
// thinking, effort and max_tokens reach each OpenAI target as that target
// says in the routing file: the first (no options) gets max_tokens and no
// reasoning_effort; after its 429, the retry on the second (reasoning:
// effort, max_tokens_field: max_completion_tokens) gets reasoning_effort
// and max_completion_tokens, translated anew for it.
func TestTranslateE2E_PerTargetReasoningAndLimitField(t *testing.T) {
	plain := newUpstream(t, sim.Options{})
	reasoner := newUpstream(t, sim.Options{})
	path := writeRoutingFile(t, t.TempDir(), `targets:
  - {name: plain, url: "{URL}", keys: ["${KEY_A}"], api: openai, models: ["o*"]}
  - {name: reasoner, url: "{URL2}", keys: ["${KEY_B}"], api: openai, models: ["o*"], priority: 1, reasoning: effort, max_tokens_field: max_completion_tokens}
`, plain.URL(), reasoner.URL())
	cfg := testConfig(nil, nil)
	cfg.ConfigFile = path
	cfg.lookup = func(k string) (string, bool) { v, ok := routingEnv[k]; return v, ok }
	p := startProxy(t, cfg)
	plain.Push(sim.Step{Status: 429, Body: sim.OpenAIError("rate_limit_error", "Rate limit reached")})
	a := p.call(request{path: "/v1/messages", keyHeader: "x-api-key",
		body: `{"model":"o3","max_tokens":2048,"thinking":{"type":"adaptive"},"output_config":{"effort":"high"},"messages":[{"role":"user","content":"hi"}]}`})
	wantStatus(t, a, 200)
	if got := gjson.GetBytes(a.body, "type").String(); got != "message" {
		t.Fatalf("answer %s", a.body)
	}
	first, second := plain.Requests()[0].Body, reasoner.Requests()[0].Body
	if gjson.GetBytes(first, "max_tokens").Int() != 2048 || gjson.GetBytes(first, "max_completion_tokens").Exists() || gjson.GetBytes(first, "reasoning_effort").Exists() {
		t.Errorf("plain target got %s", first)
	}
	if gjson.GetBytes(second, "max_completion_tokens").Int() != 2048 || gjson.GetBytes(second, "max_tokens").Exists() || gjson.GetBytes(second, "reasoning_effort").String() != "high" {
		t.Errorf("reasoning target got %s", second)
	}
	ev := p.event(1)
	if len(ev.Attempts) != 2 || !ev.Attempts[1].Translated {
		t.Errorf("attempts %+v", ev.Attempts)
	}
}

// TestTranslateE2E_MaxOutputTokensCapsClaudeCodesLimit: Claude Code asks for
// max_tokens 64000, which a provider with a lower limit (DeepSeek: 8192)
// refuses with 400; a target's max_output_tokens lowers a larger limit to
// it and leaves a smaller one as it is.
func TestTranslateE2E_MaxOutputTokensCapsClaudeCodesLimit(t *testing.T) {
	up := newUpstream(t, sim.Options{})
	path := writeRoutingFile(t, t.TempDir(), `targets:
  - {name: deepseek, url: "{URL}", keys: ["${KEY_A}"], api: openai, max_output_tokens: 8192}
`, up.URL(), "")
	cfg := testConfig(nil, nil)
	cfg.ConfigFile = path
	cfg.lookup = func(k string) (string, bool) { v, ok := routingEnv[k]; return v, ok }
	p := startProxy(t, cfg)
	for i, tc := range []struct{ asked, sent int64 }{{64000, 8192}, {2048, 2048}} {
		a := p.call(request{path: "/v1/messages", keyHeader: "x-api-key",
			body: `{"model":"deepseek-chat","max_tokens":` + strconv.FormatInt(tc.asked, 10) + `,"messages":[{"role":"user","content":"hi"}]}`})
		wantStatus(t, a, 200)
		if got := gjson.GetBytes(up.Requests()[i].Body, "max_tokens").Int(); got != tc.sent {
			t.Errorf("asked %d: upstream got max_tokens %d, want %d", tc.asked, got, tc.sent)
		}
	}
}

// TestTranslateE2E_TranslateMaxTokensSetting: an OpenAI client that gives no
// limit reaches an Anthropic target (which requires one) with
// TRANSLATE_MAX_TOKENS; a client's own limit is sent as it is.
func TestTranslateE2E_TranslateMaxTokensSetting(t *testing.T) {
	up := newUpstream(t, sim.Options{})
	path := writeRoutingFile(t, t.TempDir(), `targets:
  - {name: claude, url: "{URL}", keys: ["${KEY_A}"], api: anthropic, models: ["claude-*"]}
`, up.URL(), "")
	cfg := testConfig(nil, nil)
	cfg.ConfigFile = path
	cfg.TranslateMaxTokens = 1000
	cfg.lookup = func(k string) (string, bool) { v, ok := routingEnv[k]; return v, ok }
	p := startProxy(t, cfg)
	for i, tc := range []struct {
		limit string
		sent  int64
	}{{"", 1000}, {`"max_tokens":300,`, 300}} {
		a := p.call(request{path: "/v1/chat/completions",
			body: `{"model":"claude-x",` + tc.limit + `"messages":[{"role":"user","content":"hi"}]}`})
		wantStatus(t, a, 200)
		if got := gjson.GetBytes(up.Requests()[i].Body, "max_tokens").Int(); got != tc.sent {
			t.Errorf("client limit %q: upstream got max_tokens %d, want %d", tc.limit, got, tc.sent)
		}
	}
}
