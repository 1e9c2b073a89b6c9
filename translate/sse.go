package translate

import "bytes"

// maxPending bounds the bytes of one upstream SSE event held while waiting
// for its end; a longer event breaks the stream.
const maxPending = 4 << 20

// splitter cuts a byte stream into SSE events. Hand-written (a few lines)
// because translate imports no project package, and upstream's splitter
// lives there.
type splitter struct {
	pending []byte
}

// next returns the next complete event from the pending bytes plus chunk,
// or nil when there is none yet; it keeps what remains. The event aliases
// internal storage and is valid until the next call.
func (s *splitter) feed(chunk []byte) {
	s.pending = append(s.pending, chunk...)
}

func (s *splitter) next(consumed *int) []byte {
	b := s.pending[*consumed:]
	end := eventEnd(b)
	if end < 0 {
		return nil
	}
	*consumed += end
	return b[:end]
}

// compact drops the consumed bytes.
func (s *splitter) compact(consumed int) {
	n := copy(s.pending, s.pending[consumed:])
	s.pending = s.pending[:n]
}

// eventEnd returns the index just past the blank line that ends the first
// event in b, or -1. Lines end in "\n" or "\r\n".
func eventEnd(b []byte) int {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
	}
	return -1
}

// fields returns the event name and data of one SSE event; several data
// lines are joined with "\n" (then the result is a new slice), one aliases
// event. Comments and other fields are skipped.
func fields(event []byte) (name, data []byte) {
	n := 0
	for len(event) > 0 {
		line := event
		if i := bytes.IndexByte(event, '\n'); i >= 0 {
			line, event = event[:i], event[i+1:]
		} else {
			event = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case bytes.HasPrefix(line, []byte("event:")):
			name = bytes.TrimSpace(line[len("event:"):])
		case bytes.HasPrefix(line, []byte("data:")):
			v := line[len("data:"):]
			if len(v) > 0 && v[0] == ' ' {
				v = v[1:]
			}
			if n == 0 {
				data = v
			} else {
				data = append(append(append([]byte(nil), data...), '\n'), v...)
			}
			n++
		}
	}
	return name, data
}

// eventTranslator is a stream translator as feedEvents drives it.
type eventTranslator interface {
	Done() bool
	Event(dst, data []byte) []byte
	Fail(dst []byte, msg string) []byte
}

// feedEvents is both directions' Feed: it splits chunk into complete
// upstream events, translates each one's data with t until t is done, and
// ends the stream with an error when one event grows past maxPending.
func feedEvents(sp *splitter, t eventTranslator, dst, chunk []byte) []byte {
	sp.feed(chunk)
	c := 0
	for !t.Done() {
		ev := sp.next(&c)
		if ev == nil {
			break
		}
		_, data := fields(ev)
		dst = t.Event(dst, data)
	}
	sp.compact(c)
	if !t.Done() && len(sp.pending) > maxPending {
		dst = t.Fail(dst, "an upstream event exceeded "+itoa(maxPending)+" bytes")
	}
	return dst
}
