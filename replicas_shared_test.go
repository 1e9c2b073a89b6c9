package main

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/stats/postgres/pgtest"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// A 429 with Retry-After: 30 seen by A: B and C, and a replica started
// later, send that target nothing during the cooldown.
func TestReplicas_SharedRetryAfterCooldown(t *testing.T) {
	db := pgtest.NewDatabase(t, "")
	limited, err := sim.New(sim.Options{ChunkInterval: -1})
	require.NoError(t, err)
	defer limited.Close()
	spare, err := sim.New(sim.Options{ChunkInterval: -1})
	require.NoError(t, err)
	defer spare.Close()
	var ps []*proc
	for _, name := range []string{"a", "b", "c", "late"} {
		if name == "late" {
			break
		}
		env := proxyEnv(limited, "memory")
		env["PROXY_URL"] = limited.URL() + "," + spare.URL()
		env["TARGET_NAMES"] = "limited,spare"
		env["DATABASE_URL"] = db
		env["REPLICA_NAME"] = name
		ps = append(ps, start(t, env))
	}
	limited.Push(sim.Step{Status: 429, Header: map[string]string{"Retry-After": "30"},
		Body: `{"error":{"type":"rate_limit_error","message":"slow down"}}`})
	for i := 0; limited.Pending() > 0; i++ {
		require.Less(t, i, 10, "A never reached the limited target")
		require.True(t, send(t, ps[0].base))
	}
	learned := time.Now()
	seen := limited.Count()

	time.Sleep(time.Second - time.Since(learned)) // "within 1 s"
	for i := range 20 {
		require.True(t, send(t, ps[1+i%2].base))
	}
	assert.Equal(t, seen, limited.Count(), "B or C sent the cooling target a request")

	// A replica that starts later reads the cooldown still in force.
	env := proxyEnv(limited, "memory")
	env["PROXY_URL"] = limited.URL() + "," + spare.URL()
	env["TARGET_NAMES"] = "limited,spare"
	env["DATABASE_URL"] = db
	env["REPLICA_NAME"] = "late"
	late := start(t, env)
	for range 10 {
		require.True(t, send(t, late.base))
	}
	assert.Equal(t, seen, limited.Count(), "the late replica sent the cooling target a request")
	for _, ts := range snapshot(t, late.base).Targets {
		if ts.Name == "limited" {
			require.NotNil(t, ts.CoolingUntil)
			assert.WithinDuration(t, learned.Add(30*time.Second), *ts.CoolingUntil, 2*time.Second)
		}
	}
}

// A login on A is valid on B and C; logging out on A ends it everywhere and
// closes its websockets on B and C within 1 s.
func TestReplicas_SharedSessionsAndLogout(t *testing.T) {
	db := pgtest.NewDatabase(t, "")
	up, err := sim.New(sim.Options{ChunkInterval: -1})
	require.NoError(t, err)
	defer up.Close()
	ps := startReplicas(t, up, db, "a", "b", "c")
	cookie := login(t, ps[0].base)

	get := func(base string) int {
		req, err := http.NewRequest("GET", base+"/api/stats", nil)
		require.NoError(t, err)
		req.AddCookie(cookie)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, p := range ps {
		assert.Equal(t, http.StatusOK, get(p.base), p.base)
	}
	wsB, wsC := dialLive(t, ps[1].base, cookie), dialLive(t, ps[2].base, cookie)
	var m liveMessage
	require.NoError(t, wsB.ReadJSON(&m))
	require.NoError(t, wsC.ReadJSON(&m))

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest("POST", ps[0].base+"/logout", strings.NewReader(""))
	require.NoError(t, err)
	req.Header.Set("Origin", ps[0].base)
	req.AddCookie(cookie)
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	loggedOut := time.Now()

	for _, ws := range []*websocket.Conn{wsB, wsC} {
		require.NoError(t, ws.SetReadDeadline(loggedOut.Add(time.Second)))
		for {
			_, _, err := ws.ReadMessage()
			if err == nil {
				continue
			}
			var ce *websocket.CloseError
			require.True(t, errors.As(err, &ce), "websocket not closed within 1 s of the logout: %v", err)
			assert.Equal(t, 4001, ce.Code)
			break
		}
	}
	for _, p := range ps {
		assert.Equal(t, http.StatusUnauthorized, get(p.base), p.base)
	}
}
