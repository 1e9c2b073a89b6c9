package dashboard

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/llm-proxy/llm-proxy/stats"
)

type liveMsg struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

type liveUpdate struct {
	Events []stats.Event `json:"events"`
	Totals stats.Totals  `json:"totals"`
	Points []stats.Point `json:"points"`
}

// dialLive opens the live feed with the session cookies and the given Origin.
func dialLive(t *testing.T, base string, cookies []*http.Cookie, origin string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	var parts []string
	for _, c := range cookies {
		parts = append(parts, c.Name+"="+c.Value)
	}
	if len(parts) > 0 {
		h.Set("Cookie", strings.Join(parts, "; "))
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", h)
	if conn != nil {
		t.Cleanup(func() { _ = conn.Close() })
	}
	return conn, resp, err
}

func readMsg(t *testing.T, conn *websocket.Conn) liveMsg {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, b, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("reading the live feed: %v", err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("message type = %d, want text", typ)
	}
	var m liveMsg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("message is not JSON: %v: %s", err, b)
	}
	return m
}

// readClose reads until the connection closes and returns the close code.
func readClose(t *testing.T, conn *websocket.Conn) int {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		t.Fatalf("connection ended without a close frame: %v", err)
	}
}

func TestLive_SnapshotThenUpdate(t *testing.T) {
	ta := newTestApp(t)
	base := ta.listen(t)
	ta.rec.Record(sampleEvent("before-connect"))
	_, cookies := httpLogin(t, base, testKey)

	conn, resp, err := dialLive(t, base, cookies, base)
	if err != nil {
		t.Fatalf("dial: %v (status %v)", err, resp)
	}
	m := readMsg(t, conn)
	if m.Type != "snapshot" {
		t.Fatalf("first message type = %q, want snapshot", m.Type)
	}
	var snap stats.Snapshot
	if err := json.Unmarshal(m.Data, &snap); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if snap.Totals.Requests != 1 || len(snap.Recent) != 1 || snap.Recent[0].Model != "before-connect" {
		t.Fatalf("snapshot totals %+v recent %d, want the one earlier event", snap.Totals, len(snap.Recent))
	}

	ev := sampleEvent(`<img src=x onerror=alert(1)>`)
	ta.rec.Record(ev)
	var up liveUpdate
	for up.Totals.Requests < 2 { // an update may repeat the earlier event
		m = readMsg(t, conn)
		if m.Type != "update" {
			t.Fatalf("message type = %q, want update", m.Type)
		}
		if err := json.Unmarshal(m.Data, &up); err != nil {
			t.Fatalf("update: %v", err)
		}
	}
	last := up.Events[len(up.Events)-1]
	if last.ID != ev.ID || last.Model != ev.Model || last.Retries() != 1 {
		t.Errorf("update's last event = %+v, want the recorded one", last)
	}
	if len(up.Points) == 0 || up.Points[len(up.Points)-1].Requests < 1 {
		t.Errorf("update points = %+v, want this second's traffic", up.Points)
	}
	if got := ta.d.hub.len(); got != 1 {
		t.Errorf("hub clients = %d, want 1", got)
	}
	// The client leaving is noticed.
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	waitFor(t, 5*time.Second, "the hub to drop the closed client", func() bool { return ta.d.hub.len() == 0 })
}

func TestLive_RefusedHandshakes(t *testing.T) {
	ta := newTestApp(t)
	base := ta.listen(t)
	_, cookies := httpLogin(t, base, testKey)
	tests := []struct {
		name    string
		cookies []*http.Cookie
		origin  string
		want    int
	}{
		{"no session", nil, base, http.StatusUnauthorized},
		{"forged session", []*http.Cookie{{Name: SessionCookie, Value: "forged"}}, base, http.StatusUnauthorized},
		{"cross-site", cookies, "http://evil.example", http.StatusForbidden},
		{"other port", cookies, "http://127.0.0.1:1", http.StatusForbidden},
		{"no origin", cookies, "", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, resp, err := dialLive(t, base, tt.cookies, tt.origin)
			if err == nil {
				_ = conn.Close()
				t.Fatal("handshake succeeded")
			}
			if resp == nil || resp.StatusCode != tt.want {
				t.Fatalf("handshake response = %v, want %d", resp, tt.want)
			}
		})
	}
	if got := ta.d.hub.len(); got != 0 {
		t.Errorf("hub clients = %d, want 0", got)
	}
}

