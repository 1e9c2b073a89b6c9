package upstream

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEventEnd(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", -1},
		{"data: x", -1},
		{"data: x\n", -1},
		{"data: x\n\n", 9},
		{"data: x\r\n\r\n", 11},
		{"event: a\ndata: x\n\ndata: y\n\n", 18},
		{"\n\n", 2},
		{": c\n\ndata: x\n\n", 5},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, EventEnd([]byte(tt.in)), "%q", tt.in)
	}
}

func TestEventFields(t *testing.T) {
	name, data := EventFields([]byte("event: error\r\ndata: {\"a\":1}\r\n\r\n"))
	assert.Equal(t, "error", string(name))
	assert.Equal(t, `{"a":1}`, string(data))
	name, data = EventFields([]byte("data:[DONE]\n\n"))
	assert.Nil(t, name)
	assert.Equal(t, "[DONE]", string(data))
}

func TestIsCommentOnly(t *testing.T) {
	assert.True(t, IsCommentOnly([]byte(": keep-alive\n\n")))
	assert.True(t, IsCommentOnly([]byte("\n\n")))
	assert.False(t, IsCommentOnly([]byte(": x\ndata: y\n\n")))
}

func TestUsageFromJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Usage
	}{
		{"openai", `{"usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46}}`, Usage{12, 34}},
		{"anthropic message", `{"type":"message","usage":{"input_tokens":5,"output_tokens":9}}`, Usage{5, 9}},
		{"anthropic message_start", `{"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}`, Usage{25, 1}},
		{"anthropic message_delta", `{"type":"message_delta","usage":{"output_tokens":15}}`, Usage{0, 15}},
		{"responses completed", `{"type":"response.completed","response":{"usage":{"input_tokens":3,"output_tokens":4}}}`, Usage{3, 4}},
		{"none", `{"choices":[]}`, Usage{}},
		{"null usage", `{"usage":null}`, Usage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, UsageFromJSON([]byte(tt.in)))
		})
	}
}

const openAIStream = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n" +
	"data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n" +
	"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\n" +
	"data: [DONE]\n\n"

const anthropicStream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":11,\"output_tokens\":1}}}\n\n" +
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"hi\"}}\n\n" +
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":6}}\n\n" +
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"

// feedInPieces feeds s to a fresh Scanner cut every n bytes.
func feedInPieces(s string, n int) *Scanner {
	var sc Scanner
	for i := 0; i < len(s); i += n {
		sc.Feed([]byte(s[i:min(i+n, len(s))]))
	}
	return &sc
}

func TestScanner_Feed(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 64, 1 << 20} {
		sc := feedInPieces(openAIStream, n)
		assert.True(t, sc.Terminal, "openai, pieces of %d", n)
		assert.Equal(t, Usage{7, 2}, sc.Usage, "openai, pieces of %d", n)

		sc = feedInPieces(anthropicStream, n)
		assert.True(t, sc.Terminal, "anthropic, pieces of %d", n)
		assert.Equal(t, Usage{11, 6}, sc.Usage, "anthropic, pieces of %d", n)
	}
}

func TestScanner_NoTerminal(t *testing.T) {
	cut := strings.TrimSuffix(openAIStream, "data: [DONE]\n\n")
	sc := feedInPieces(cut, 5)
	assert.False(t, sc.Terminal)
	assert.Equal(t, Usage{7, 2}, sc.Usage, "usage is still read")
}

func TestScanner_HugeEventSkippedThenResumes(t *testing.T) {
	huge := "data: {\"choices\":[{\"delta\":{\"content\":\"" + strings.Repeat("x", 3<<20) + "\"}}]}\n\n"
	s := huge + openAIStream
	for _, n := range []int{4096, 32 << 10, 1 << 20} {
		sc := feedInPieces(s, n)
		assert.True(t, sc.Terminal, "pieces of %d", n)
		assert.Equal(t, Usage{7, 2}, sc.Usage, "pieces of %d", n)
		assert.LessOrEqual(t, cap(sc.buf), 2*maxScanEvent+(1<<20), "buffer stays bounded")
	}
}

// FuzzScanner checks that any stream, cut anywhere, gives the same verdict as
// the stream fed whole, and never panics.
func FuzzScanner(f *testing.F) {
	f.Add([]byte(openAIStream), uint8(3))
	f.Add([]byte(anthropicStream), uint8(1))
	f.Add([]byte("data: [DONE]\r\n\r\n"), uint8(2))
	f.Add([]byte("event: error\ndata: {\"error\":{}}\n\n"), uint8(5))
	f.Fuzz(func(t *testing.T, stream []byte, cut uint8) {
		whole := &Scanner{}
		whole.Feed(stream)
		pieces := &Scanner{}
		n := int(cut) + 1
		for i := 0; i < len(stream); i += n {
			pieces.Feed(stream[i:min(i+n, len(stream))])
		}
		if whole.Terminal != pieces.Terminal || whole.Usage != pieces.Usage {
			t.Fatalf("whole %+v != pieces of %d %+v", *whole, n, *pieces)
		}
	})
}

func BenchmarkScanner_Feed(b *testing.B) {
	chunk := []byte("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"token \"},\"finish_reason\":null}]}\n\n")
	var sc Scanner
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		sc.Feed(chunk)
	}
}

func TestScanner_FeedNoAllocs(t *testing.T) {
	chunk := []byte("data: {\"choices\":[{\"delta\":{\"content\":\"token \"}}]}\n\n")
	var sc Scanner
	allocs := testing.AllocsPerRun(200, func() { sc.Feed(chunk) })
	assert.Zero(t, allocs)
}

func TestUsageFromTail(t *testing.T) {
	cases := []struct {
		tail string
		want Usage
	}{
		{`xxxx"}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}`, Usage{Input: 8}},
		{`"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18,"completion_tokens_details":{"reasoning_tokens":0}}}`, Usage{Input: 11, Output: 7}},
		{`,"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":5}}`, Usage{Input: 3, Output: 5}},
		{`no usage here`, Usage{}},
		{`"usage":{"prompt_tok`, Usage{}},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, UsageFromTail([]byte(tc.tail)), tc.tail)
	}
}
