package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// claudeCodeBin is where `make claude-code` installs Claude Code (the npm
// package @anthropic-ai/claude-code, at the Makefile's pinned version).
const claudeCodeBin = ".tools/claude-code/node_modules/.bin/claude"

// requireClaudeCode returns the path of the claude binary. Without it the
// test is skipped, unless LLMPROXY_REQUIRE_CLAUDE_CODE is set (.ci/run sets
// it after `make claude-code`): then it fails, so CI cannot pass without it.
func requireClaudeCode(t *testing.T) string {
	t.Helper()
	path, err := filepath.Abs(claudeCodeBin)
	require.NoError(t, err)
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("LLMPROXY_REQUIRE_CLAUDE_CODE") != "" {
			t.Fatalf("Claude Code is not installed at %s and LLMPROXY_REQUIRE_CLAUDE_CODE is set: run make claude-code (%v)", claudeCodeBin, err)
		}
		t.Skipf("Claude Code not installed (make claude-code needs npm and its registry): %v", err)
	}
	return path
}

// TestClaudeCode_PrintModeReadsFileViaOpenAIOnlyUpstream: Claude Code in
// print mode, pointed at the proxy whose only target is an OpenAI-API
// upstream (the simulator), completes a task that needs a tool round trip:
// the model asks for Read on the file the prompt names, Claude Code runs it
// and sends the result back, the model answers from it. Every request is
// translated (Anthropic messages → OpenAI chat completions and back,
// streamed). On a target with `reasoning: effort` and `max_tokens_field:
// max_completion_tokens`, Claude Code's effort arrives as reasoning_effort,
// its limit as max_completion_tokens, and the upstream's reasoning_content
// comes back to Claude Code as thinking, which it sends back with the tool
// result.
func TestClaudeCode_PrintModeReadsFileViaOpenAIOnlyUpstream(t *testing.T) {
	claude := requireClaudeCode(t)
	t.Run("plain target", func(t *testing.T) { claudeCodeReadsFile(t, claude, "") })
	t.Run("reasoning target", func(t *testing.T) {
		claudeCodeReadsFile(t, claude, ", reasoning: effort, max_tokens_field: max_completion_tokens")
	})
}

func claudeCodeReadsFile(t *testing.T, claude, options string) {
	reasoning := options != ""
	up, err := sim.New(sim.Options{Record: true, Keys: []string{upstreamKey}, ChunkInterval: -1})
	require.NoError(t, err)
	defer up.Close()
	dir := t.TempDir()
	routing := filepath.Join(dir, "llm-proxy.yaml")
	require.NoError(t, os.WriteFile(routing, []byte("targets:\n  - {name: oai, url: \""+up.URL()+"\", keys: [\"${OAI_KEY}\"], api: openai"+options+"}\n"), 0o600))
	p := start(t, map[string]string{"CONFIG_FILE": routing, "OAI_KEY": upstreamKey, "MY_ACCESS_KEY": clientKey, "DB_PATH": "memory"})

	// The file to read, in Claude Code's working directory (reading it
	// needs no permission in print mode), with a word only it holds.
	work := t.TempDir()
	var b [6]byte
	_, _ = rand.Read(b[:])
	secret := "zebra" + hex.EncodeToString(b[:])
	file := filepath.Join(work, "secret.txt")
	require.NoError(t, os.WriteFile(file, []byte("The word is "+secret+".\n"), 0o600))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, claude, "-p", "Read the file "+file+" and reply with the word in it",
		"--max-turns", "3", "--output-format", "json")
	cmd.Dir = work
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"CLAUDE_CODE_MAX_RETRIES=0",
		"ANTHROPIC_BASE_URL=" + p.base,
		"ANTHROPIC_API_KEY=" + clientKey,
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "claude: %s\nstderr: %s\nproxy:\n%s", out, stderr.String(), p.output.String())
	var result struct {
		Type     string `json:"type"`
		IsError  bool   `json:"is_error"`
		Result   string `json:"result"`
		NumTurns int    `json:"num_turns"`
	}
	require.NoError(t, json.Unmarshal(out, &result), "%s", out)
	assert.Equal(t, "result", result.Type)
	assert.False(t, result.IsError, "%s", out)
	assert.Contains(t, result.Result, secret, "the answer quotes the file")
	assert.GreaterOrEqual(t, result.NumTurns, 2, "a tool round trip is two turns")

	// Upstream: only chat completions (no ?beta=true, no Anthropic path),
	// Claude Code's large requests translated, the last one carrying the
	// Read call and its result.
	reqs := up.Requests()
	require.GreaterOrEqual(t, len(reqs), 2)
	var roundTrip bool
	for _, r := range reqs {
		require.Equal(t, "/v1/chat/completions", r.Path)
		assert.Greater(t, len(r.Body), 40_000, "Claude Code's request with its system prompt and tools")
		assert.LessOrEqual(t, len(gjson.GetBytes(r.Body, "user").Str), 64)
		if reasoning {
			assert.NotEmpty(t, gjson.GetBytes(r.Body, "reasoning_effort").Str, "Claude Code's effort")
			assert.Positive(t, gjson.GetBytes(r.Body, "max_completion_tokens").Int())
			assert.False(t, gjson.GetBytes(r.Body, "max_tokens").Exists())
		} else {
			assert.False(t, gjson.GetBytes(r.Body, "reasoning_effort").Exists())
			assert.Positive(t, gjson.GetBytes(r.Body, "max_tokens").Int())
		}
		msgs := gjson.GetBytes(r.Body, "messages").Array()
		last := msgs[len(msgs)-1]
		if last.Get("role").Str == "tool" && strings.Contains(last.Get("content").Str, secret) {
			call := msgs[len(msgs)-2].Get("tool_calls.0")
			assert.Equal(t, "Read", call.Get("function.name").Str)
			assert.Equal(t, call.Get("id").Str, last.Get("tool_call_id").Str)
			assert.Equal(t, file, gjson.Get(call.Get("function.arguments").Str, "file_path").Str)
			if reasoning { // the thinking Claude Code got, sent back with the call
				assert.Contains(t, msgs[len(msgs)-2].Get("reasoning_content").Str, sim.ReasoningText)
			}
			roundTrip = true
		}
	}
	assert.True(t, roundTrip, "no upstream request carried the Read result")

	// The proxy's record: every /v1/messages request answered by a
	// translated attempt, streamed. The recorder may lag the last answer.
	var msgs int
	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs = 0
		snap := snapshot(t, p.base)
		for _, ev := range snap.Recent {
			if ev.Route != "/v1/messages" {
				continue
			}
			msgs++
			require.Equal(t, 200, ev.Status)
			require.True(t, ev.Stream)
			require.Len(t, ev.Attempts, 1)
			require.True(t, ev.Attempts[0].Translated)
			require.Equal(t, "anthropic→openai", ev.Attempts[0].Translation)
		}
		if msgs >= len(reqs) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	assert.Equal(t, len(reqs), msgs, "one translated record per upstream request")
}
