package translate

import (
	"flag"
	"os"
	"testing"
)

// claudeCode is a Claude Code-like request of about 50 KB: two system
// blocks, 12 tools with JSON schemas, seven turns with thinking, parallel
// tool use and tool results (one an error), cache_control marks.
func claudeCode(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/claude_code/claude_code.in.json")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// checked is Options.Checked in the request benchmarks: -checked measures
// the translation alone, as the proxy runs it after its own body check.
var checked = flag.Bool("checked", false, "request benchmarks: set Options.Checked")

func BenchmarkRequestAnthropicToOpenAI_ClaudeCode(b *testing.B) {
	body := claudeCode(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	defer cpuTimer(b)()
	var out []byte
	var err error
	for b.Loop() {
		if out, err = RequestAnthropicToOpenAI(out[:0], body, Options{Reasoning: true, Checked: *checked}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRequestOpenAIToAnthropic_ClaudeCode(b *testing.B) {
	body, err := RequestAnthropicToOpenAI(nil, claudeCode(b), Options{Reasoning: true})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	defer cpuTimer(b)()
	var out []byte
	for b.Loop() {
		if out, err = RequestOpenAIToAnthropic(out[:0], body, Options{Checked: *checked}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEstimateTokens_ClaudeCode(b *testing.B) {
	body := claudeCode(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	defer cpuTimer(b)()
	for b.Loop() {
		if _, err := EstimateTokens(body); err != nil {
			b.Fatal(err)
		}
	}
}

var (
	openAITextChunk = []byte(`data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_eb9dce56a8","choices":[{"index":0,"delta":{"content":" the quick brown fox"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	openAIToolChunk = []byte(`data: {"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\": \"Par"}}]},"logprobs":null,"finish_reason":null}]}` + "\n\n")
	anthropicText   = []byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" the quick brown fox\"}}\n\n")
	anthropicTool   = []byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"ty\\\": \\\"Par\"}}\n\n")
)

// benchStream feeds the same event over and over to a translator already
// past its start (one event per op, as the relay delivers them).
func benchStream(b *testing.B, s streamTranslator, warm, event []byte) {
	dst := s.Feed(nil, warm)
	b.SetBytes(int64(len(event)))
	b.ReportAllocs()
	defer cpuTimer(b)()
	for b.Loop() {
		dst = s.Feed(dst[:0], event)
	}
	if s.Done() || len(dst) == 0 {
		b.Fatal("the stream ended or wrote nothing")
	}
}

func BenchmarkOpenAIToAnthropicStream_TextEvent(b *testing.B) {
	benchStream(b, NewOpenAIToAnthropicStream(Options{}), openAITextChunk, openAITextChunk)
}

func BenchmarkOpenAIToAnthropicStream_ToolArgumentsEvent(b *testing.B) {
	warm := []byte(`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"Read","arguments":""}}]},"finish_reason":null}]}` + "\n\n")
	benchStream(b, NewOpenAIToAnthropicStream(Options{}), warm, openAIToolChunk)
}

func BenchmarkAnthropicToOpenAIStream_TextEvent(b *testing.B) {
	warm := []byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n")
	benchStream(b, NewAnthropicToOpenAIStream(Options{Created: 1}), warm, anthropicText)
}

func BenchmarkAnthropicToOpenAIStream_ToolArgumentsEvent(b *testing.B) {
	warm := []byte("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01\",\"name\":\"Read\",\"input\":{}}}\n\n")
	benchStream(b, NewAnthropicToOpenAIStream(Options{Created: 1}), warm, anthropicTool)
}
