package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// The Claude Code-like request (testdata/claude_code) through both request
// translators: everything that decides interoperability, checked on the
// decoded result rather than on a 50 KB golden.
func TestRequestAnthropicToOpenAI_ClaudeCode(t *testing.T) {
	body := claudeCode(t)
	var in struct {
		System   []struct{ Text string }
		Messages []json.RawMessage
		Tools    []struct {
			Name        string
			InputSchema json.RawMessage `json:"input_schema"`
		}
	}
	require.NoError(t, json.Unmarshal(body, &in))

	out, err := RequestAnthropicToOpenAI(nil, body, Options{Reasoning: true})
	require.NoError(t, err)
	require.NotContains(t, string(out), "cache_control")
	require.NotContains(t, string(out), "context_management")
	type call struct {
		ID       string
		Function struct{ Name, Arguments string }
	}
	var got struct {
		Messages []struct {
			Role             string
			Content          any
			ReasoningContent string `json:"reasoning_content"`
			ToolCalls        []call `json:"tool_calls"`
			ToolCallID       string `json:"tool_call_id"`
		}
		Tools []struct {
			Type     string
			Function struct {
				Name       string
				Parameters json.RawMessage
			}
		}
		Stream        bool
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
		ReasoningEffort string `json:"reasoning_effort"`
		MaxTokens       int    `json:"max_tokens"`
		User            string
	}
	require.NoError(t, json.Unmarshal(out, &got))
	require.Len(t, got.Tools, len(in.Tools))
	for i, tool := range got.Tools {
		require.Equal(t, "function", tool.Type)
		require.Equal(t, in.Tools[i].Name, tool.Function.Name)
		require.JSONEq(t, string(in.Tools[i].InputSchema), string(tool.Function.Parameters))
	}
	require.True(t, got.Stream)
	require.True(t, got.StreamOptions.IncludeUsage)
	require.Equal(t, "high", got.ReasoningEffort)
	require.Equal(t, 32000, got.MaxTokens)
	require.Equal(t, "user_5f2c_account__session_8d1e", got.User)

	require.Equal(t, "system", got.Messages[0].Role)
	require.Equal(t, in.System[0].Text+"\n\n"+in.System[1].Text, got.Messages[0].Content)
	// Every tool call is answered by the tool messages right after it, in order.
	var roles []string
	for i, m := range got.Messages {
		roles = append(roles, m.Role)
		if len(m.ToolCalls) == 0 {
			continue
		}
		for j, c := range m.ToolCalls {
			require.True(t, json.Valid([]byte(c.Function.Arguments)), c.Function.Arguments)
			require.Equal(t, "tool", got.Messages[i+1+j].Role)
			require.Equal(t, c.ID, got.Messages[i+1+j].ToolCallID)
		}
	}
	require.Equal(t, []string{"system", "user", "assistant", "tool", "assistant", "tool", "tool",
		"assistant", "tool", "user"}, roles)
	require.NotEmpty(t, got.Messages[2].ReasoningContent)
	require.True(t, strings.HasPrefix(got.Messages[8].Content.(string), "Error: --- FAIL"))

	// And back: Anthropic's alternation, tool_result blocks first, ids kept.
	back, err := RequestOpenAIToAnthropic(nil, out, Options{})
	require.NoError(t, err)
	var an struct {
		System   []struct{ Text string }
		Messages []struct {
			Role    string
			Content []struct {
				Type, ID, Text string
				ToolUseID      string `json:"tool_use_id"`
			}
		}
		Tools []struct{ Name string }
	}
	require.NoError(t, json.Unmarshal(back, &an))
	require.Len(t, an.Tools, len(in.Tools))
	require.Len(t, an.Messages, len(in.Messages))
	var ids, results []string
	for i, m := range an.Messages {
		require.Equal(t, map[bool]string{true: "user", false: "assistant"}[i%2 == 0], m.Role)
		seenOther := false
		for _, b := range m.Content {
			switch b.Type {
			case "tool_use":
				ids = append(ids, b.ID)
			case "tool_result":
				require.False(t, seenOther, "tool_result after another block in message %d", i)
				results = append(results, b.ToolUseID)
			default:
				seenOther = true
			}
		}
	}
	require.Equal(t, []string{"toolu_01Read", "toolu_02Edit", "toolu_03Todo", "toolu_04Bash"}, ids)
	require.Equal(t, ids, results)
}

