package sdkbench

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	anssestream "github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"
	"github.com/openai/openai-go/v3"
	oassestream "github.com/openai/openai-go/v3/packages/ssestream"
)

// The translators' golden outputs, read by the official SDKs' own stream
// decoders and accumulators: what a client built on them sees.

func sseResponse(b []byte) *http.Response {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body: io.NopCloser(bytes.NewReader(b))}
}

func goldens(t *testing.T, dir, ext string) map[string][]byte {
	files, err := filepath.Glob(filepath.Join("..", dir, "*.golden."+ext))
	if err != nil || len(files) == 0 {
		t.Fatalf("no goldens in %s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".golden."+ext)] = b
	}
	return out
}

func TestAnthropicSDK_ReadsTranslatedStreams(t *testing.T) {
	for name, b := range goldens(t, "stream_openai_to_anthropic", "sse") {
		t.Run(name, func(t *testing.T) {
			s := anssestream.NewStream[anthropic.MessageStreamEventUnion](anssestream.NewDecoder(sseResponse(b)), nil)
			var msg anthropic.Message
			for s.Next() {
				if err := msg.Accumulate(s.Current()); err != nil {
					t.Fatalf("accumulate: %v", err)
				}
			}
			if bytes.Contains(b, []byte("event: error")) {
				if s.Err() == nil {
					t.Fatal("the SDK did not report the in-band error")
				}
				return
			}
			if s.Err() != nil {
				t.Fatalf("stream error: %v", s.Err())
			}
			switch name {
			case "parallel_tool_calls":
				if len(msg.Content) != 2 || msg.StopReason != "tool_use" {
					t.Fatalf("got %+v", msg)
				}
				var in map[string]string
				if err := json.Unmarshal(msg.Content[1].Input, &in); err != nil || in["city"] != "Rome" || msg.Content[1].ID != "call_Rome2" {
					t.Fatalf("tool input %s, id %s", msg.Content[1].Input, msg.Content[1].ID)
				}
			case "reasoning_content_deepseek":
				if msg.Content[0].Type != "thinking" || msg.Content[0].Thinking != "2+2 is 4." || msg.Content[1].Text != "4" {
					t.Fatalf("got %+v", msg.Content)
				}
			case "text_usage_chunk":
				if msg.Content[0].Text != "Hello \"world\"\n" || msg.Usage.OutputTokens != 3 {
					t.Fatalf("got %+v", msg)
				}
			}
		})
	}
}

func TestOpenAISDK_ReadsTranslatedStreams(t *testing.T) {
	for name, b := range goldens(t, "stream_anthropic_to_openai", "sse") {
		t.Run(name, func(t *testing.T) {
			s := oassestream.NewStream[openai.ChatCompletionChunk](oassestream.NewDecoder(sseResponse(b)), nil)
			var acc openai.ChatCompletionAccumulator
			for s.Next() {
				acc.AddChunk(s.Current())
			}
			if bytes.Contains(b, []byte(`data: {"error"`)) {
				if s.Err() == nil {
					t.Fatal("the SDK did not report the in-band error")
				}
				return
			}
			if s.Err() != nil {
				t.Fatalf("stream error: %v", s.Err())
			}
			switch name {
			case "tool_use_parallel":
				tc := acc.Choices[0].Message.ToolCalls
				if len(tc) != 2 || tc[0].Function.Arguments != `{"city": "Paris"}` || tc[1].ID != "toolu_01T2" || acc.Choices[0].FinishReason != "tool_calls" {
					t.Fatalf("got %+v", acc.Choices[0])
				}
			case "text_ping_include_usage":
				if acc.Choices[0].Message.Content != "Hello!\n\"ok\"" || acc.Usage.PromptTokens != 1025 {
					t.Fatalf("got %+v / %+v", acc.Choices[0].Message, acc.Usage)
				}
			}
		})
	}
}

func TestSDKs_DecodeTranslatedAnswers(t *testing.T) {
	for name, b := range goldens(t, "answer_openai_to_anthropic", "json") {
		if strings.HasPrefix(name, "not_json") {
			continue
		}
		var m anthropic.Message
		if err := json.Unmarshal(b, &m); err != nil || m.Type != "message" {
			t.Fatalf("%s: %v %+v", name, err, m)
		}
	}
	for name, b := range goldens(t, "answer_anthropic_to_openai", "json") {
		if strings.HasPrefix(name, "not_json") {
			continue
		}
		var c openai.ChatCompletion
		if err := json.Unmarshal(b, &c); err != nil || c.Object != "chat.completion" {
			t.Fatalf("%s: %v %+v", name, err, c)
		}
	}
}
