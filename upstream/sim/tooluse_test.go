package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// The default simulation's tool round trip, both APIs, stream and not: a
// prompt naming a path with a file tool offered gets a call of that tool;
// the tool's result gets a text quoting it.
func TestServer_ToolRoundTrip(t *testing.T) {
	s := newServer(t, Options{})
	c := newClient(t, 10*time.Second)
	const openAITools = `"tools":[{"type":"function","function":{"name":"Read","parameters":{"type":"object","properties":{"file_path":{"type":"string"}}}}}]`
	const anthropicTools = `"tools":[{"name":"Read","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}}}}]`

	for _, stream := range []string{"false", "true"} {
		t.Run("openai stream="+stream, func(t *testing.T) {
			a := do(t, c, "POST", s.URL()+"/chat/completions", `{"model":"m","stream":`+stream+`,`+openAITools+`,
				"messages":[{"role":"user","content":"Read /tmp/x/notes.txt please"}]}`)
			require.Equal(t, 200, a.status)
			require.Contains(t, a.body, `"name":"Read"`)
			require.Contains(t, a.body, "tool_calls")
			if stream == "false" {
				require.JSONEq(t, `{"file_path":"/tmp/x/notes.txt"}`, gjson.Get(a.body, "choices.0.message.tool_calls.0.function.arguments").String())
			}
			a = do(t, c, "POST", s.URL()+"/chat/completions", `{"model":"m","stream":`+stream+`,`+openAITools+`,
				"messages":[{"role":"user","content":"Read /tmp/x/notes.txt"},
				{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"Read","arguments":"{}"}}]},
				{"role":"tool","tool_call_id":"c1","content":"the secret word is teapot"}]}`)
			require.Equal(t, 200, a.status)
			require.Contains(t, a.body, "teapot") // one word, so one chunk when streamed
		})
		t.Run("anthropic stream="+stream, func(t *testing.T) {
			a := do(t, c, "POST", s.URL()+"/messages", `{"model":"m","max_tokens":10,"stream":`+stream+`,`+anthropicTools+`,
				"messages":[{"role":"user","content":[{"type":"text","text":"<system-reminder>see /etc/hosts</system-reminder>"},{"type":"text","text":"Read /tmp/x/notes.txt"}]}]}`)
			require.Equal(t, 200, a.status)
			require.Contains(t, a.body, "tool_use")
			if stream == "false" {
				require.Equal(t, "/tmp/x/notes.txt", gjson.Get(a.body, "content.0.input.file_path").String())
			} else {
				require.Contains(t, a.body, `notes.txt`)
			}
			a = do(t, c, "POST", s.URL()+"/messages", `{"model":"m","max_tokens":10,"stream":`+stream+`,`+anthropicTools+`,
				"messages":[{"role":"user","content":"Read /tmp/x/notes.txt"},
				{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Read","input":{}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"the secret word is teapot"}]}]}`)
			require.Equal(t, 200, a.status)
			require.Contains(t, a.body, "teapot")
		})
	}
}

// Without a path in the prompt, or without a file tool, the usual text.
func TestServer_NoToolTurn(t *testing.T) {
	s := newServer(t, Options{})
	c := newClient(t, 10*time.Second)
	a := do(t, c, "POST", s.URL()+"/chat/completions", `{"model":"m","tools":[{"type":"function","function":{"name":"Read","parameters":{"type":"object","properties":{"file_path":{}}}}}],"messages":[{"role":"user","content":"hello"}]}`)
	require.Equal(t, 200, a.status)
	require.NotContains(t, a.body, "tool_calls")
	a = do(t, c, "POST", s.URL()+"/messages", `{"model":"m","max_tokens":5,"tools":[{"name":"Bash","input_schema":{"type":"object","properties":{"command":{}}}}],"messages":[{"role":"user","content":"cat /tmp/a"}]}`)
	require.Equal(t, 200, a.status)
	require.NotContains(t, a.body, "tool_use")
}

// TestServer_ToolTurnPicksToolAPathAloneCanCall: Claude Code offers Edit
// (file_path, old_string and new_string required) before Read (file_path
// only); the simulation called Edit with a path alone, which Claude Code
// rejects as invalid input, so no file was ever read (and then
// EnterWorktree, whose path is optional). It calls a tool that a path alone
// satisfies, file_path before path, else the first with a path property.
func TestServer_ToolTurnPicksToolAPathAloneCanCall(t *testing.T) {
	const edit = `{"name":"Edit","input_schema":{"type":"object","properties":{"file_path":{},"old_string":{},"new_string":{}},"required":["file_path","old_string","new_string"]}}`
	for _, tc := range []struct{ tools, want string }{
		{edit + `,{"name":"Read","input_schema":{"type":"object","properties":{"file_path":{},"limit":{}},"required":["file_path"]}}`, "Read"},
		{edit + `,{"name":"Glob","input_schema":{"type":"object","properties":{"path":{},"pattern":{}}}}`, "Glob"},
		{edit, "Edit"},
		// Claude Code's order: Edit, EnterWorktree (an optional path), Read.
		{edit + `,{"name":"EnterWorktree","input_schema":{"type":"object","properties":{"name":{},"path":{}}}},{"name":"Read","input_schema":{"type":"object","properties":{"file_path":{}},"required":["file_path"]}}`, "Read"},
	} {
		call, _, ok := toolTurn([]byte(`{"tools":[` + tc.tools + `],"messages":[{"role":"user","content":"Read /tmp/a.txt"}]}`))
		require.True(t, ok)
		require.NotNil(t, call)
		require.Equal(t, tc.want, call.Name)
	}
}

// As OpenAI, a chat completion whose user is longer than 64 characters is
// refused with 400 string_above_max_length (what Claude Code's user id met
// when passed on as it is).
func TestServer_OpenAIUserLongerThan64Refused(t *testing.T) {
	s := newServer(t, Options{})
	c := newClient(t, 10*time.Second)
	a := do(t, c, "POST", s.URL()+"/chat/completions", `{"model":"m","user":"`+strings.Repeat("u", 65)+`","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 400, a.status)
	require.Equal(t, "string_above_max_length", gjson.Get(a.body, "error.code").String())
	a = do(t, c, "POST", s.URL()+"/chat/completions", `{"model":"m","user":"`+strings.Repeat("é", 64)+`","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 200, a.status)
}

// A streamed chat completion asked with reasoning_effort reasons first: a
// reasoning_content chunk after the role chunk, in the tool turn too.
func TestServer_ReasoningEffortStreamsReasoningContent(t *testing.T) {
	s := newServer(t, Options{ChunkInterval: -1})
	c := newClient(t, 10*time.Second)
	for _, body := range []string{
		`{"model":"m","stream":true,"reasoning_effort":"high","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","stream":true,"reasoning_effort":"high","tools":[{"type":"function","function":{"name":"Read","parameters":{"type":"object","properties":{"file_path":{}}}}}],"messages":[{"role":"user","content":"Read /tmp/a.txt"}]}`,
	} {
		a := do(t, c, "POST", s.URL()+"/chat/completions", body)
		require.Equal(t, 200, a.status)
		lines := strings.Split(a.body, "\n\n")
		require.Contains(t, lines[0], `"role":"assistant"`)
		require.Contains(t, lines[1], `"reasoning_content":"Reasoning at effort high."`)
	}
	a := do(t, c, "POST", s.URL()+"/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	require.NotContains(t, a.body, "reasoning_content")
}