func TestLive_StuckSubscriberDoesNotBlockRecord(t *testing.T) {
	ta := newTestApp(t, func(_ *Config, o *stats.Options) { o.SubscriberBuffer = 2 })
	base := ta.listen(t)
	_, cookies := httpLogin(t, base, testKey)
	// A dashboard that connects and then never reads again...
	conn, _, err := dialLive(t, base, cookies, base)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_ = conn
	// ...and a subscriber that never reads at all.
	stuck := ta.rec.Subscribe()
	defer stuck.Close()

	const n = 20000
	model := strings.Repeat("m", 128)
	for range n { // finishes only if Record never waits for a reader
		ta.rec.Record(sampleEvent(model))
	}
	if got := ta.rec.Snapshot().Totals.Requests; got != n {
		t.Errorf("requests = %d, want %d", got, n)
	}
	// Keep producing updates until the stuck subscriber is dropped.
	waitFor(t, 10*time.Second, "the stuck subscriber to be dropped", func() bool {
		ta.rec.Record(sampleEvent("tick"))
		return ta.rec.DroppedSubscribers() >= 1
	})
}

func TestLive_ClosedSubscriptionClosesConn(t *testing.T) {
	ta := newTestApp(t)
	base := ta.listen(t)
	_, cookies := httpLogin(t, base, testKey)
	conn, _, err := dialLive(t, base, cookies, base)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	readMsg(t, conn) // snapshot
	// Closing the Recorder closes every subscription, as falling behind does.
	_ = ta.rec.Close()
	if got, want := readClose(t, conn), websocket.CloseTryAgainLater; got != want {
		t.Errorf("close code = %d, want %d", got, want)
	}
	waitFor(t, 5*time.Second, "the hub to empty", func() bool { return ta.d.hub.len() == 0 })
}

func TestLive_LogoutClosesConn(t *testing.T) {
	ta := newTestApp(t)
	base := ta.listen(t)
	cl, cookies := httpLogin(t, base, testKey)
	conn, _, err := dialLive(t, base, cookies, base)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	readMsg(t, conn)
	req, _ := http.NewRequest(http.MethodPost, base+"/logout", nil)
	req.Header.Set("Origin", base)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("logout: %v", err)
	}
	_ = resp.Body.Close()
	if got, want := readClose(t, conn), closeSessionEnded; got != want {
		t.Errorf("close code = %d, want %d", got, want)
	}
	if _, resp, err := dialLive(t, base, cookies, base); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("re-dial after logout: %v, want 401", err)
	}
}

func TestLive_SessionExpiryClosesConn(t *testing.T) {
	ta := newTestApp(t)
	ta.d.pingInterval = 20 * time.Millisecond
	base := ta.listen(t)
	_, cookies := httpLogin(t, base, testKey)
	conn, _, err := dialLive(t, base, cookies, base)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	readMsg(t, conn)
	ta.d.sessions.delete(hashToken(cookies[0].Value)) // as if it expired
	if got, want := readClose(t, conn), closeSessionEnded; got != want {
		t.Errorf("close code = %d, want %d", got, want)
	}
}

func TestLive_DeadClientIsDropped(t *testing.T) {
	ta := newTestApp(t)
	ta.d.pingInterval = 20 * time.Millisecond
	ta.d.pongWait = 150 * time.Millisecond
	base := ta.listen(t)
	_, cookies := httpLogin(t, base, testKey)

	// A client that reads answers pings (gorilla's default ping handler) and stays.
	alive, _, err := dialLive(t, base, cookies, base)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	aliveDone := make(chan error, 1)
	go func() {
		for {
			if _, _, err := alive.ReadMessage(); err != nil {
				aliveDone <- err
				return
			}
		}
	}()
	// A client that never reads never answers a ping: it is dropped.
	if _, _, err := dialLive(t, base, cookies, base); err != nil {
		t.Fatalf("dial: %v", err)
	}
	waitFor(t, 2*time.Second, "two clients", func() bool { return ta.d.hub.len() == 2 })
	waitFor(t, 5*time.Second, "the silent client to be dropped", func() bool { return ta.d.hub.len() == 1 })
	time.Sleep(3 * ta.d.pongWait)
	if got := ta.d.hub.len(); got != 1 {
		t.Errorf("hub clients = %d, want the answering client to stay", got)
	}
	select {
	case err := <-aliveDone:
		t.Errorf("the answering client was closed: %v", err)
	default:
	}
}

func TestClose_ClosesClientsAndRefusesNew(t *testing.T) {
	ta := newTestApp(t)
	base := ta.listen(t)
	_, cookies := httpLogin(t, base, testKey)
	conns := make([]*websocket.Conn, 3)
	for i := range conns {
		c, _, err := dialLive(t, base, cookies, base)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		readMsg(t, c)
		conns[i] = c
	}
	ta.d.Close()
	if got := ta.d.hub.len(); got != 0 {
		t.Errorf("hub clients after Close = %d, want 0", got)
	}
	for i, c := range conns {
		if got, want := readClose(t, c), websocket.CloseGoingAway; got != want {
			t.Errorf("conn %d: close code = %d, want %d", i, got, want)
		}
	}
	if _, resp, err := dialLive(t, base, cookies, base); err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial after Close: %v, want 503", err)
	}
	ta.d.Close() // twice is fine
}
