package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults applied by [New] to zero fields of [Options].
const (
	// DefaultAddr is the listen address used when Options.Addr is empty:
	// a free port on the loopback interface.
	DefaultAddr = "127.0.0.1:0"
	// DefaultStreamChunks is the number of content chunks in a default
	// answer when Options.StreamChunks is not positive.
	DefaultStreamChunks = 20
	// DefaultChunkInterval is the gap between default stream events when
	// Options.ChunkInterval is zero.
	DefaultChunkInterval = 20 * time.Millisecond
)

// goneBuffer is the capacity of the Gone channel.
const goneBuffer = 1024

// Options configures a [Server]. The zero value is a working server on a
// free 127.0.0.1 port that records nothing and never rate-limits.
type Options struct {
	// Addr is the listen address. Default (empty) "127.0.0.1:0", a free port.
	Addr string

	// RateLimitShare is the share (0..1) of default-simulated requests that
	// get a rate limit: 429 in the family's error shape, without Retry-After.
	// The choice is random per request. 0 (default) never, 1 always.
	// Scripted steps are never affected.
	RateLimitShare float64

	// StreamChunks is the number of content chunks (words) in a default
	// answer, streamed or not; it is also the completion token count.
	// Zero or negative means the default, 20.
	StreamChunks int

	// ChunkInterval is the gap between events of a default stream (the first
	// event goes out at once). Zero means the default, 20ms; a negative
	// value means no gap at all (benchmarks).
	ChunkInterval time.Duration

	// Latency delays a default non-stream answer. Zero (default) or
	// negative: none.
	Latency time.Duration

	// Keys, when non-empty, are the upstream keys the server accepts: a
	// request must present one of them as "Authorization: Bearer <key>" or
	// "x-api-key: <key>", or it gets 401 in the family's error shape (before
	// any step is consumed). Empty (default): any key or none is accepted.
	Keys []string

	// Chaos, when set, injects faults at random into default-simulated
	// answers; see [Chaos]. Nil (default): none.
	Chaos *Chaos

	// Hook, when set, is asked first about every request that passed the
	// key check (before scripted steps and key states): a non-nil Step it
	// returns is the answer. Use it for per-key or per-model behaviour. It
	// must be safe for concurrent use.
	Hook func(Received) *Step

	// Record keeps every received request (method, path with query,
	// headers, body) for [Server.Requests]. False (default) keeps nothing,
	// so a long benchmark or demo does not grow; [Server.Count] and
	// [Server.Gone] work either way. Tests that inspect requests set it.
	Record bool
}

// Received is one request as the server saw it.
type Received struct {
	// Method is the HTTP method.
	Method string
	// Path is the request target as sent: path plus query, e.g.
	// "/v1/models?limit=2".
	Path string
	// Header is a copy of the request headers.
	Header http.Header
	// Body is the full request body.
	Body []byte
	// Key is the key the request presented, as x-api-key or as a Bearer
	// token; empty when none. When both headers are present, x-api-key wins
	// unless only the Bearer token is one of [Options.Keys].
	Key string
	// Conn is the number (1-based, in accept order) of the TCP connection
	// the request came on; equal numbers mean keep-alive reuse.
	Conn int
	// ID is the request's [IDHeader] value; empty when none.
	ID string
	// Model is the body's "model" field; empty when none.
	Model string
	// AfterUnsolicited is, for the first request on a connection where
	// the server had written unsolicited bytes ([FaultIdleBytes],
	// [FaultDoubleAnswer]), how long
	// after those bytes the request's first bytes arrived; zero otherwise. A client that
	// reuses such a connection reads those bytes as its answer.
	AfterUnsolicited time.Duration
}

// clone returns a deep copy of r.
func (r Received) clone() Received {
	r.Header = r.Header.Clone()
	if r.Body != nil {
		r.Body = append([]byte(nil), r.Body...)
	}
	return r
}

// Server is a running simulated upstream. Its methods are safe for
// concurrent use.
type Server struct {
	opts Options
	ln   net.Listener
	srv  *http.Server
	url  string

	done      chan struct{} // closed by Close, before any connection is closed
	serveDone chan struct{} // closed when Serve returns
	closeOnce sync.Once

	mu       sync.Mutex
	closed   bool
	steps    []Step
	reqs     []Received
	hijacked map[net.Conn]struct{}
	handlers sync.WaitGroup // running handlers; Add only under mu while !closed
	serving  sync.WaitGroup // connections served again (see serveAgain); Add only under mu while !closed
	ids      map[string]int // requests per IDHeader value
	// behind maps the id of a request that arrived on a connection behind
	// an answer that never finished to that answer's request id: the
	// server never read it (see [Server.Behind]).
	behind map[string]string
	keys   map[string]KeyState

	count     atomic.Int64
	active    atomic.Int64 // handlers running now
	connSeq   atomic.Int64 // numbers handed out by ConnContext
	opened    atomic.Int64 // StateNew transitions
	openConns atomic.Int64 // accepted and not yet closed
	gone      chan Received
}

