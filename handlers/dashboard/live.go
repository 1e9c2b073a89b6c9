package dashboard

import (
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	fws "github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/llm-proxy/llm-proxy/stats"
)

// localsSession is the Locals key under which Upgrade hands the session to Live.
const localsSession = "dashboard.session"

// closeSessionEnded is the close code sent when the connection's session
// ended (logout or expiry); the page then reloads and shows the login form.
const closeSessionEnded = 4001

// maxClientMessage bounds what a dashboard may send us (it sends nothing but
// control frames).
const maxClientMessage = 4096

// Upgrade is the middleware in front of the websocket route. It answers 401
// without a valid session, 403 when the Origin is missing or names another
// host than Host / X-Forwarded-Host, 426 to a request that is not a
// websocket upgrade and 503 after Close; otherwise it passes on to Live.
func (d *Dashboard) Upgrade(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	id, ok := d.session(c)
	if !ok {
		return unauthorized(c)
	}
	if !sameOrigin(c, false) {
		return c.Status(fiber.StatusForbidden).JSON(fiber.Map{"error": "forbidden"})
	}
	if !fws.IsWebSocketUpgrade(c) {
		return c.Status(fiber.StatusUpgradeRequired).JSON(fiber.Map{"error": "websocket upgrade required"})
	}
	if d.hub.isClosed() {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "shutting down"})
	}
	c.Locals(localsSession, id)
	return c.Next()
}

// Live returns the websocket handler (contrib/websocket) for the live feed.
// Mount it after Upgrade. Each connection gets the snapshot, then the
// Recorder's update messages as they come. One goroutine writes (with a 5 s
// deadline per message) and pings every 30 s; another reads, so that a
// client that stops answering pings is dropped. When the subscription's
// channel closes (the client fell behind, or the Recorder closed), the
// connection is closed with code 1013 and the page reconnects.
func (d *Dashboard) Live() fiber.Handler {
	return fws.New(d.serve, fws.Config{
		HandshakeTimeout: 5 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  16 << 10,
		RecoverHandler: func(conn *fws.Conn) {
			if r := recover(); r != nil {
				d.log.Error("dashboard: live feed panic", "panic", r)
			}
		},
	})
}

// client is one open live-feed connection.
type client struct {
	session sessionID
	// quit carries a close code when the hub wants the connection ended.
	quit chan int
}

func (d *Dashboard) serve(conn *fws.Conn) {
	ws := conn.Conn
	id, ok := conn.Locals(localsSession).(sessionID)
	if !ok { // Live mounted without Upgrade: refuse rather than serve unauthenticated
		d.closeWith(ws, closeSessionEnded, "no session")
		return
	}
	cl := &client{session: id, quit: make(chan int, 1)}
	if !d.hub.add(cl) {
		d.closeWith(ws, websocket.CloseGoingAway, "shutting down")
		return
	}
	defer d.hub.remove(cl)
	if d.rec == nil {
		d.closeWith(ws, websocket.CloseInternalServerErr, "no recorder")
		return
	}

	// Subscribe before taking the snapshot, so nothing falls between them;
	// the page drops events it already has (same ID).
	sub := d.rec.Subscribe()
	defer sub.Close()

	ws.SetReadLimit(maxClientMessage)
	gone := make(chan struct{})
	go d.readLoop(ws, gone)
	defer stopReader(ws, gone)

	if !d.send(ws, stats.SnapshotMessage(d.rec.Snapshot())) {
		return
	}
	ping := time.NewTicker(d.pingInterval)
	defer ping.Stop()
	for {
		select {
		case msg, ok := <-sub.C():
			if !ok {
				d.closeWith(ws, websocket.CloseTryAgainLater, "fell behind")
				return
			}
			if !d.send(ws, msg) {
				return
			}
		case <-ping.C:
			if !d.sessions.valid(id) {
				d.closeWith(ws, closeSessionEnded, "session ended")
				return
			}
			if ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(d.writeTimeout)) != nil {
				return
			}
		case code := <-cl.quit:
			d.closeWith(ws, code, "")
			return
		case <-gone:
			return
		}
	}
}

// send writes one text message within the write timeout.
func (d *Dashboard) send(ws *websocket.Conn, msg []byte) bool {
	if err := ws.SetWriteDeadline(time.Now().Add(d.writeTimeout)); err != nil {
		return false
	}
	return ws.WriteMessage(websocket.TextMessage, msg) == nil
}

// closeWith sends a close frame (best effort, short deadline).
func (d *Dashboard) closeWith(ws *websocket.Conn, code int, text string) {
	_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
}

// stopReader makes readLoop return and waits for it. Closing the connection
// would not do: fasthttp closes a hijacked connection only after the handler
// returns, its Close is a no-op before. An expired read deadline ends the
// blocked read instead; it is set again until the reader is gone, because
// the pong handler may push it forward in between.
func stopReader(ws *websocket.Conn, gone <-chan struct{}) {
	past := time.Unix(1, 0)
	_ = ws.SetReadDeadline(past)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-gone:
			return
		case <-t.C:
			_ = ws.SetReadDeadline(past)
		}
	}
}

// readLoop reads (and discards) what the client sends, answering pings and
// noting pongs; it returns, closing gone, when the connection fails, the
// client closes it, or no pong arrived within pongWait.
func (d *Dashboard) readLoop(ws *websocket.Conn, gone chan<- struct{}) {
	defer close(gone)
	_ = ws.SetReadDeadline(time.Now().Add(d.pongWait))
	ws.SetPongHandler(func(string) error {
		return ws.SetReadDeadline(time.Now().Add(d.pongWait))
	})
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			return
		}
		_ = ws.SetReadDeadline(time.Now().Add(d.pongWait))
	}
}

// hub tracks the open live-feed connections so that Close and Logout can end them.
type hub struct {
	mu      sync.Mutex
	clients map[*client]struct{}
	closed  bool
	wg      sync.WaitGroup
}

func newHub() *hub { return &hub{clients: make(map[*client]struct{})} }

func (h *hub) add(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.clients[c] = struct{}{}
	h.wg.Add(1)
	return true
}

func (h *hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		h.wg.Done()
	}
}

func (h *hub) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

func (h *hub) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// signal asks c to close with code; it never blocks.
func signal(c *client, code int) {
	select {
	case c.quit <- code:
	default:
	}
}

// endSession closes the connections of session id.
func (h *hub) endSession(id sessionID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		if c.session == id {
			signal(c, closeSessionEnded)
		}
	}
}

// close refuses new clients, asks every client to close (1001) and waits up
// to wait for them to finish. A client stuck in a write ends at its write
// deadline; close does not wait longer than wait.
func (h *hub) close(wait time.Duration) {
	h.mu.Lock()
	h.closed = true
	for c := range h.clients {
		signal(c, websocket.CloseGoingAway)
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
