package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	anoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	oaoption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// The official SDKs as clients of the binary, each in front of an upstream
// that speaks only the other API (the simulator, which calls a file tool
// when the prompt names an absolute path and answers from the tool's
// result): a tool round trip, stream and not.

// startTranslating starts a recording simulator and the binary with one
// target on it, of API api serving models.
func startTranslating(t *testing.T, api, models string) (*sim.Server, *proc) {
	t.Helper()
	up, err := sim.New(sim.Options{Record: true, Keys: []string{upstreamKey}, ChunkInterval: -1})
	require.NoError(t, err)
	t.Cleanup(up.Close)
	path := filepath.Join(t.TempDir(), "llm-proxy.yaml")
	file := "targets:\n  - {name: up, url: \"" + up.URL() + "\", keys: [\"${UP_KEY}\"], api: " + api + ", models: [\"" + models + "\"]}\n"
	require.NoError(t, os.WriteFile(path, []byte(file), 0o600))
	return up, start(t, map[string]string{"CONFIG_FILE": path, "UP_KEY": upstreamKey, "MY_ACCESS_KEY": clientKey, "DB_PATH": "memory"})
}

// wantTranslatedRecords waits (bounded) for n records of route and checks
// that each was answered 200 by one attempt translated as want says.
func wantTranslatedRecords(t *testing.T, p *proc, route string, n int, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := 0
		for _, ev := range snapshot(t, p.base).Recent {
			if ev.Route != route {
				continue
			}
			got++
			require.Equal(t, 200, ev.Status)
			require.Len(t, ev.Attempts, 1)
			require.True(t, ev.Attempts[0].Translated)
			require.Equal(t, want, ev.Attempts[0].Translation)
		}
		if got >= n || time.Now().After(deadline) {
			require.Equal(t, n, got, "records of %s", route)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOpenAISDK_ChatToolRoundTripViaAnthropicOnlyUpstream: openai-go's chat
// completions (stream with its accumulator, and not) against a target that
// speaks only Anthropic's messages API.
func TestOpenAISDK_ChatToolRoundTripViaAnthropicOnlyUpstream(t *testing.T) {
	up, p := startTranslating(t, "anthropic", "claude-*")
	client := openai.NewClient(oaoption.WithBaseURL(p.base+"/v1/"), oaoption.WithAPIKey(clientKey), oaoption.WithMaxRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	complete := func(t *testing.T, params openai.ChatCompletionNewParams, stream bool) openai.ChatCompletion {
		t.Helper()
		if !stream {
			c, err := client.Chat.Completions.New(ctx, params)
			require.NoError(t, err)
			return *c
		}
		params.StreamOptions.IncludeUsage = openai.Bool(true)
		s := client.Chat.Completions.NewStreaming(ctx, params)
		var acc openai.ChatCompletionAccumulator
		for s.Next() {
			require.True(t, acc.AddChunk(s.Current()), "chunk %s", s.Current().RawJSON())
		}
		require.NoError(t, s.Err())
		require.NoError(t, s.Close())
		require.Positive(t, acc.Usage.TotalTokens, "the usage chunk asked for")
		return acc.ChatCompletion
	}
	for i, stream := range []bool{false, true} {
		t.Run("stream="+strconv.FormatBool(stream), func(t *testing.T) {
			path := "/tmp/notes-" + strconv.Itoa(i) + ".txt"
			params := openai.ChatCompletionNewParams{
				Model:    "claude-sonnet-4-5",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is in " + path + "?")},
				Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
					Name:        "read_file",
					Description: openai.String("Read a file"),
					Parameters: shared.FunctionParameters{"type": "object", "required": []string{"file_path"},
						"properties": map[string]any{"file_path": map[string]any{"type": "string"}}},
				})},
			}
			c := complete(t, params, stream)
			require.Len(t, c.Choices, 1)
			require.Equal(t, "tool_calls", c.Choices[0].FinishReason)
			require.Len(t, c.Choices[0].Message.ToolCalls, 1)
			call := c.Choices[0].Message.ToolCalls[0]
			require.NotEmpty(t, call.ID)
			require.Equal(t, "read_file", call.Function.Name)
			var args struct {
				FilePath string `json:"file_path"`
			}
			require.NoError(t, json.Unmarshal([]byte(call.Function.Arguments), &args), call.Function.Arguments)
			require.Equal(t, path, args.FilePath)

			secret := "teapot-" + strconv.Itoa(i)
			params.Messages = append(params.Messages, c.Choices[0].Message.ToParam(), openai.ToolMessage(secret, call.ID))
			c = complete(t, params, stream)
			require.Equal(t, "stop", c.Choices[0].FinishReason)
			assert.Contains(t, c.Choices[0].Message.Content, secret)
		})
	}
	for _, r := range up.Requests() {
		require.Equal(t, "/v1/messages", r.Path)
		require.Equal(t, upstreamKey, r.Header.Get("x-api-key"))
	}
	require.Len(t, up.Requests(), 4)
	wantTranslatedRecords(t, p, "/v1/chat/completions", 4, "openai→anthropic")
}