type (
	connKey  struct{}
	againKey struct{}
)

// countingListener counts the connections it accepted that are not closed.
type countingListener struct {
	net.Listener
	open *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.open.Add(1)
	return &countedConn{Conn: c, open: l.open}, nil
}

// countedConn decrements the open count once, on its first Close.
type countedConn struct {
	net.Conn
	open *atomic.Int64
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// tcpConn returns the *net.TCPConn under c's wrappers, or nil.
func tcpConn(c net.Conn) *net.TCPConn {
	for {
		switch v := c.(type) {
		case *net.TCPConn:
			return v
		case *countedConn:
			c = v.Conn
		case *servedAgain:
			c = v.Conn
		default:
			return nil
		}
	}
}

// New starts a server listening on opts.Addr and serving in the
// background. Call [Server.Close] when done.
func New(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.StreamChunks <= 0 {
		opts.StreamChunks = DefaultStreamChunks
	}
	if opts.ChunkInterval == 0 {
		opts.ChunkInterval = DefaultChunkInterval
	}
	if opts.RateLimitShare < 0 || opts.RateLimitShare > 1 {
		return nil, fmt.Errorf("sim: RateLimitShare %v is outside 0..1", opts.RateLimitShare)
	}
	if ch := opts.Chaos; ch != nil && (ch.Rate < 0 || ch.Rate > 1) {
		return nil, fmt.Errorf("sim: Chaos.Rate %v is outside 0..1", ch.Rate)
	}
	opts.Keys = append([]string(nil), opts.Keys...)

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("sim: listen on %s: %w", opts.Addr, err)
	}
	s := &Server{
		opts:      opts,
		ln:        ln,
		url:       "http://" + ln.Addr().String() + "/v1",
		done:      make(chan struct{}),
		serveDone: make(chan struct{}),
		hijacked:  make(map[net.Conn]struct{}),
		ids:       make(map[string]int),
		behind:    make(map[string]string),
		keys:      make(map[string]KeyState),
		gone:      make(chan Received, goneBuffer),
	}
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 30 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if sa, ok := c.(*servedAgain); ok {
				return context.WithValue(context.WithValue(ctx, connKey{}, sa.num), againKey{}, sa)
			}
			return context.WithValue(ctx, connKey{}, int(s.connSeq.Add(1)))
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			if _, again := c.(*servedAgain); st == http.StateNew && !again {
				s.opened.Add(1)
			}
		},
	}
	go func() {
		defer close(s.serveDone)
		_ = s.srv.Serve(countingListener{ln, &s.openConns}) // returns http.ErrServerClosed after Close
	}()
	return s, nil
}

// URL returns the base URL including /v1, e.g. "http://127.0.0.1:41234/v1".
func (s *Server) URL() string { return s.url }

// Addr returns the listen address as host:port, e.g. "127.0.0.1:41234".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server: it closes the listener and every connection —
// idle, active, hung and hijacked — and waits for all handlers to return.
// It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.done) // first, so handlers woken by the closes below know why
		hj := make([]net.Conn, 0, len(s.hijacked))
		for c := range s.hijacked {
			hj = append(hj, c)
		}
		s.mu.Unlock()

		_ = s.srv.Close()
		for _, c := range hj {
			_ = c.Close()
		}
		s.handlers.Wait()
		s.serving.Wait()
		<-s.serveDone
	})
}

// Push appends steps to the script. Each incoming request takes the first
// queued step that matches it (see [Step.Key] and [Step.Path]); a request
// that matches none gets the default simulation.
func (s *Server) Push(steps ...Step) {
	s.mu.Lock()
	s.steps = append(s.steps, steps...)
	s.mu.Unlock()
}

// Pending returns the number of queued steps not yet taken by a request.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.steps)
}

// Requests returns copies of the requests received so far, oldest first.
// It is empty unless [Options.Record] is set.
func (s *Server) Requests() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Received, len(s.reqs))
	for i, r := range s.reqs {
		out[i] = r.clone()
	}
	return out
}

