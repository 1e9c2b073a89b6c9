package upstream

import (
	"bytes"
)

// RedactedKey is what replaces an upstream key found in an answer.
const RedactedKey = "[redacted]"

// Redactor removes one upstream key from a byte stream relayed to a client:
// the raw key, and the key written with JSON escapes (any of its characters
// as \u00XX, in either hex case, or "/" as "\/"), also when a chunk boundary
// splits it. Feed it chunks with Redact and end with Flush.
//
// It is hand-written rather than a library because it must stream (hold
// back only a tail that could start a key, so SSE events are never delayed)
// and be cheap on the hot path: the raw key is found by a SIMD byte scan for
// its rarest byte, and the escape-aware matcher runs only on chunks that hold
// a "\u" or a "\/". A nil *Redactor passes everything through.
type Redactor struct {
	keyScan        // the key and its rarest byte, shared read-only with the target
	mask    bool   // replace each match with as many '*' (a body whose Content-Length was sent before it was read)
	held    []byte // tail of the previous chunk that may start a key
	out     []byte // reused output buffer
	joined  []byte // reused held+chunk buffer
}

// keyScan is what a Redactor needs to know of its key, computed once: a
// target keeps one, so that checking an answer for its key costs no
// allocation and no scan of the key (see Target.redaction).
type keyScan struct {
	key    []byte
	anchor int // index in key of its rarest byte: the scan looks for it
}

func newKeyScan(key string) keyScan {
	ks := keyScan{key: []byte(key)}
	best := -1
	for i, c := range ks.key {
		if f := byteFrequency(c); best < 0 || f < best {
			best, ks.anchor = f, i
		}
	}
	return ks
}

// redactor returns a fresh Redactor for the key (its buffers unshared).
func (ks keyScan) redactor() Redactor { return Redactor{keyScan: ks} }

// newRedactor is a stream's Redactor for the key, masking (see
// Redactor.mask) or not; nil, which passes everything through, without a key.
func (ks keyScan) newRedactor(mask bool) *Redactor {
	if len(ks.key) == 0 {
		return nil
	}
	r := ks.redactor()
	r.mask = mask
	return &r
}

// contains reports whether body holds the key, raw or escaped.
func (ks keyScan) contains(body []byte) bool {
	if len(ks.key) == 0 || len(body) < len(ks.key) {
		// Every form of the key, raw or escaped, is at least as long as the
		// key: most header values are shorter.
		return false
	}
	r := ks.redactor()
	_, found, _ := r.replace(body)
	return found
}

// redactAll returns body with every occurrence of the key (raw or escaped)
// replaced; body itself when there is none (no copy).
func (ks keyScan) redactAll(body []byte) []byte {
	if len(ks.key) == 0 || len(body) < len(ks.key) {
		return body
	}
	r := ks.redactor()
	out, found, _ := r.replace(body)
	if !found {
		return body
	}
	return bytes.Clone(out)
}

// appendMark appends the replacement for a match of n bytes.
func (r *Redactor) appendMark(out []byte, n int) []byte {
	if !r.mask {
		return append(out, RedactedKey...)
	}
	for range n {
		out = append(out, '*')
	}
	return out
}

// Redact takes the next chunk of the stream and returns the bytes that can
// be sent now, key replaced. It may keep back a tail that could be the
// start of a key (sent by a later Redact or by Flush). The result is valid
// until the next call; it may alias chunk.
func (r *Redactor) Redact(chunk []byte) []byte {
	if r == nil {
		return chunk
	}
	buf := chunk
	if len(r.held) > 0 {
		r.joined = append(append(r.joined[:0], r.held...), chunk...)
		buf = r.joined
		r.held = r.held[:0]
	}
	out, _, backslash := r.replace(buf)
	if h := r.partialTail(out, backslash); h > 0 {
		r.held = append(r.held[:0], out[len(out)-h:]...)
		out = out[:len(out)-h]
	}
	return out
}

// Flush returns the bytes held back at the end of the stream.
func (r *Redactor) Flush() []byte {
	if r == nil || len(r.held) == 0 {
		return nil
	}
	out := append(r.out[:0], r.held...)
	r.held = r.held[:0]
	r.out = out
	return out
}

// replace returns buf with every complete key (raw or escaped) replaced,
// whether there was one, and whether buf holds a backslash. Without a match
// it returns buf itself.
func (r *Redactor) replace(buf []byte) (_ []byte, found, backslash bool) {
	out := r.out[:0]
	copied := 0 // buf[:copied] is in out already
	k := r.key
	bs := bytes.IndexByte(buf, '\\')
	backslash = bs >= 0
	if !backslash || !bytes.Contains(buf[bs:], []byte(`\u00`)) && !bytes.Contains(buf[bs:], []byte(`\/`)) {
		// Fast path, no escapes: the raw key, found by its rarest byte.
		a := r.anchor
		for i := a; i < len(buf); {
			j := bytes.IndexByte(buf[i:], k[a])
			if j < 0 {
				break
			}
			i += j
			start := i - a
			if start >= copied && start+len(k) <= len(buf) && bytes.Equal(buf[start:start+len(k)], k) {
				out = r.appendMark(append(out, buf[copied:start]...), len(k))
				found, copied = true, start+len(k)
				i = copied + a
				continue
			}
			i++
		}
	} else {
		// A chunk with escapes: the escape-aware matcher at each byte that
		// can start a key (its first byte, or a backslash).
		cur := cursor{buf: buf, c0: k[0], raw: -1, esc: -1}
		for i := cur.next(0); i >= 0; i = cur.next(i) {
			if end, full := r.matchAt(buf, i); full {
				out = r.appendMark(append(out, buf[copied:i]...), end-i)
				found, copied = true, end
				i = end
				continue
			}
			i++
		}
	}
	if !found {
		return buf, false, backslash
	}
	out = append(out, buf[copied:]...)
	r.out = out // keep the capacity for the next chunk
	return out, true, backslash
}