// TestAnthropicSDK_MessagesToolRoundTripViaOpenAIOnlyUpstream:
// anthropic-sdk-go's messages (stream with Message.Accumulate, and not)
// against a target that speaks only OpenAI's chat completions.
func TestAnthropicSDK_MessagesToolRoundTripViaOpenAIOnlyUpstream(t *testing.T) {
	up, p := startTranslating(t, "openai", "gpt-*")
	client := anthropic.NewClient(anoption.WithBaseURL(p.base), anoption.WithAPIKey(clientKey), anoption.WithMaxRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	send := func(t *testing.T, params anthropic.MessageNewParams, stream bool) anthropic.Message {
		t.Helper()
		if !stream {
			m, err := client.Messages.New(ctx, params)
			require.NoError(t, err)
			return *m
		}
		s := client.Messages.NewStreaming(ctx, params)
		var m anthropic.Message
		for s.Next() {
			require.NoError(t, m.Accumulate(s.Current()))
		}
		require.NoError(t, s.Err())
		require.NoError(t, s.Close())
		return m
	}
	for i, stream := range []bool{false, true} {
		t.Run("stream="+strconv.FormatBool(stream), func(t *testing.T) {
			path := "/tmp/notes-" + strconv.Itoa(i) + ".txt"
			params := anthropic.MessageNewParams{
				Model:     "gpt-4o",
				MaxTokens: 256,
				Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What is in " + path + "?"))},
				Tools: []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{
					Name:        "read_file",
					Description: anthropic.String("Read a file"),
					InputSchema: anthropic.ToolInputSchemaParam{Required: []string{"file_path"},
						Properties: map[string]any{"file_path": map[string]any{"type": "string"}}},
				}}},
			}
			m := send(t, params, stream)
			require.Equal(t, anthropic.StopReasonToolUse, m.StopReason)
			var id string
			for _, b := range m.Content {
				if b.Type == "tool_use" {
					require.Empty(t, id, "one tool call")
					id = b.ID
					require.Equal(t, "read_file", b.Name)
					var in struct {
						FilePath string `json:"file_path"`
					}
					require.NoError(t, json.Unmarshal(b.Input, &in), "%s", b.Input)
					require.Equal(t, path, in.FilePath)
				}
			}
			require.NotEmpty(t, id)
			require.Positive(t, m.Usage.InputTokens)

			secret := "teapot-" + strconv.Itoa(i)
			params.Messages = append(params.Messages, m.ToParam(),
				anthropic.NewUserMessage(anthropic.NewToolResultBlock(id, secret, false)))
			m = send(t, params, stream)
			require.Equal(t, anthropic.StopReasonEndTurn, m.StopReason)
			var text string
			for _, b := range m.Content {
				text += b.Text
			}
			assert.Contains(t, text, secret)
		})
	}
	for _, r := range up.Requests() {
		require.Equal(t, "/v1/chat/completions", r.Path)
		require.Equal(t, "Bearer "+upstreamKey, r.Header.Get("Authorization"))
	}
	require.Len(t, up.Requests(), 4)
	wantTranslatedRecords(t, p, "/v1/messages", 4, "anthropic→openai")
}
