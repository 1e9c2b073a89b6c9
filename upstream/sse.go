package upstream

import (
	"bytes"

	"github.com/llm-proxy/llm-proxy/translate"
)

// EventEnd returns the index just past the blank line that ends the first
// SSE event in b, or -1 when b holds no complete event. Lines may end in
// "\n" or "\r\n" (a lone "\r" terminator is not recognised; no LLM API sends it).
func EventEnd(b []byte) int {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		// i is the start of a line: blank line ends the event.
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
	}
	return -1
}

// EventFields returns the event name (from an `event:` line) and the data
// (the first `data:` line's value) of one SSE event. The slices alias event.
// Multi-line data is rare in LLM APIs; only its first line is returned, which
// is enough to recognise errors, markers and usage.
func EventFields(event []byte) (name, data []byte) {
	for len(event) > 0 {
		line := event
		if i := bytes.IndexByte(event, '\n'); i >= 0 {
			line, event = event[:i], event[i+1:]
		} else {
			event = nil
		}
		line = bytes.TrimRight(line, "\r")
		switch {
		case name == nil && bytes.HasPrefix(line, []byte("event:")):
			name = bytes.TrimSpace(line[len("event:"):])
		case data == nil && bytes.HasPrefix(line, []byte("data:")):
			data = bytes.TrimSpace(line[len("data:"):])
		}
	}
	return name, data
}

// IsCommentOnly reports whether an event carries no field at all (blank lines
// and ": comments" only), like the keep-alives some upstreams send first.
func IsCommentOnly(event []byte) bool {
	for len(event) > 0 {
		line := event
		if i := bytes.IndexByte(event, '\n'); i >= 0 {
			line, event = event[:i], event[i+1:]
		} else {
			event = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) > 0 && line[0] != ':' {
			return false
		}
	}
	return true
}

// Usage is the token usage an upstream reported.
type Usage struct {
	Input, Output int
}

// UsageFromJSON reads token usage from an OpenAI or Anthropic JSON object: a
// chat completion or stream chunk (usage.prompt_tokens/completion_tokens), an
// Anthropic message or message_delta (usage.input_tokens/output_tokens), an
// Anthropic message_start (message.usage…) or a Responses API event
// (response.usage…). Values that are absent stay zero.
func UsageFromJSON(obj []byte) Usage {
	if !bytes.Contains(obj, []byte(`_tokens"`)) {
		return Usage{}
	}
	in, out := translate.TokenUsage(obj)
	return Usage{Input: in, Output: out}
}

// UsageFromTail reads token usage from the last bytes of a JSON answer too
// large to hold whole: usage objects come last in OpenAI and Anthropic
// answers. It looks at the last "usage" member in tail; values that are
// absent, or a tail without one, give zeros.
func UsageFromTail(tail []byte) Usage {
	i := bytes.LastIndex(tail, []byte(`"usage"`))
	if i < 0 {
		return Usage{}
	}
	obj := make([]byte, 0, 1+len(tail)-i)
	obj = append(append(obj, '{'), tail[i:]...)
	return UsageFromJSON(obj)
}

// maxScanEvent bounds how much of one event the Scanner keeps to inspect it;
// longer events (a big content delta) are relayed but not inspected: no usage
// report or terminal marker is that long.
const maxScanEvent = 64 << 10

// Scanner watches a relayed SSE stream for its terminal marker and usage
// report without delaying it: Feed is called with each chunk after it was
// written to the client. It keeps at most maxScanEvent bytes of a partial event.
type Scanner struct {
	buf      []byte
	skipping bool // inside an over-long event: drop bytes until its end
	// Terminal is set once "data: [DONE]", "event: message_stop" or a
	// Responses API "response.completed" event has been seen.
	Terminal bool
	// Usage holds the latest token counts reported (later reports win, as
	// Anthropic's message_delta carries the cumulative output count).
	Usage Usage
}

// Feed inspects the next chunk of the stream. chunk is not retained.
func (s *Scanner) Feed(chunk []byte) {
	for len(chunk) > 0 {
		if s.skipping {
			// Keep up to 3 bytes of context so a "\n\n" or "\r\n\r\n" split across chunks is found.
			joined := append(s.buf, chunk...)
			end := EventEnd(joined)
			if end < 0 {
				keep := min(len(joined), 3)
				s.buf = append(s.buf[:0], joined[len(joined)-keep:]...)
				return
			}
			consumed := max(end-len(s.buf), 0)
			s.buf = s.buf[:0]
			s.skipping = false
			chunk = chunk[consumed:]
			continue
		}
		if len(s.buf) == 0 {
			// Fast path: inspect complete events straight from the chunk.
			end := EventEnd(chunk)
			if end < 0 {
				s.keep(chunk)
				return
			}
			s.inspect(chunk[:end])
			chunk = chunk[end:]
			continue
		}
		s.buf = append(s.buf, chunk...)
		chunk = nil
		for {
			end := EventEnd(s.buf)
			if end < 0 {
				break
			}
			s.inspect(s.buf[:end])
			s.buf = s.buf[:copy(s.buf, s.buf[end:])]
		}
		if len(s.buf) > maxScanEvent {
			tail := s.buf[len(s.buf)-3:]
			s.buf = append(s.buf[:0], tail...)
			s.skipping = true
		}
	}
}

// AtEventBoundary reports whether everything fed so far ends with a
// complete event: the place where another event (a keep-alive) may go.
func (s *Scanner) AtEventBoundary() bool { return len(s.buf) == 0 && !s.skipping }

func (s *Scanner) keep(partial []byte) {
	if len(partial) > maxScanEvent {
		s.buf = append(s.buf[:0], partial[len(partial)-3:]...)
		s.skipping = true
		return
	}
	s.buf = append(s.buf, partial...)
}

func (s *Scanner) inspect(event []byte) {
	name, data := EventFields(event)
	switch {
	case bytes.Equal(data, []byte("[DONE]")),
		bytes.Equal(name, []byte("message_stop")),
		bytes.Equal(name, []byte("response.completed")):
		s.Terminal = true
	}
	if len(data) > 0 && data[0] == '{' {
		u := UsageFromJSON(data)
		if u.Input > 0 {
			s.Usage.Input = u.Input
		}
		if u.Output > 0 {
			s.Usage.Output = u.Output
		}
	}
}
