package app

// Headers and keys: what reaches the upstream and the client, access keys,
// and no key ever in a log or a relayed error. A real proxy in front of the
// simulated upstream (see helpers_test.go).

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// The client's key never reaches the upstream: the upstream key goes in the
// header style the client used. Other headers pass, hop-by-hop ones do not,
// and the query string is kept.
func TestE2E_HeadersAndKeys(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{Keys: []string{upKeyA}})
	p := startProxy(t, testConfig([]string{up.URL()}, []string{upKeyA}))
	passed := map[string]string{
		"anthropic-version":           "2023-06-01",
		"anthropic-beta":              "prompt-caching-2024-07-31,tools-2024-05-16",
		"openai-beta":                 "assistants=v2",
		"x-stainless-lang":            "js",
		"x-stainless-package-version": "4.56.0",
		"x-stainless-os":              "Linux",
		"x-stainless-retry-count":     "0",
		"OpenAI-Organization":         "org-123",
		"User-Agent":                  "OpenAI/JS 4.56.0",
		"X-Custom-Trace":              "abc",
	}
	hop := map[string]string{
		"Connection":          "keep-alive, X-Hop-Secret",
		"X-Hop-Secret":        "hop",
		"Keep-Alive":          "timeout=5",
		"Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
		"Te":                  "trailers",
		"Cookie":              "llmproxy_session=abc",
	}
	cases := []struct {
		name, path, keyHeader, key, wantHeader string
		extra                                  map[string]string // more key headers the client sends
	}{
		{"bearer-openai", "/v1/chat/completions?foo=bar&x=a%20b", "Authorization", clientKey, "Authorization", nil},
		{"x-api-key-anthropic", "/v1/messages?beta=true", "x-api-key", clientKey2, "X-Api-Key", nil},
		{"bearer-anthropic", "/v1/messages", "Authorization", clientKey2, "Authorization", nil},
		{"x-api-key-openai", "/v1/chat/completions", "x-api-key", clientKey, "X-Api-Key", nil},
		{"both-headers", "/v1/messages", "Authorization", clientKey, "Authorization", map[string]string{"x-api-key": clientKey2}},
		{"stale-bearer-and-x-api-key", "/v1/messages", "x-api-key", clientKey2, "X-Api-Key", map[string]string{"Authorization": "Bearer " + clientKey + "-stale"}},
	}
	for i, tc := range cases {
		up.Push(sim.Step{Body: `{}`, Header: map[string]string{
			"X-Upstream-Id": "u1", "Keep-Alive": "timeout=99", "Proxy-Authenticate": "Basic"}})
		h := map[string]string{}
		for _, m := range []map[string]string{tc.extra, passed, hop} {
			for k, v := range m {
				h[k] = v
			}
		}
		body := openAIBody
		if strings.HasPrefix(tc.path, "/v1/messages") {
			body = anthBody
		}
		a := p.call(request{path: tc.path, body: body, key: tc.key, keyHeader: tc.keyHeader, header: h})
		wantStatus(t, a, 200)
		assert.Equal(t, "u1", a.header.Get("X-Upstream-Id"), "%s: upstream response header relayed", tc.name)
		for _, k := range []string{"Keep-Alive", "Proxy-Authenticate"} {
			assert.Empty(t, a.header.Get(k), "%s: hop-by-hop response header %s relayed", tc.name, k)
		}
		reqs := up.Requests()
		require.Len(t, reqs, i+1, "%s: upstream requests", tc.name)
		r := reqs[i]
		assert.Equal(t, tc.path, r.Path, "%s: upstream path (query kept)", tc.name)
		assert.Equal(t, upKeyA, r.Key, "%s: upstream saw the upstream key", tc.name)
		switch tc.wantHeader {
		case "Authorization":
			assert.Equal(t, "Bearer "+upKeyA, r.Header.Get("Authorization"), tc.name)
			assert.NotContains(t, r.Header, "X-Api-Key", "%s: x-api-key sent too", tc.name)
		default:
			assert.Equal(t, upKeyA, r.Header.Get("X-Api-Key"), tc.name)
			assert.NotContains(t, r.Header, "Authorization", "%s: Authorization sent too", tc.name)
		}
		assert.Equal(t, 1, len(r.Header.Values("Authorization"))+len(r.Header.Values("X-Api-Key")), "%s: want exactly one key header", tc.name)
		for k, vs := range r.Header {
			for _, v := range vs {
				assert.False(t, strings.Contains(v, clientKey) || strings.Contains(v, clientKey2), "%s: client key reached the upstream in %s", tc.name, k)
			}
		}
		assert.Equal(t, body, string(r.Body), "%s: body changed", tc.name)
		for k, v := range passed {
			assert.Equal(t, v, r.Header.Get(k), "%s: %s", tc.name, k)
		}
		for k := range hop {
			if k == "Connection" {
				got := r.Header.Get(k)
				assert.False(t, strings.Contains(strings.ToLower(got), "x-hop-secret") || strings.Contains(got, "keep-alive,"),
					"%s: client's Connection header forwarded: %q", tc.name, got)
				continue
			}
			assert.NotContains(t, r.Header, http.CanonicalHeaderKey(k), "%s: hop-by-hop/private header %s forwarded", tc.name, k)
		}
	}
}

