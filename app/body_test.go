package app

// Bodies: large bodies intact, non-JSON and oversized bodies refused before
// the upstream. A real proxy in front of the simulated upstream (see
// helpers_test.go).

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// A 20 MiB body (a base64 image) passes intact. (A generous response
// timeout: the upload under -race on a busy machine can take over 10s, and
// this test is about integrity, not speed.)
func TestE2E_LargeBodyIntact(t *testing.T) {
	t.Parallel()
	up, p := setup(t, 1, func(c *Config) { c.ResponseTimeout = time.Minute })
	raw := make([]byte, 15<<20)
	for i := range raw {
		raw[i] = byte(i*7 + i>>11)
	}
	img := base64.StdEncoding.EncodeToString(raw) // 20 MiB
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,` + img + `"}}]}]}`
	require.GreaterOrEqual(t, len(body), 20<<20, "body size")
	up.Push(sim.Step{Body: families[0].okBody})
	a := p.call(request{path: "/v1/chat/completions", body: body})
	wantStatus(t, a, 200)
	reqs := up.Requests()
	require.Len(t, reqs, 1, "upstream requests")
	assert.Equal(t, len(body), len(reqs[0].Body), "upstream body size")
	assert.Equal(t, sha256.Sum256([]byte(body)), sha256.Sum256(reqs[0].Body), "upstream body sha256")
	ev := p.event(1)
	assert.Equal(t, "gpt-4o", ev.Model)
	assert.Equal(t, stats.OutcomeOK, ev.Outcome)
}

// A body that is not JSON gets 400 in the family's shape and is not sent upstream.
func TestE2E_NonJSONBodyRejected(t *testing.T) {
	t.Parallel()
	up, p := setup(t, 1)
	for _, f := range families {
		for _, body := range []string{"model=gpt-4o&stream=true", `{"model":"gpt-4o",`, `["not","an","object"]`, "\x00\x01binary"} {
			a := p.call(request{path: f.path, body: body, keyHeader: f.headerKey})
			if assert.Equal(t, 400, a.status, "%s %q", f.name, body) {
				wantErrorShape(t, f, a.body, "")
			}
		}
	}
	wantCount(t, "upstream", up, 0)
	ev := p.event(1)
	assert.Equal(t, stats.OutcomeBadRequest, ev.Outcome)
	assert.Equal(t, 400, ev.Status)
	assert.Empty(t, ev.Attempts)
}

// A body over BODY_LIMIT gets 413 in the family's shape and is not sent
// upstream, also when the client is still sending a large body as the
// proxy answers: the answer must reach it, not a connection reset.
func TestE2E_BodyOverLimit(t *testing.T) {
	t.Parallel()
	up, p := setup(t, 1, func(c *Config) { c.BodyLimit = 64 << 10 })
	for _, f := range families {
		for _, size := range []int{65 << 10, 100 << 10, 1 << 20, 8 << 20, 8 << 20, 8 << 20, 8 << 20} {
			big := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", size) + `"}]}`
			start := time.Now()
			req, err := http.NewRequest(http.MethodPost, p.base+f.path, strings.NewReader(big))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+clientKey)
			resp, err := p.client.Do(req)
			if !assert.NoError(t, err, "%s, %d bytes over a 64KiB limit: the client got no answer", f.name, len(big)) {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s %d bytes; body %.200s", f.name, len(big), b) {
				continue
			}
			wantErrorShape(t, f, b, "")
			assert.LessOrEqual(t, time.Since(start), 3*time.Second, "%s %d bytes: 413 after", f.name, len(big))
		}
		// Just under the limit passes.
		ok := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 60<<10) + `"}]}`
		assert.Equal(t, 200, p.call(request{path: f.path, body: ok, keyHeader: f.headerKey}).status, "%s: a body under the limit", f.name)
	}
	wantCount(t, "upstream", up, 2)
}