// Count returns the number of requests received so far (whether or not
// they are recorded).
func (s *Server) Count() int { return int(s.count.Load()) }

// Active returns the number of requests being handled right now; it drops
// when a handler ends, e.g. after the client left a hung or streaming
// request. It is 0 once [Server.Close] returned.
func (s *Server) Active() int { return int(s.active.Load()) }

// ConnsOpened returns the number of TCP connections accepted so far.
func (s *Server) ConnsOpened() int { return int(s.opened.Load()) }

// Gone delivers a value each time a handler saw the client close the
// connection (or cancel the request) before the handler finished. The
// channel is buffered (1024); values beyond that are dropped, never
// waited for. Handlers ended by [Server.Close] do not report.
func (s *Server) Gone() <-chan Received { return s.gone }

// bodyModel returns the "model" member of a JSON body, "" when none.
func bodyModel(body []byte) string {
	var v struct {
		Model string `json:"model"`
	}
	_ = json.Unmarshal(body, &v)
	return v.Model
}

// pickStep removes and returns the first queued step that matches the
// request.
func (s *Server) pickStep(key, path string, body []byte) (Step, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	model := ""
	for i, st := range s.steps {
		if st.Model != "" && model == "" {
			model = bodyModel(body)
		}
		if (st.Key == "" || st.Key == key) && (st.Path == "" || st.Path == path) && (st.Model == "" || st.Model == model) {
			s.steps = append(s.steps[:i:i], s.steps[i+1:]...)
			return st, true
		}
	}
	return Step{}, false
}

// begin registers a running handler; it reports false once Close started.
func (s *Server) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.handlers.Add(1)
	s.active.Add(1)
	return true
}

// end unregisters a running handler.
func (s *Server) end() {
	s.active.Add(-1)
	s.handlers.Done()
}

// trackHijacked registers a hijacked connection so Close can close it; it
// reports false (and the caller must close c) once Close started.
func (s *Server) trackHijacked(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.hijacked[c] = struct{}{}
	return true
}

func (s *Server) untrackHijacked(c net.Conn) {
	s.mu.Lock()
	delete(s.hijacked, c)
	s.mu.Unlock()
}

func (s *Server) closing() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// presentedKey returns the key the request presents (see [Received.Key]).
func (s *Server) presentedKey(h http.Header) string {
	xKey := h.Get("X-Api-Key")
	bearer := ""
	if a := h.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		bearer = strings.TrimSpace(a[7:])
	}
	if xKey != "" && (s.accepts(xKey) || !s.accepts(bearer)) {
		return xKey
	}
	return bearer
}

func (s *Server) accepts(key string) bool {
	if key == "" {
		return false
	}
	for _, k := range s.opts.Keys {
		if k == key {
			return true
		}
	}
	return false
}

// serveHTTP is the single entry point: read and record the request, check
// the key, then run a scripted step or the default simulation.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.begin() {
		panic(http.ErrAbortHandler) // closing: drop the connection silently
	}
	defer s.end()

	conn, _ := r.Context().Value(connKey{}).(int)
	c := &call{s: s, w: w, rc: http.NewResponseController(w), r: r, clientGone: r.Context().Done()}
	body, err := io.ReadAll(r.Body)
	c.rec = Received{Method: r.Method, Path: r.RequestURI, Header: r.Header.Clone(),
		Body: body, Key: s.presentedKey(r.Header), Conn: conn, ID: r.Header.Get(IDHeader)}
	if r.Method == http.MethodPost {
		c.rec.Model = parseLoose(body).model
	}
	if sa, ok := r.Context().Value(againKey{}).(*servedAgain); ok && !sa.injected.IsZero() && sa.reported.CompareAndSwap(false, true) {
		c.rec.AfterUnsolicited = sa.afterInjected()
	}
	c.seq = s.count.Add(1)
	s.mu.Lock()
	if c.rec.ID != "" {
		c.nth = s.ids[c.rec.ID]
		s.ids[c.rec.ID]++
	}
	if s.opts.Record {
		s.reqs = append(s.reqs, c.rec.clone())
	}
	keyState := s.keys[c.rec.Key]
	s.mu.Unlock()
	if c.rec.ID != "" {
		w.Header().Set(IDHeader, c.rec.ID)
	}
	defer c.report()
	if err != nil {
		c.markGone() // the client stopped sending its body
		return
	}

	fam := familyOf(r.URL.Path)
	if len(s.opts.Keys) > 0 && !s.accepts(c.rec.Key) {
		c.writeError(fam, errUnauthorized)
		return
	}
	if s.opts.Hook != nil {
		if st := s.opts.Hook(c.rec.clone()); st != nil {
			c.runStep(st)
			return
		}
	}
	if keyState != KeyOK {
		c.writeKeyState(fam, keyState)
		return
	}
	if st, ok := s.pickStep(c.rec.Key, r.URL.Path, body); ok {
		c.runStep(&st)
		return
	}
	c.simulate(fam)
}

