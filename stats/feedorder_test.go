package stats

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sharedFake is a SharedStore that stores nothing: it makes the recorder
// order its live feed, and the test hands it other replicas' batches.
type sharedFake struct{ peers Peers }

func (f *sharedFake) Restore(int) (Restored, error) { return Restored{}, nil }
func (f *sharedFake) Add(*Event, int64, Counters)   {}
func (f *sharedFake) Sync(Counters) error           { return nil }
func (f *sharedFake) Health() Health                { return Health{OK: true} }
func (f *sharedFake) Close() error                  { return nil }
func (f *sharedFake) Attach(p Peers)                { f.peers = p }
func (f *sharedFake) Replicas() []Replica           { return []Replica{} }

// doneAt is an event of replica that completed at end.
func doneAt(replica, model string, end time.Time) *Event {
	e := okEvent()
	e.Replica, e.Model, e.Time, e.LatencyMs = replica, model, end.Add(-10*time.Millisecond), 10
	return e
}

// feedModels reads the live feed until it has shown n events (2 s at
// most) and returns their models in the order shown.
func feedModels(t *testing.T, sub *Subscription, n int) []string {
	t.Helper()
	var got []string
	deadline := time.After(2 * time.Second)
	for len(got) < n {
		select {
		case msg := <-sub.C():
			var m struct {
				Type string
				Data struct{ Events []Event }
			}
			require.NoError(t, json.Unmarshal(msg, &m))
			for _, e := range m.Data.Events {
				got = append(got, e.Model)
			}
		case <-deadline:
			t.Fatalf("the feed showed %v, want %d events", got, n)
		}
	}
	return got
}

// Batches of two replicas whose events interleave in time: the feed shows
// them in order of completion, not batch after batch; an event waits until
// every replica that speaks has said it has nothing earlier.
func TestRecorder_PeerBatchesInterleavedShownInCompletionOrder(t *testing.T) {
	store := &sharedFake{}
	r := newTestRecorder(t, Options{Store: store, Replica: "c", BatchInterval: 10 * time.Millisecond})
	sub := r.Subscribe()
	defer sub.Close()
	p := store.peers
	t0 := time.Now().Add(-500 * time.Millisecond)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	every := 200 * time.Millisecond

	p.PeerEvents(PeerBatch{Replica: "b", Complete: at(5), Every: every}) // B speaks: nothing yet
	p.PeerEvents(PeerBatch{Replica: "a", Events: []*Event{doneAt("a", "1", at(10)), doneAt("a", "3", at(30))}, Complete: at(35), Every: every})
	p.PeerEvents(PeerBatch{Replica: "b", Events: []*Event{doneAt("b", "2", at(20)), doneAt("b", "4", at(40))}, Complete: at(45), Every: every})
	assert.Equal(t, []string{"1", "2", "3"}, feedModels(t, sub, 3), "shown up to A's mark")
	p.PeerEvents(PeerBatch{Replica: "a", Complete: at(50), Every: every})
	assert.Equal(t, []string{"4"}, feedModels(t, sub, 1))
	got := r.Snapshot().Recent
	require.Len(t, got, 4)
	for i, want := range []string{"4", "3", "2", "1"} {
		assert.Equal(t, want, got[i].Model, "the snapshot, newest first")
	}
}

// Our own events wait for the others' marks too, and a replica that goes
// silent is not waited for beyond two of its intervals and a bit.
func TestRecorder_OwnEventsWaitForPeersThatSpeak(t *testing.T) {
	store := &sharedFake{}
	r := newTestRecorder(t, Options{Store: store, Replica: "c", BatchInterval: 10 * time.Millisecond})
	sub := r.Subscribe()
	defer sub.Close()
	every := 50 * time.Millisecond
	store.peers.PeerEvents(PeerBatch{Replica: "a", Complete: time.Now().Add(-time.Second), Every: every})
	r.Record(doneAt("", "own", time.Now()))
	waited := time.Now()
	store.peers.PeerEvents(PeerBatch{Replica: "a", Events: []*Event{doneAt("a", "peer", time.Now().Add(-100*time.Millisecond))}, Complete: time.Now().Add(-50 * time.Millisecond), Every: every})
	assert.Equal(t, []string{"peer", "own"}, feedModels(t, sub, 2))
	assert.GreaterOrEqual(t, time.Since(waited), 2*every+peerSilence, "our event was shown before A went silent")
}

// feedOrder alone: out-of-order adds are sorted at release; past the cap the newest half stays.
func TestFeedOrder_sortsAndCaps(t *testing.T) {
	o := newFeedOrder(1)
	o.cap = 8
	now := time.Now()
	for _, ms := range []int{30, 10, 20} {
		o.add(doneAt("a", "", now.Add(time.Duration(ms-1000)*time.Millisecond)))
	}
	var got []time.Time
	o.release(now, func(evs []*Event) {
		for _, e := range evs {
			got = append(got, completion(e))
		}
	})
	require.Len(t, got, 3)
	assert.True(t, got[0].Before(got[1]) && got[1].Before(got[2]))
	for i := range 9 {
		o.add(doneAt("a", "", now.Add(time.Duration(i)*time.Millisecond)))
	}
	assert.Len(t, o.held, 4, "past the cap, the newest half")
	assert.Equal(t, now.Add(5*time.Millisecond), completion(o.held[0]))
}