// No key, client's or upstream's, ever appears in the proxy's log, at debug
// level, whatever happens: accepted and refused requests, upstream errors
// that echo the key, retries. (startProxy checks the log of every test; this
// one makes a point of exercising the paths that log.)
func TestE2E_NoKeysInLogs(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{})
	p := startProxy(t, testConfig([]string{up.URL(), closedPortURL(t)}, []string{upKeyA, upKeyB}))
	f := families[0]
	up.Push(
		sim.Step{Status: 401, Body: f.errorBody("invalid_request_error", "Incorrect API key provided: "+upKeyA)},
		sim.Step{Status: 429, Body: f.errorBody("rate_limit_error", "rate limit for key "+upKeyA)},
		sim.Step{Status: 500, Body: "key " + upKeyA},
	)
	p.call(f.req(f.body))
	p.call(f.req(f.body))
	p.call(f.req(f.body))
	p.call(request{path: "/v1/chat/completions", body: openAIBody, key: "wrong-" + clientKey})
	p.call(request{path: "/v1/messages", body: anthBody, key: clientKey + "x", keyHeader: "x-api-key"})
	p.call(request{path: "/v1/chat/completions", body: "not json " + clientKey})
	p.events(4)
	logs := p.logs.String()
	assert.Contains(t, logs, "level=WARN", "expected warnings about failed requests in the log")
	assertNoKeysIn(t, "proxy log", logs)
}

// An upstream error text that echoes the upstream key is redacted before it
// is relayed.
func TestE2E_UpstreamKeyRedactedFromErrors(t *testing.T) {
	t.Parallel()
	eachFamily(t, func(t *testing.T, f family) {
		up, p := setup(t, 1, func(c *Config) { c.MaxRetries = 1 })
		up.Push(sim.Step{Status: 401, Body: f.errorBody("authentication_error", "Incorrect API key provided: "+upKeyA+". You can find your API key at …")})
		a := p.call(f.req(f.body))
		wantStatus(t, a, 401)
		assertNoKeysIn(t, "relayed error body", string(a.body))
		errorMessage(t, f.name, a.body) // still a well-formed error

		// The last of several server errors, relayed, and a stream's error event.
		up.Push(sim.Step{Status: 500, Body: "a"}, sim.Step{Status: 500, Body: "bad key " + upKeyA})
		a = p.call(f.req(f.body))
		wantStatus(t, a, 500)
		assertNoKeysIn(t, "relayed 5xx body", string(a.body))

		up.Push(sim.Step{Status: 403, Body: f.errorBody("permission_error", "key "+upKeyA+" may not use this model")})
		a, _, _ = p.stream(f.req(f.streamBody))
		wantStatus(t, a, 403)
		assertNoKeysIn(t, "relayed error to a stream request", string(a.body))

		// A stream whose first event is an error echoing the key, relayed
		// when the retries run out.
		echo := sim.Step{Events: []string{f.errorEvent("overloaded_error", "Overloaded (key "+upKeyA+")")}}
		up.Push(echo, echo)
		a, _, _ = p.stream(f.req(f.streamBody))
		wantStatus(t, a, 200)
		assert.Contains(t, string(a.body), "Overloaded (key ", "want the last first-event error relayed")
		assertNoKeysIn(t, "relayed first-event error", string(a.body))
	})
}

// A missing or wrong key gets 401 Permission Denied in the family's shape,
// through either header, and nothing is sent upstream. Several keys from a
// comma-separated MY_ACCESS_KEY all work.
func TestE2E_PermissionDenied(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, sim.Options{})
	env := map[string]string{
		"PROXY_URL":     up.URL(),
		"API_KEY":       upKeyA,
		"MY_ACCESS_KEY": clientKey + ", " + clientKey2 + ",third-client-key-zz",
		"DB_PATH":       "memory",
	}
	cfg, err := Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err, "Load")
	cfg.ShutdownTimeout = 2 * time.Second
	cfg.AuthFailBurst = 1000 // many wrong keys on purpose; the throttle is TestEdges_KeyGuessingThrottled
	p := startProxy(t, cfg)

	denied := []struct {
		name   string
		header map[string]string
	}{
		{"no key", nil},
		{"wrong bearer", map[string]string{"Authorization": "Bearer wrong-key"}},
		{"wrong x-api-key", map[string]string{"x-api-key": "wrong-key"}},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}},
		{"basic auth", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(clientKey+":"))}},
		{"key prefix", map[string]string{"Authorization": "Bearer " + clientKey[:len(clientKey)-1]}},
		{"two keys in one", map[string]string{"Authorization": "Bearer " + clientKey + "," + clientKey2}},
		{"upstream key", map[string]string{"x-api-key": upKeyA}},
	}
	for _, f := range families {
		for _, d := range denied {
			for _, method := range []string{http.MethodPost, http.MethodGet} {
				path := f.path
				body := f.body
				if method == http.MethodGet {
					path, body = "/v1/models", ""
					if f.name == "anthropic" {
						path = "/v1/messages/batches"
					}
				}
				a := p.call(request{method: method, path: path, body: body, keyHeader: "none", header: d.header})
				if assert.Equal(t, 401, a.status, "%s %s %s", f.name, d.name, method) {
					wantErrorShape(t, f, a.body, "Permission Denied")
				}
			}
		}
	}
	wantCount(t, "upstream", up, 0)

	for i, key := range []string{clientKey, clientKey2, "third-client-key-zz"} {
		for _, f := range families {
			for _, kh := range []string{"Authorization", "x-api-key"} {
				a := p.call(request{path: f.path, body: f.body, key: key, keyHeader: kh})
				assert.Equal(t, 200, a.status, "client key #%d via %s on %s: %s", i+1, kh, f.name, a.body)
			}
		}
	}
}
