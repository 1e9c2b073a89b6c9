package translate

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/tidwall/gjson"
)

// usageGJSON is the proxy's former usage reader (gjson ForEach): the
// reference TokenUsage must agree with on valid JSON.
func usageGJSON(obj []byte) (in, out int) {
	var usage gjson.Result
	gjson.ParseBytes(obj).ForEach(func(key, value gjson.Result) bool {
		switch key.Str {
		case "usage":
			usage = value
		case "message", "response":
			if value.IsObject() && !usage.Exists() {
				usage = value.Get("usage")
			}
		}
		return true
	})
	if !usage.IsObject() {
		return 0, 0
	}
	usage.ForEach(func(key, value gjson.Result) bool {
		switch key.Str {
		case "prompt_tokens", "input_tokens":
			in = int(value.Int())
		case "completion_tokens", "output_tokens":
			out = int(value.Int())
		}
		return true
	})
	return in, out
}

const mockAnswer = `{"id":"chatcmpl-mock1","object":"chat.completion","created":1796187018,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! This is a mock completion from the benchmark upstream. It is long enough to look like a short real answer, with a couple of sentences of text, so that proxies that parse and re-encode bodies do a realistic amount of work.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":25,"completion_tokens":48,"total_tokens":73,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}},"system_fingerprint":"fp_mock"}`

var usageSeeds = []string{
	mockAnswer,
	`{"type":"message_start","message":{"id":"m","usage":{"input_tokens":12,"output_tokens":1}}}`,
	`{"type":"message_delta","delta":{},"usage":{"output_tokens":40}}`,
	`{"type":"response.completed","response":{"usage":{"input_tokens":7,"output_tokens":9}}}`,
	`{"message":{"usage":{"input_tokens":1}},"usage":{"input_tokens":2}}`,
	`{"usage":{"input_tokens":2},"message":{"usage":{"input_tokens":1}}}`,
	`{"choices":[{"delta":{"content":"usage \"prompt_tokens\": 5"}}]}`,
	`{"\u0075\u0073\u0061\u0067\u0065":{"\u0063\u006f\u006d\u0070\u006c\u0065\u0074\u0069\u006f\u006e\u005f\u0074\u006f\u006b\u0065\u006e\u0073":3}}`,
	`{"usage":{"prompt_tokens":"11","completion_tokens":2.0}}`, `[{"usage":{"input_tokens":1}}]`, `{"usage":null}`, ` { "usage" : { "input_tokens" : 4 } } `,
}

func TestTokenUsage_AgreesWithGJSON(t *testing.T) {
	for _, s := range usageSeeds {
		in, out := TokenUsage([]byte(s))
		win, wout := usageGJSON([]byte(s))
		assert.Equal(t, [2]int{win, wout}, [2]int{in, out}, s)
	}
	in, out := TokenUsage([]byte(mockAnswer))
	assert.Equal(t, [2]int{25, 48}, [2]int{in, out})
}

// FuzzTokenUsage: on valid JSON, TokenUsage and the gjson reference agree.
func FuzzTokenUsage(f *testing.F) {
	for _, s := range usageSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, obj []byte) {
		in, out := TokenUsage(obj) // never panics, valid or not
		if !json.Valid(obj) {
			return
		}
		win, wout := usageGJSON(obj)
		if in != win || out != wout {
			t.Fatalf("TokenUsage(%q) = %d %d, gjson reference %d %d", obj, in, out, win, wout)
		}
	})
}

func BenchmarkTokenUsage(b *testing.B) {
	obj := []byte(mockAnswer)
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			TokenUsage(obj)
		}
	})
	b.Run("gjson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			usageGJSON(obj)
		}
	})
}
