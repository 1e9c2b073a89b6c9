package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/internal/testkit"
	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// Keys used by the end-to-end tests. They are long and distinctive so that a
// search of the log output for them cannot match anything by chance.
const (
	clientKey  = "client-key-Q8zK3mW7pL2xV9"
	clientKey2 = "client-key-2-Rt5Yh1Nb6Jc4"
	upKeyA     = "sk-upstream-A-7f3e9c2b1d"
	upKeyB     = "sk-upstream-B-4a8d6e0f2c"
	upKeyC     = "sk-upstream-C-9b1c3d5e7f"
	upKeyD     = "sk-upstream-D-2e4f6a8b0c"
)

// upKeys are the upstream keys in the order setup gives them to targets.
var upKeys = []string{upKeyA, upKeyB, upKeyC, upKeyD}

// targetNames are the display names setup gives the targets, in key order.
var targetNames = []string{"ta", "tb", "tc", "td"}

// allKeys are every key a test proxy may hold; none may ever be logged.
var allKeys = []string{clientKey, clientKey2, upKeyA, upKeyB, upKeyC, upKeyD}

// Request bodies used throughout.
const (
	openAIBody       = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	openAIStreamBody = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	anthBody         = `{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`
	anthStreamBody   = `{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
)

// family describes one route family for table-driven tests.
type family struct {
	name       string
	path       string // the POST route
	body       string // a non-stream body
	streamBody string
	headerKey  string // how the client presents its key
	// errorEvent renders an in-stream error event in this family's upstream shape.
	errorEvent func(typ, msg string) string
	// stream renders a complete upstream stream.
	stream func(text []string, in, out int) []string
	// errorBody renders an upstream error body.
	errorBody func(typ, msg string) string
	terminal  string // the family's terminal marker, as it appears on the wire
	// okBody is a non-stream success body reporting 11 input and 7 output tokens.
	okBody string
}

var families = []family{
	{
		name: "openai", path: "/v1/chat/completions", body: openAIBody, streamBody: openAIStreamBody,
		headerKey:  "Authorization",
		errorEvent: sim.OpenAIErrorEvent, stream: sim.OpenAIStream,
		errorBody: sim.OpenAIError, terminal: "data: [DONE]",
		okBody: `{"id":"chatcmpl-final","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"done"},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`,
	},
	{
		name: "anthropic", path: "/v1/messages", body: anthBody, streamBody: anthStreamBody,
		headerKey:  "x-api-key",
		errorEvent: sim.AnthropicErrorEvent, stream: sim.AnthropicStream,
		errorBody: sim.AnthropicError, terminal: "event: message_stop",
		okBody: `{"id":"msg_final","type":"message","role":"assistant","content":[{"type":"text","text":"done"}],"model":"claude-sonnet-4-5","stop_reason":"end_turn","usage":{"input_tokens":11,"output_tokens":7}}`,
	},
}

// newUpstream starts a recording simulated upstream, closed at cleanup.
func newUpstream(t testing.TB, opts sim.Options) *sim.Server {
	t.Helper()
	opts.Record = true
	srv, err := sim.New(opts)
	require.NoError(t, err, "sim.New")
	t.Cleanup(srv.Close)
	return srv
}

// setup starts a recording simulated upstream and a proxy in front of it
// with n targets on that upstream: the first n of upKeys, named ta, tb, …
// in that order. Each tweak adjusts the config before the proxy starts.
func setup(t *testing.T, n int, tweaks ...func(*Config)) (*sim.Server, *proxy) {
	t.Helper()
	up := newUpstream(t, sim.Options{})
	cfg := testConfig([]string{up.URL()}, upKeys[:n])
	cfg.TargetNames = targetNames[:n]
	for _, tw := range tweaks {
		tw(&cfg)
	}
	return up, startProxy(t, cfg)
}