// partialTail returns how many bytes at the end of buf could be the start
// of a key that the next chunk completes (0 in the usual case). backslash
// false says buf holds none (replace found none, and adds none).
func (r *Redactor) partialTail(buf []byte, backslash bool) int {
	window := len(r.key) - 1
	if backslash && bytes.IndexByte(buf[max(0, len(buf)-6*len(r.key)):], '\\') >= 0 {
		window = 6*len(r.key) - 1 // an escaped character takes up to 6 bytes
	} else {
		backslash = false
	}
	from := max(0, len(buf)-window)
	if !backslash {
		// Raw only: the longest tail that is a prefix of the key. A plain
		// loop over at most len(key)-1 bytes beats a scan per candidate.
		k0 := r.key[0]
		for j := from; j < len(buf); j++ {
			if buf[j] == k0 && bytes.HasPrefix(r.key, buf[j:]) {
				return len(buf) - j
			}
		}
		return 0
	}
	cur := cursor{buf: buf, c0: r.key[0], raw: -1, esc: -1}
	for i := cur.next(from); i >= 0; i = cur.next(i + 1) {
		if end, full := r.matchAt(buf, i); !full && end == len(buf) {
			return len(buf) - i
		}
	}
	return 0
}

// cursor yields, in order, the positions of buf where a key can start: its
// first byte c0, or a backslash. Each byte is scanned once (SIMD IndexByte
// per kind), however many candidates are asked for.
type cursor struct {
	buf      []byte
	c0       byte
	raw, esc int // next known position of each kind; -1: not looked yet; len(buf): none
}

// next returns the first candidate at or after i, or -1.
func (c *cursor) next(i int) int {
	if i >= len(c.buf) {
		return -1
	}
	if c.raw < i {
		c.raw = seek(c.buf, i, c.c0)
	}
	if c.esc < i {
		// Only a backslash that starts an escape of c0 (or is cut off
		// where it still could) can start a key.
		p := i
		for {
			p = seek(c.buf, p, '\\')
			if p == len(c.buf) {
				break
			}
			if n, ok := escapeMatches(c.buf[p:], c.c0); ok || n == len(c.buf)-p {
				break
			}
			p++
		}
		c.esc = p
	}
	if p := min(c.raw, c.esc); p < len(c.buf) {
		return p
	}
	return -1
}

// seek returns the index of b in buf at or after from, or len(buf).
func seek(buf []byte, from int, b byte) int {
	if j := bytes.IndexByte(buf[from:], b); j >= 0 {
		return from + j
	}
	return len(buf)
}

// matchAt matches the key at buf[i:], each character raw or escaped. It
// returns where the match ends and whether it is complete; a match cut off
// by the end of buf returns (len(buf), false), a mismatch (i, false).
func (r *Redactor) matchAt(buf []byte, i int) (int, bool) {
	pos := i
	for _, want := range r.key {
		if pos >= len(buf) {
			return len(buf), false
		}
		if buf[pos] == want {
			pos++
			continue
		}
		if buf[pos] != '\\' {
			return i, false
		}
		n, ok := escapeMatches(buf[pos:], want)
		if !ok {
			if n == len(buf)-pos {
				return len(buf), false // an escape cut off by the end
			}
			return i, false
		}
		pos += n
	}
	return pos, true
}

// escapeMatches reports whether esc starts with a JSON escape of c
// ("\u00XX" or, for '/', "\/") and its length. When esc ends inside what
// could still be such an escape, it returns (len(esc), false).
func escapeMatches(esc []byte, c byte) (int, bool) {
	if c == '/' && len(esc) >= 2 && esc[1] == '/' {
		return 2, true
	}
	const hex = "0123456789abcdef"
	want := [6]byte{'\\', 'u', '0', '0', hex[c>>4], hex[c&15]}
	for k := 1; k < 6; k++ {
		if k >= len(esc) {
			return len(esc), false
		}
		got := esc[k]
		if 'A' <= got && got <= 'F' {
			got += 'a' - 'A'
		}
		if got != want[k] {
			return 0, false
		}
	}
	return 6, true
}

// byteFrequency ranks how common c is in relayed text (JSON, English,
// code): the lower, the rarer. Keys are mostly letters and digits; the
// rarest of them makes the fewest false hits for the scan.
func byteFrequency(c byte) int {
	const common = " etaoinsrhldcumfpgwybvkxjqz\"{}:,._-/0123456789"
	if i := bytes.IndexByte([]byte(common), c); i >= 0 {
		return 100 - i + 10 // every listed byte ranks above an unlisted one
	}
	return 0
}