// call is the state of one request being answered.
type call struct {
	s     *Server
	w     http.ResponseWriter
	rc    *http.ResponseController
	r     *http.Request
	rec   Received
	seq   int64 // 1-based request number, for ids
	nth   int   // how many requests with rec.ID came before this one
	fault Fault // drawn by Chaos for a default answer
	// beforeEvent is Step.BeforeEvent of the step being answered.
	beforeEvent func(i int)

	// clientGone is closed when the client left: the request context, or
	// after a hijack the connection reader.
	clientGone <-chan struct{}
	gone       bool
}

// markGone notes that the client left, unless the server is closing.
func (c *call) markGone() {
	if !c.s.closing() {
		c.gone = true
	}
}

// report sends the request to Gone if the client left; never blocks.
func (c *call) report() {
	if !c.gone {
		return
	}
	select {
	case c.s.gone <- c.rec:
	default:
	}
}

// wait sleeps for d; it reports false, early, if the client leaves or the
// server closes.
func (c *call) wait(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-c.clientGone:
			c.markGone()
			return false
		case <-c.s.done:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.clientGone:
		c.markGone()
		return false
	case <-c.s.done:
		return false
	}
}

// waitForever blocks until the client leaves or the server closes.
//
// It takes the connection over to watch it (see hijack): net/http stops
// watching a connection for the client leaving once the next request's
// bytes arrive (a client that reuses the connection before the answer
// ended), so the request context would never end.
func (c *call) waitForever() {
	h, hijacked := c.hijack()
	select {
	case <-c.clientGone:
		c.markGone()
	case <-c.s.done:
	}
	if hijacked {
		c.release(h, false)
	}
}

// noteBehind records the ids of the requests in unread, which arrived
// behind the unfinished answer to request id.
func (s *Server) noteBehind(id string, unread []byte) {
	br := bufio.NewReader(bytes.NewReader(unread))
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		if next := req.Header.Get(IDHeader); next != "" {
			s.mu.Lock()
			s.behind[next] = id
			s.mu.Unlock()
		}
	}
}

// Behind returns the id of the request whose answer never finished (a
// hang, stall, cut or reset) on the connection where the request carrying
// id arrived after it, unread; "" when there is none. A client that reuses
// a connection before its answer ended (the keep-alive race: it took
// unsolicited bytes for that answer) queues its next request there.
func (s *Server) Behind(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.behind[id]
}

// writeFlush writes p and flushes it to the client; a failure means the
// client left.
func (c *call) writeFlush(p string) bool {
	if _, err := io.WriteString(c.w, p); err != nil {
		c.markGone()
		return false
	}
	if err := c.rc.Flush(); err != nil {
		c.markGone()
		return false
	}
	return true
}

// writeBody sends a complete non-stream answer.
func (c *call) writeBody(status int, contentType, body string) {
	h := c.w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", contentType)
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	c.w.WriteHeader(status)
	if _, err := io.WriteString(c.w, body); err != nil {
		c.markGone()
	}
}

// startStream sends the status and SSE headers and flushes them.
func (c *call) startStream(status int) bool {
	h := c.w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "text/event-stream")
	}
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-cache")
	}
	c.w.WriteHeader(status)
	if err := c.rc.Flush(); err != nil {
		c.markGone()
		return false
	}
	return true
}

// stream sends status, SSE headers and events, first after first, the
// others interval apart; it reports whether every event was sent.
func (c *call) stream(status int, events []string, first, interval time.Duration) bool {
	if !c.startStream(status) {
		return false
	}
	return c.sendEvents(events, first, interval)
}

func (c *call) sendEvents(events []string, first, interval time.Duration) bool {
	for i, ev := range events {
		d := interval
		if i == 0 {
			d = first
		}
		if !c.wait(d) {
			return false
		}
		if c.beforeEvent != nil {
			c.beforeEvent(i)
		}
		if !c.writeFlush(ev) {
			return false
		}
	}
	return true
}
