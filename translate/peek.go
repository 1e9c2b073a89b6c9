package translate

import "github.com/tidwall/gjson"

// Peek validates body as one JSON object and reads its top-level "model"
// (when a string) and "stream" (true or not) members without decoding the
// rest; a repeated member counts as its last occurrence, as in
// encoding/json. It accepts exactly what gjson.ValidBytes accepts
// (validTape) and steps over nested values by the tape built in the same
// pass, where gjson's ForEach scanned every nested value again: a 56 KB
// coding-agent request takes a quarter of the time (BenchmarkPeekLarge),
// and it allocates nothing. model may alias body.
func Peek(body []byte) (model string, stream, ok bool) {
	s := view(body)
	tb := tapePool.Get().(*tapeBuf) // given back whole: no allocation
	defer tapePool.Put(tb)
	t, ok := validTapeTo(s, tb.tape[:0])
	if t != nil && cap(t) <= maxPooledTape {
		tb.tape = t[:0] // keep what the tape grew to
	}
	if !ok || t == nil {
		return "", false, false // invalid, or a scalar
	}
	r := root(s, t)
	if !r.IsObject() {
		return "", false, false
	}
	each(r, func(k, v gjson.Result) bool {
		switch str(k) {
		case "model":
			model = ""
			if v.Type == gjson.String {
				model = str(v)
			}
		case "stream":
			stream = v.Type == gjson.True
		}
		return true
	})
	return model, stream, true
}

// maxPooledTape bounds the tape capacity Peek keeps in the pool (a request
// with a million nested values must not pin 8 MB there).
const maxPooledTape = 1 << 16