// setupPair starts two recording simulated upstreams and a proxy with one
// target on each: "A" (upKeyA) and "B" (upKeyB). Each tweak adjusts the
// config before the proxy starts.
func setupPair(t *testing.T, tweaks ...func(*Config)) (upA, upB *sim.Server, p *proxy) {
	t.Helper()
	upA = newUpstream(t, sim.Options{})
	upB = newUpstream(t, sim.Options{})
	cfg := testConfig([]string{upA.URL(), upB.URL()}, []string{upKeyA, upKeyB})
	cfg.TargetNames = []string{"A", "B"}
	for _, tw := range tweaks {
		tw(&cfg)
	}
	return upA, upB, startProxy(t, cfg)
}

// testConfig is a configuration for a test proxy in front of the given
// upstream URLs and keys, with memory storage and short timeouts.
func testConfig(urls, keys []string) Config {
	cfg := DefaultConfig()
	cfg.ProxyURLs = urls
	cfg.APIKeys = keys
	cfg.AccessKeys = []string{clientKey, clientKey2}
	cfg.DBPath = "memory"
	cfg.ListenHost = "127.0.0.1"
	cfg.LogLevel = "debug"
	cfg.ConnectTimeout = 2 * time.Second
	cfg.ResponseTimeout = 10 * time.Second
	cfg.StreamFirstByteTimeout = 10 * time.Second
	cfg.StreamIdleTimeout = 10 * time.Second
	cfg.KeepAliveInterval = 5 * time.Second
	cfg.ShutdownTimeout = 2 * time.Second
	cfg.AuthFailBurst = 1000 // tests send many wrong keys on purpose; edges_test.go tests the throttle
	return cfg
}

// proxy is a running llm-proxy under test.
type proxy struct {
	t      testing.TB
	app    *App
	base   string // http://127.0.0.1:port
	logs   *testkit.SyncBuffer
	client *http.Client
}

// startProxy validates cfg, builds the app with a logger writing to a buffer
// and serves it on a loopback port until the test ends. At cleanup it shuts
// the proxy down and checks that no key ever reached the log.
func startProxy(t testing.TB, cfg Config) *proxy {
	t.Helper()
	require.NoError(t, cfg.Validate(), "config")
	logs := &testkit.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(cfg, logger, "test")
	require.NoError(t, err, "New")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close()
	}
	require.NoError(t, err, "listen")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	p := &proxy{
		t:    t,
		app:  a,
		base: "http://" + ln.Addr().String(),
		logs: logs,
		client: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				DisableCompression:  true, // see exactly the bytes the proxy sent
				MaxIdleConnsPerHost: 16,
			},
		},
	}
	t.Cleanup(func() {
		p.client.CloseIdleConnections()
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "Serve")
		case <-time.After(cfg.ShutdownTimeout + 5*time.Second):
			assert.Fail(t, "Serve did not return after shutdown")
		}
		assertNoKeysIn(t, "proxy log", logs.String())
	})
	return p
}

// assertNoKeysIn fails the test when text contains any test key.
func assertNoKeysIn(t testing.TB, what, text string) {
	t.Helper()
	for _, k := range allKeys {
		assert.NotContains(t, text, k, "%s contains a key", what)
	}
}

// request is one client request to the proxy.
type request struct {
	method string
	path   string // with query
	body   string
	// header are extra request headers; "Authorization" is set from key
	// unless keyHeader says "x-api-key" (or "none": no key at all).
	header    map[string]string
	key       string
	keyHeader string
}

// do sends r and returns the response; the caller closes the body.
func (p *proxy) do(ctx context.Context, r request) *http.Response {
	p.t.Helper()
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+r.path, body)
	require.NoError(p.t, err, "NewRequest")
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	key := r.key
	if key == "" {
		key = clientKey
	}
	switch strings.ToLower(r.keyHeader) {
	case "none":
	case "x-api-key":
		req.Header.Set("x-api-key", key)
	default:
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := p.client.Do(req)
	require.NoError(p.t, err, "%s %s", method, r.path)
	return resp
}