// TestRequestAnthropicToOpenAI_MidConversationSystemMessage: Claude Code
// 2.1.x (beta mid-conversation-system-2026-04-07) sends a message with role
// "system" among the messages (the agent types, after the first user turn);
// it was refused with 400 "unknown role", so Claude Code could not start on
// an OpenAI target. Its text joins the leading system message, in order, as
// OpenAI system messages found anywhere join Anthropic's system in the other
// direction (chat templates of OpenAI-compatible servers often accept a
// system message only first).
func TestRequestAnthropicToOpenAI_MidConversationSystemMessage(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"after top-level blocks",
			`{"model":"m","system":[{"type":"text","text":"A"},{"type":"text","text":"B","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"},{"role":"system","content":"C \"q\""},{"role":"user","content":"go"}]}`,
			`{"model":"m","messages":[{"role":"system","content":"A\n\nB\n\nC \"q\""},{"role":"user","content":"hi"},{"role":"user","content":"go"}]}`},
		{"after a top-level string",
			`{"model":"m","system":"A","messages":[{"role":"user","content":"hi"},{"role":"system","content":[{"type":"text","text":"C"},{"type":"text","text":"D"}]}]}`,
			`{"model":"m","messages":[{"role":"system","content":"A\n\nC\n\nD"},{"role":"user","content":"hi"}]}`},
		{"no top-level system",
			`{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"system","content":"C"},{"role":"user","content":"go"}]}`,
			`{"model":"m","messages":[{"role":"system","content":"C"},{"role":"user","content":"hi"},{"role":"user","content":"go"}]}`},
		{"first message",
			`{"model":"m","messages":[{"role":"system","content":"C"}]}`,
			`{"model":"m","messages":[{"role":"system","content":"C"}]}`},
		{"empty text skipped",
			`{"model":"m","system":"A","messages":[{"role":"user","content":"hi"},{"role":"system","content":[{"type":"text","text":""}]},{"role":"system","content":""}]}`,
			`{"model":"m","messages":[{"role":"system","content":"A"},{"role":"user","content":"hi"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := RequestAnthropicToOpenAI(nil, []byte(tc.in), Options{})
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(out))
		})
	}
	_, err := RequestAnthropicToOpenAI(nil, []byte(`{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"system","content":[{"type":"image","source":{"type":"url","url":"http://x"}}]}]}`), Options{})
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "messages[1].content[0].type", e.Field)
}

// TestRequestAnthropicToOpenAI_LongUserIDFitsOpenAIsLimit: Claude Code's
// metadata.user_id is a ~150-character JSON text (device, account and
// session ids); OpenAI refuses a user longer than 64 characters with 400
// "Invalid 'user': string too long", so every Claude Code request failed on
// OpenAI itself. A longer id is sent as its SHA-256 in hex (64 characters:
// still one stable value per id); a short one as it is.
func TestRequestAnthropicToOpenAI_LongUserIDFitsOpenAIsLimit(t *testing.T) {
	long := `{\"device_id\":\"7f7bbbfb8e5691f8a7dd6133ee136cc900b0ee108a3078a28a24ea18736ec328\",\"account_uuid\":\"\",\"session_id\":\"4a5183f1-a361-4df1-adec-8edfcd290549\"}`
	decoded := `{"device_id":"7f7bbbfb8e5691f8a7dd6133ee136cc900b0ee108a3078a28a24ea18736ec328","account_uuid":"","session_id":"4a5183f1-a361-4df1-adec-8edfcd290549"}`
	sum := sha256.Sum256([]byte(decoded))
	sixtyFour := strings.Repeat("é", 64) // 128 bytes, 64 characters: kept
	for _, tc := range []struct{ id, want string }{
		{long, hex.EncodeToString(sum[:])},
		{"user_1", "user_1"},
		{sixtyFour, sixtyFour},
		{sixtyFour + "x", func() string { s := sha256.Sum256([]byte(sixtyFour + "x")); return hex.EncodeToString(s[:]) }()},
	} {
		out, err := RequestAnthropicToOpenAI(nil, []byte(`{"model":"m","metadata":{"user_id":"`+tc.id+`"},"messages":[{"role":"user","content":"hi"}]}`), Options{})
		require.NoError(t, err)
		var got struct{ User string }
		require.NoError(t, json.Unmarshal(out, &got), "%s", out)
		require.Equal(t, tc.want, got.User)
		require.LessOrEqual(t, utf8.RuneCountInString(got.User), 64)
	}
}

// TestRequestAnthropicToOpenAI_OutputConfigEffortWins: Claude Code sends
// thinking {"type":"adaptive"} with output_config {"effort":"high"}; the
// effort it asked for was ignored and adaptive mapped to "medium". With a
// reasoning target, Anthropic's effort is reasoning_effort (max → high),
// whatever the thinking setting; without it, the budget decides as before.
func TestRequestAnthropicToOpenAI_OutputConfigEffortWins(t *testing.T) {
	for _, tc := range []struct{ thinking, config, want string }{
		{`{"type":"adaptive"}`, `{"effort":"high"}`, "high"},
		{`{"type":"adaptive"}`, `{"effort":"low"}`, "low"},
		{`{"type":"enabled","budget_tokens":2000}`, `{"effort":"max"}`, "high"},
		{`{"type":"enabled","budget_tokens":2000}`, `{"effort":"medium"}`, "medium"},
		{`{"type":"enabled","budget_tokens":2000}`, `{"effort":"extreme"}`, "low"}, // unknown: the budget decides
		{`{"type":"adaptive"}`, `{}`, "medium"},
		{`{"type":"disabled"}`, `{"effort":"low"}`, "low"},
		{`{"type":"disabled"}`, `{}`, ""},
	} {
		body := `{"model":"m","thinking":` + tc.thinking + `,"output_config":` + tc.config + `,"messages":[{"role":"user","content":"hi"}]}`
		out, err := RequestAnthropicToOpenAI(nil, []byte(body), Options{Reasoning: true})
		require.NoError(t, err)
		var got struct {
			ReasoningEffort string `json:"reasoning_effort"`
		}
		require.NoError(t, json.Unmarshal(out, &got))
		require.Equal(t, tc.want, got.ReasoningEffort, body)
		out, err = RequestAnthropicToOpenAI(nil, []byte(body), Options{})
		require.NoError(t, err)
		require.NotContains(t, string(out), "reasoning_effort")
		require.NotContains(t, string(out), "output_config")
	}
}
