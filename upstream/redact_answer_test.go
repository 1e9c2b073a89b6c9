package upstream

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

func answerWith(t *testing.T, key string, fill func(*fasthttp.Response)) *Result {
	t.Helper()
	u, err := url.Parse("http://127.0.0.1:1/v1")
	require.NoError(t, err)
	p := NewTargets([]Spec{{Name: "a", URL: u, Key: key}}, ClientOptions{ConnectTimeout: time.Second, MaxConns: 1})
	t.Cleanup(p.Close)
	resp := fasthttp.AcquireResponse()
	fill(resp)
	return &Result{Outcome: Answered, Target: p.All()[0], Resp: resp}
}

func TestResult_RedactAnswer(t *testing.T) {
	errJSON := []byte(`{"error":{"message":"bad key ` + testKey + `"}}`)
	t.Run("header and body", func(t *testing.T) {
		r := answerWith(t, testKey, func(resp *fasthttp.Response) {
			resp.Header.Set("X-Echo", "Bearer "+testKey)
			resp.SetBody(errJSON)
		})
		r.RedactAnswer()
		assert.Equal(t, "Bearer [redacted]", string(r.Resp.Header.Peek("X-Echo")))
		assert.Equal(t, `{"error":{"message":"bad key [redacted]"}}`, string(r.Resp.Body()))
	})
	t.Run("header exactly the key, and one byte short of it", func(t *testing.T) {
		// Contains skips values shorter than the key: the boundary is
		// the key's own length.
		r := answerWith(t, testKey, func(resp *fasthttp.Response) {
			resp.Header.Set("X-Key", testKey)
			resp.Header.Set("X-Short", testKey[:len(testKey)-1])
			resp.SetBody([]byte(testKey))
		})
		r.RedactAnswer()
		assert.Equal(t, RedactedKey, string(r.Resp.Header.Peek("X-Key")))
		assert.Equal(t, testKey[:len(testKey)-1], string(r.Resp.Header.Peek("X-Short")))
		assert.Equal(t, RedactedKey, string(r.Resp.Body()))
	})
	t.Run("gzip decoded", func(t *testing.T) {
		r := answerWith(t, testKey, func(resp *fasthttp.Response) {
			resp.Header.Set("Content-Encoding", "gzip")
			resp.SetBody(fasthttp.AppendGzipBytes(nil, errJSON))
		})
		r.RedactAnswer()
		assert.Empty(t, r.Resp.Header.Peek("Content-Encoding"), "relayed decoded")
		assert.Equal(t, `{"error":{"message":"bad key [redacted]"}}`, string(r.Resp.Body()))
	})
	t.Run("undecodable withheld", func(t *testing.T) {
		r := answerWith(t, testKey, func(resp *fasthttp.Response) {
			resp.Header.Set("Content-Encoding", "br")
			resp.SetBody([]byte("not brotli " + testKey))
		})
		r.RedactAnswer()
		assert.NotContains(t, string(r.Resp.Body()), testKey)
		assert.Equal(t, string(withheldBody), string(r.Resp.Body()))
	})
}
