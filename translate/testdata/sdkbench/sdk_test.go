// Package sdkbench measures what the official SDKs' wire types cost for the
// work package translate does, to decide between them and translate's
// byte-level approach (see translate's package comment), and checks that the
// SDKs' own stream decoders and accumulators read translate's golden outputs
// (compat_test.go). A module of its own under testdata, so the proxy does not
// depend on the SDKs:
//
//	cd translate/testdata/sdkbench && go test -bench . -benchtime 100x
package sdkbench

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/openai/openai-go/v3"
)

func fixture(b *testing.B) []byte {
	body, err := os.ReadFile("../claude_code/claude_code.in.json")
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// The least an SDK-typed request translator does: decode the client's
// request into the SDK's params and encode the translated params (here the
// same ones, so this is a lower bound: no mapping work is counted).
func BenchmarkSDK_AnthropicRequestDecodeEncode(b *testing.B) {
	body := fixture(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	defer cpuTimer(b)()
	for b.Loop() {
		var p anthropic.MessageNewParams
		if err := json.Unmarshal(body, &p); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(p); err != nil {
			b.Fatal(err)
		}
	}
}

// Decoding alone, into the SDK's params.
func BenchmarkSDK_AnthropicRequestDecode(b *testing.B) {
	body := fixture(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	defer cpuTimer(b)()
	for b.Loop() {
		var p anthropic.MessageNewParams
		if err := json.Unmarshal(body, &p); err != nil {
			b.Fatal(err)
		}
	}
}

var chunk = []byte(`{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_eb9dce56a8","choices":[{"index":0,"delta":{"content":" the quick brown fox"},"logprobs":null,"finish_reason":null}],"usage":null}`)

// One stream event: decode an OpenAI chunk with the SDK's type and encode
// an Anthropic text delta event with the other SDK's type.
func BenchmarkSDK_StreamEvent(b *testing.B) {
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	defer cpuTimer(b)()
	for b.Loop() {
		var c openai.ChatCompletionChunk
		if err := json.Unmarshal(chunk, &c); err != nil {
			b.Fatal(err)
		}
		ev := anthropic.ContentBlockDeltaEvent{Index: 0, Delta: anthropic.RawContentBlockDeltaUnion{Type: "text_delta", Text: c.Choices[0].Delta.Content}}
		if _, err := json.Marshal(ev); err != nil {
			b.Fatal(err)
		}
	}
}
