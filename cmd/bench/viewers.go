package main

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
)

// sessionCookie is the dashboard's session cookie (handlers/dashboard.SessionCookie).
const sessionCookie = "llmproxy_session"

// login posts the dashboard key to /login and returns the session cookie's value.
func login(addr, key string) (string, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI("http://" + addr + "/login")
	req.Header.SetContentType("application/x-www-form-urlencoded")
	args := fasthttp.AcquireArgs()
	defer fasthttp.ReleaseArgs(args)
	args.Set("key", key)
	req.SetBody(args.QueryString())
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil {
		return "", fmt.Errorf("POST /login: %w", err)
	}
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(sessionCookie)
	if !resp.Header.Cookie(c) || len(c.Value()) == 0 {
		return "", fmt.Errorf("POST /login: status %d and no %s cookie", resp.StatusCode(), sessionCookie)
	}
	return string(c.Value()), nil
}

// viewers are open dashboard websocket connections that only read.
type viewers struct {
	conns []*websocket.Conn
	wg    sync.WaitGroup
	msgs  atomic.Int64
	bytes atomic.Int64
	alive atomic.Int64 // readers still running
}

// connectViewers logs in once and opens n live-feed connections with that
// session (one user with n tabs: the login limiter allows 10 logins a
// minute per address).
func connectViewers(addr string, n int) (*viewers, error) {
	tok, err := login(addr, accessKey)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Cookie", sessionCookie+"="+tok)
	h.Set("Origin", "http://"+addr)
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	v := &viewers{}
	for range n {
		c, resp, err := d.Dial("ws://"+addr+"/ws", h)
		if err != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			v.close()
			return nil, fmt.Errorf("websocket dial (status %d): %w", status, err)
		}
		v.conns = append(v.conns, c)
		v.wg.Add(1)
		v.alive.Add(1)
		go func() {
			defer v.wg.Done()
			defer v.alive.Add(-1)
			for {
				_, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				v.msgs.Add(1)
				v.bytes.Add(int64(len(msg)))
			}
		}()
	}
	return v, nil
}

// close ends every connection and waits for the readers.
func (v *viewers) close() {
	for _, c := range v.conns {
		_ = c.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = c.Close()
	}
	v.wg.Wait()
}