// answer is a complete response as the client saw it.
type answer struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
}

// call sends r and reads the whole answer.
func (p *proxy) call(r request) answer {
	p.t.Helper()
	start := time.Now()
	resp := p.do(context.Background(), r)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(p.t, err, "reading the answer to %s", r.path)
	return answer{status: resp.StatusCode, header: resp.Header, body: b, took: time.Since(start)}
}

// req returns a request for family f's route with the given body, the key
// presented in the family's usual header.
func (f family) req(body string) request {
	return request{path: f.path, body: body, keyHeader: f.headerKey}
}

// bodyFor returns the family's stream body if stream, else its plain body.
func (f family) bodyFor(stream bool) string {
	if stream {
		return f.streamBody
	}
	return f.body
}

// timedEvent is one SSE event (its raw bytes, blank line included) and
// when the client had it complete, measured from the request start.
type timedEvent struct {
	raw string
	at  time.Duration
}

// readEvents splits an SSE body into events as they arrive. It returns the
// events, every byte read, and the read error that ended the body (nil at
// a clean EOF).
func readEvents(body io.Reader, start time.Time) (events []timedEvent, all []byte, err error) {
	br := bufio.NewReader(body)
	var cur strings.Builder
	for {
		line, rerr := br.ReadString('\n')
		all = append(all, line...)
		cur.WriteString(line)
		if line == "\n" || line == "\r\n" {
			events = append(events, timedEvent{raw: cur.String(), at: time.Since(start)})
			cur.Reset()
		}
		if rerr != nil {
			if cur.Len() > 0 {
				events = append(events, timedEvent{raw: cur.String(), at: time.Since(start)})
			}
			if errors.Is(rerr, io.EOF) {
				rerr = nil
			}
			return events, all, rerr
		}
	}
}

// stream sends r and reads the answer as SSE events with arrival times.
func (p *proxy) stream(r request) (answer, []timedEvent, error) {
	p.t.Helper()
	start := time.Now()
	resp := p.do(context.Background(), r)
	defer resp.Body.Close()
	evs, all, err := readEvents(resp.Body, start)
	return answer{status: resp.StatusCode, header: resp.Header, body: all, took: time.Since(start)}, evs, err
}

// streamOK is stream for a stream that must end without a read error.
func (p *proxy) streamOK(r request) (answer, []timedEvent) {
	p.t.Helper()
	a, evs, err := p.stream(r)
	require.NoError(p.t, err, "reading the stream")
	return a, evs
}

// events waits (bounded) until the recorder holds at least n recent events
// and returns them oldest first.
func (p *proxy) events(n int) []stats.Event {
	p.t.Helper()
	var recent []stats.Event
	require.Eventually(p.t, func() bool {
		recent = p.app.Recorder().Snapshot().Recent
		return len(recent) >= n
	}, 5*time.Second, 5*time.Millisecond, "the recorder should hold %d events", n)
	out := make([]stats.Event, len(recent))
	for i, e := range recent {
		out[len(recent)-1-i] = e
	}
	return out
}

// event waits for the n-th record (1-based, oldest first) and returns it.
func (p *proxy) event(n int) stats.Event {
	p.t.Helper()
	return p.events(n)[n-1]
}

// trail renders an event's attempts as "target:status:reason" items.
func trail(ev stats.Event) []string {
	out := make([]string, len(ev.Attempts))
	for i, a := range ev.Attempts {
		out[i] = a.Target + ":" + strconv.Itoa(a.Status) + ":" + a.Reason
	}
	return out
}

// reasons returns only the reasons of an event's attempts.
func reasons(ev stats.Event) []string {
	out := make([]string, len(ev.Attempts))
	for i, a := range ev.Attempts {
		out[i] = a.Reason
	}
	return out
}

