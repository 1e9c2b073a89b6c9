package upstream

import (
	"bytes"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/llm-proxy/llm-proxy/translate"
)

// KeyStyle is the header the client presented its key in; the upstream key
// is sent in the same style.
type KeyStyle uint8

// The two key styles.
const (
	KeyBearer  KeyStyle = iota // Authorization: Bearer <key>
	KeyXAPIKey                 // x-api-key: <key>
)

// AnthropicVersion is the anthropic-version header a translated request
// to an Anthropic target carries when the client sent none.
const AnthropicVersion = "2023-06-01"

// build fills out with the upstream request for target t: every end-to-end
// header of the client in one pass, the upstream key in the client's style.
func (rl *Relay) build(out *fasthttp.Request, t *Target, in *Request) {
	out.Header.SetMethodBytes(in.Method)
	// Headers named in Connection are hop-by-hop too (rare: only then is the list built).
	var named [][]byte
	if conn := in.Header.Peek("Connection"); len(conn) > 0 && !bytes.EqualFold(conn, []byte("keep-alive")) && !bytes.EqualFold(conn, []byte("close")) {
		for _, name := range bytes.Split(conn, []byte(",")) {
			named = append(named, bytes.TrimSpace(name))
		}
	}
	for k, v := range in.Header.All() {
		if strippedRequestHeaders[string(k)] || isNamed(named, k) {
			continue
		}
		out.Header.AddBytesKV(k, v)
	}
	for _, h := range t.headers {
		out.Header.Set(h[0], h[1])
	}
	style := in.KeyStyle
	switch in.translate {
	case translate.AnthropicToOpenAI:
		style = KeyBearer
	case translate.OpenAIToAnthropic:
		style = KeyXAPIKey
		if len(out.Header.Peek("anthropic-version")) == 0 {
			out.Header.Set("anthropic-version", AnthropicVersion)
		}
	}
	if t.forceStyle {
		style = t.style
	}
	switch style {
	case KeyXAPIKey:
		out.Header.Set("x-api-key", t.key)
	default:
		out.Header.Set("Authorization", "Bearer "+t.key)
	}
	u := out.URI()
	u.SetScheme(t.scheme)
	u.SetHost(t.host)
	// in.Path is decoded, and SetPathBytes decodes (and normalises) what it
	// is given: escape the path first, or "%252e%252e" sent by the client,
	// decoded once by the server to "%2e%2e", would become ".." here and step
	// out of the base path.
	var pathBuf [256]byte
	p := appendEscapedPath(pathBuf[:0], t.basePath)
	p = appendEscapedPath(p, string(in.Path))
	u.SetPathBytes(p)
	u.SetQueryStringBytes(in.Query)
	out.Header.SetHost(t.host)
	out.SetBodyRaw(in.Body)
}

// appendEscapedPath appends path with every byte that is not allowed
// verbatim in a URL path percent-encoded ('%' included), so that decoding the
// result gives path back.
func appendEscapedPath(dst []byte, path string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(path); i++ {
		c := path[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("/-._~!$&'()*+,;=:@", c) >= 0 {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hex[c>>4], hex[c&15])
	}
	return dst
}

// strippedRequestHeaders are never forwarded: hop-by-hop headers, the
// client's key (replaced by the upstream key), the session cookie of the
// dashboard, Accept-Encoding (fasthttp does not decompress, and the relay
// must read error bodies and usage reports), and the ones fasthttp sets for
// the outgoing request (Host, Content-Length). Names as fasthttp normalises them.
var strippedRequestHeaders = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Authorization": true, "X-Api-Key": true, "Cookie": true, "Accept-Encoding": true,
	"Content-Length": true, "Host": true,
}

func isNamed(names [][]byte, k []byte) bool {
	for _, n := range names {
		if bytes.EqualFold(n, k) {
			return true
		}
	}
	return false
}
