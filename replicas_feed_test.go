package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/llm-proxy/llm-proxy/stats"
	"github.com/llm-proxy/llm-proxy/stats/postgres/pgtest"
	"github.com/llm-proxy/llm-proxy/upstream/sim"
)

// sendModel makes one non-stream chat request for model to base and
// reports whether it got 200.
func sendModel(t *testing.T, base, model string) bool {
	body := `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
	req, err := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+clientKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// The live feed on C shows the requests A and B served within 1 s each,
// in the order they completed: sequential requests alternating between A
// and B (each finished before the next starts; each names its own model),
// paced so that they span several flushes of both replicas.
func TestReplicas_LiveFeedBatchesFromTwoReplicasInCompletionOrder(t *testing.T) {
	db := pgtest.NewDatabase(t, "")
	up, err := sim.New(sim.Options{ChunkInterval: -1})
	require.NoError(t, err)
	defer up.Close()
	ps := startReplicas(t, up, db, "a", "b", "c")
	conn := dialLive(t, ps[2].base, login(t, ps[2].base))
	var m liveMessage
	require.NoError(t, conn.ReadJSON(&m))
	require.Equal(t, "snapshot", m.Type)

	// The reader notes each request's first appearance on the feed, in order.
	type seen struct {
		model, replica string
		at             time.Time
	}
	feed := make(chan seen, 256)
	go func() {
		defer close(feed)
		for {
			var m liveMessage
			if conn.ReadJSON(&m) != nil {
				return
			}
			if m.Type != "update" {
				continue
			}
			var u struct{ Events []stats.Event }
			if json.Unmarshal(m.Data, &u) != nil {
				return
			}
			now := time.Now()
			for _, e := range u.Events {
				feed <- seen{e.Model, e.Replica, now}
			}
		}
	}()

	const n = 24
	done := make([]time.Time, n)
	for i := range n {
		p := ps[i%2]
		require.True(t, sendModel(t, p.base, fmt.Sprintf("order-%02d", i)))
		done[i] = time.Now()
		time.Sleep(replicaFlush / 8) // spread over several flushes: pacing, not an assertion
	}

	var order []string
	var worst time.Duration
	first := map[string]bool{}
	deadline := time.After(time.Until(done[n-1].Add(5 * time.Second)))
	for len(first) < n {
		select {
		case s, ok := <-feed:
			require.True(t, ok, "C's live feed closed; saw %v", order)
			if first[s.model] {
				continue
			}
			var i int
			_, err := fmt.Sscanf(s.model, "order-%02d", &i)
			require.NoError(t, err, s.model)
			first[s.model] = true
			order = append(order, s.model)
			d := s.at.Sub(done[i])
			worst = max(worst, d)
			assert.LessOrEqual(t, d, time.Second, "%s (served by %s) reached C's feed %v after it completed", s.model, s.replica, d)
			assert.Equal(t, []string{"a", "b"}[i%2], s.replica, s.model)
		case <-deadline:
			t.Fatalf("C's feed showed %d of %d requests within 5 s: %v", len(first), n, order)
		}
	}
	t.Logf("the slowest request reached C's feed %v after it completed", worst)
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("order-%02d", i)
	}
	assert.Equal(t, want, order, "C's feed is not in completion order")
}
