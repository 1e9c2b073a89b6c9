package main

// doneMarker ends an OpenAI stream ("data: [DONE]").
const doneMarker = "[DONE]"

// sseCounter finds the ends of server-sent events in a body fed piece by
// piece, however the pieces split it, and notes the terminal marker.
// An event ends at a blank line ("\n\n" or "\r\n\r\n"); blank lines with no
// field before them end nothing.
type sseCounter struct {
	lineHasData  bool // the current line has a byte other than '\r'
	eventHasData bool // the current event has a non-blank line
	match        int  // bytes of doneMarker matched so far
	// Done is set once "[DONE]" was seen.
	Done bool
}

// Feed scans b and returns how many events it completed.
func (s *sseCounter) Feed(b []byte) int {
	n := 0
	for _, c := range b {
		switch c {
		case '\n':
			if s.lineHasData {
				s.eventHasData = true
			} else if s.eventHasData {
				n++
				s.eventHasData = false
			}
			s.lineHasData = false
		case '\r':
		default:
			s.lineHasData = true
		}
		if !s.Done {
			switch {
			case c == doneMarker[s.match]:
				s.match++
				if s.match == len(doneMarker) {
					s.Done = true
				}
			case c == doneMarker[0]:
				s.match = 1
			default:
				s.match = 0
			}
		}
	}
	return n
}
