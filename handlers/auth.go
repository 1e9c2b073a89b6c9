package handlers

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"

	"github.com/valyala/fasthttp"

	"github.com/llm-proxy/llm-proxy/upstream"
)

// Keys is a set of accepted client keys. Presented keys are compared by
// SHA-256 digest in constant time, so neither a key's content nor its length
// leaks through timing.
type Keys struct {
	digests [][sha256.Size]byte
}

// NewKeys returns the set of keys.
func NewKeys(keys []string) *Keys {
	k := &Keys{}
	for _, key := range keys {
		k.digests = append(k.digests, sha256.Sum256([]byte(key)))
	}
	return k
}

// Match reports whether key is one of the set. Every stored key is compared.
func (k *Keys) Match(key []byte) bool {
	if len(key) == 0 {
		return false
	}
	d := sha256.Sum256(key)
	found := 0
	for i := range k.digests {
		found |= subtle.ConstantTimeCompare(d[:], k.digests[i][:])
	}
	return found == 1
}

// ClientKey returns the key a client presented and its style:
// `Authorization: Bearer <key>` (scheme case-insensitive) or `x-api-key: <key>`.
// When both are present, a matching one wins in Check; here Bearer is returned first.
func ClientKey(h *fasthttp.RequestHeader) (key []byte, style upstream.KeyStyle) {
	if auth := h.Peek(fasthttp.HeaderAuthorization); len(auth) > 7 && bytes.EqualFold(auth[:7], []byte("bearer ")) {
		return bytes.TrimSpace(auth[7:]), upstream.KeyBearer
	}
	return bytes.TrimSpace(h.Peek("X-Api-Key")), upstream.KeyXAPIKey
}

// Check authenticates a request by either header and returns the style to
// use upstream.
func (k *Keys) Check(h *fasthttp.RequestHeader) (upstream.KeyStyle, bool) {
	key, style := ClientKey(h)
	if k.Match(key) {
		return style, true
	}
	if style == upstream.KeyBearer {
		// Some clients send a stale Authorization alongside x-api-key.
		if alt := bytes.TrimSpace(h.Peek("X-Api-Key")); k.Match(alt) {
			return upstream.KeyXAPIKey, true
		}
	}
	return style, false
}
