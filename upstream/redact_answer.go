package upstream

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// decodedBodyLimit bounds a compressed answer once decoded for redaction:
// a small compressed body must not inflate into the proxy's memory.
const decodedBodyLimit = 64 << 20

// withheldBody replaces a compressed answer that cannot be decoded (broken,
// or too large once decoded): what cannot be checked for the key is not sent.
var withheldBody = []byte("upstream answer withheld by the proxy: its encoding could not be checked")

// Redactor returns a redactor for the key of the target that served the
// answer (nil, which redacts nothing, without one). Use it on every chunk
// of a committed stream. For a plain answer relayed as a stream its
// Content-Length is sent first, so the key is masked at the same length.
func (r *Result) Redactor() *Redactor {
	if r.Target == nil {
		return nil
	}
	return r.Target.redaction.newRedactor(!r.SSE)
}

// RedactAnswer removes the serving target's key from the answer before it
// is relayed: from every response header and, for a complete answer, from
// the body, escaped forms included. A compressed complete answer (gzip, br,
// deflate) is decoded and relayed decoded, without Content-Encoding: the
// key can only be looked for in the decoded text, and decoding once is
// cheaper than decoding and encoding again (the relay strips
// Accept-Encoding, so such answers are rare). One that cannot be decoded
// within decodedBodyLimit is withheld. A stream's body is redacted by
// Redactor, chunk by chunk.
func (r *Result) RedactAnswer() {
	if r.Resp == nil || r.Target == nil || r.Target.key == "" {
		return
	}
	ks := r.Target.redaction
	h := &r.Resp.Header
	var names, values [][]byte
	for k, v := range h.All() {
		if ks.contains(v) {
			names = append(names, bytes.Clone(k))
			values = append(values, ks.redactAll(bytes.Clone(v)))
		}
	}
	for i := range names {
		h.DelBytes(names[i])
		h.AddBytesKV(names[i], values[i])
	}
	if r.Body != nil {
		return
	}
	body := r.Resp.Body()
	if enc := h.ContentEncoding(); len(enc) > 0 && !bytes.EqualFold(enc, []byte("identity")) {
		var err error
		switch string(bytes.ToLower(enc)) {
		case "gzip", "x-gzip":
			body, err = r.Resp.BodyGunzipWithLimit(decodedBodyLimit)
		case "br":
			body, err = r.Resp.BodyUnbrotliWithLimit(decodedBodyLimit)
		case "deflate":
			body, err = r.Resp.BodyInflateWithLimit(decodedBodyLimit)
		default:
			body, err = nil, fasthttp.ErrContentEncodingUnsupported
		}
		h.Del(fasthttp.HeaderContentEncoding)
		if err != nil {
			h.SetContentType("text/plain; charset=utf-8")
			r.Resp.SetBodyRaw(withheldBody)
			return
		}
		r.Resp.SetBodyRaw(ks.redactAll(body))
		return
	}
	if ks.contains(body) {
		r.Resp.SetBodyRaw(ks.redactAll(body))
	}
}