// wantErrorShape checks that body is a proxy error in family f's shape with
// message msg (msg "" accepts any non-empty message).
func wantErrorShape(t *testing.T, f family, body []byte, msg string) {
	t.Helper()
	got := errorMessage(t, f.name, body)
	if msg != "" {
		assert.Equal(t, msg, got, "%s error message (body %s)", f.name, body)
	}
}

// errorMessage parses a family-shaped error body and returns its message;
// it fails the test when the shape is wrong.
func errorMessage(t *testing.T, fam string, body []byte) string {
	t.Helper()
	msg, ok := parseError(fam, body)
	if !ok {
		if fam == "anthropic" {
			assert.Failf(t, "not an Anthropic error body (type error, error.type, error.message)", "%s", body)
		} else {
			assert.Failf(t, `not an OpenAI error body ({"error":{"message","type"}})`, "%s", body)
		}
	}
	return msg
}

// parseError returns the message of an error body in family fam's shape
// (Anthropic: {"type":"error","error":{"type","message"}}; OpenAI:
// {"error":{"message","type"}} without a top-level type), and whether the
// body has that shape.
func parseError(fam string, body []byte) (string, bool) {
	if fam == "anthropic" {
		var e struct {
			Type  string `json:"type"`
			Error *struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Type != "error" || e.Error == nil || e.Error.Type == "" || e.Error.Message == "" {
			return "", false
		}
		return e.Error.Message, true
	}
	var e struct {
		Error *struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
		Type *string `json:"type"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil || e.Error.Message == "" || e.Error.Type == "" || e.Type != nil {
		return "", false
	}
	return e.Error.Message, true
}

// wantStatus fails the test when the answer's status is not want.
func wantStatus(t *testing.T, a answer, want int) {
	t.Helper()
	require.Equal(t, want, a.status, "status; body: %.500s", a.body)
}

// wantCount checks how many requests an upstream received.
func wantCount(t *testing.T, what string, srv *sim.Server, want int) {
	t.Helper()
	assert.Equal(t, want, srv.Count(), "requests %s received", what)
}

// waitGone waits up to d for the upstream to report a client that left.
func waitGone(t *testing.T, srv *sim.Server, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-srv.Gone():
		return time.Since(start)
	case <-time.After(d):
		require.FailNow(t, "the upstream did not see the proxy leave", "within %v", d)
		return 0
	}
}

// closedPortURL returns a /v1 base URL on a loopback port nothing listens on.
func closedPortURL(t *testing.T) string {
	t.Helper()
	return "http://" + testkit.ClosedAddr(t) + "/v1"
}

// dataEvents drops the proxy's keep-alives from evs.
func dataEvents(evs []timedEvent) []timedEvent {
	var out []timedEvent
	for _, e := range evs {
		if isKeepAlive(e.raw) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// proxyPing is the keep-alive the proxy sends on Anthropic routes. (The
// sim streams carry their own ping, written without the space, which
// is data to relay, not a proxy keep-alive.)
const proxyPing = "event: ping\ndata: {\"type\": \"ping\"}\n\n"

// isKeepAlive reports whether an event is a proxy keep-alive: an SSE comment,
// or the proxy's ping.
func isKeepAlive(raw string) bool {
	return strings.HasPrefix(raw, ":") || raw == proxyPing
}

// concat joins stream events into the wire text.
func concat(evs []string) string { return strings.Join(evs, "") }

// words returns n short content pieces.
func words(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "w" + strconv.Itoa(i) + " "
	}
	return out
}

// allRateLimitedMsg is the message of the proxy's 429 when every attempt
// was rate limited.
const allRateLimitedMsg = "错误重试全都rate limit,请再次重试."

// eachFamily runs test as a parallel subtest for each route family, named
// after the family.
func eachFamily(t *testing.T, test func(t *testing.T, f family)) {
	t.Helper()
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			test(t, f)
		})
	}
}
