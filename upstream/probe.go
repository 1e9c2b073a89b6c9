package upstream

import "io"

// probeLimit bounds how much of a stream is held back to find its first
// event; a first event longer than this is no error report, so the stream is
// committed without a verdict on it.
const probeLimit = 64 << 10

// probe reads from a stream until its first event that is not a comment is
// complete, probeLimit bytes were read, or the stream ends. It returns all
// bytes read (prefix, non-nil) and the first event (nil when none was found).
func probe(body io.Reader) (prefix, event []byte, err error) {
	buf := make([]byte, 0, 4096)
	scanFrom := 0
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, rerr := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		for {
			end := EventEnd(buf[scanFrom:])
			if end < 0 {
				break
			}
			ev := buf[scanFrom : scanFrom+end]
			scanFrom += end
			if !IsCommentOnly(ev) {
				return buf, ev, nil
			}
		}
		if rerr != nil {
			if rerr == io.EOF {
				rerr = nil
			}
			return buf, nil, rerr
		}
		if len(buf) >= probeLimit {
			return buf, nil, nil
		}
	}
}
