package stats

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSecondSpan_add(t *testing.T) {
	var s secondSpan
	assert.False(t, s.set)
	for _, sec := range []int64{10, 7, 12, 9} {
		s.add(sec)
	}
	assert.Equal(t, secondSpan{first: 7, last: 12, set: true}, s)
}

func TestCombined(t *testing.T) {
	var a, b series
	a.add(100, 10, false)
	a.add(101, 20, true)
	b.set(Bucket{T: 101, Requests: 2, Failures: 0, LatencySum: 40})
	b.set(Bucket{T: 102, Requests: 1, Failures: 1, LatencySum: 5})
	b.set(Bucket{T: 100 + seriesSeconds, Requests: 9}) // same slot as 100, another second: ignored
	b.set(Bucket{T: -1, Requests: 9})                  // no such second: ignored
	got := combined(&a, &b, 99, 102)
	want := []Point{
		{T: 100, Requests: 1, AvgLatencyMs: 10},
		{T: 101, Requests: 3, Failures: 1, AvgLatencyMs: 20},
		{T: 102, Requests: 1, Failures: 1, AvgLatencyMs: 5},
	}
	assert.Equal(t, want, got)
	assert.Equal(t, []Point{}, combined(&a, &b, 200, 201))
}

func TestSortByCompletion(t *testing.T) {
	base := time.Unix(1000, 0)
	slow := &Event{ID: 1, Time: base, LatencyMs: 900}                             // ends at +900ms
	fast := &Event{ID: 2, Time: base.Add(100 * time.Millisecond), LatencyMs: 100} // ends at +200ms
	mid := &Event{ID: 3, Time: base.Add(300 * time.Millisecond), LatencyMs: 100}  // ends at +400ms
	evs := []*Event{slow, fast, mid}
	sortByCompletion(evs)
	assert.Equal(t, []*Event{fast, mid, slow}, evs)
}

// The other replicas' totals add to ours; their events reach the ring and the
// live feed; their seconds add to the chart.
func TestRecorder_peers(t *testing.T) {
	r := newTestRecorder(t, Options{Replica: "here"})
	p := peerSink{r}
	sub := r.Subscribe()
	defer sub.Close()

	r.Record(okEvent())
	p.PeerTotals(Counters{Requests: 10, Successes: 7, InputTokens: 5, LastID: 99})
	p.PeerTotals(Counters{Requests: 9, Successes: 6, InputTokens: 5}) // an older read, arriving late: ignored
	other := okEvent()
	other.ID, other.Replica = 1<<40+1, "there"
	p.PeerEvents(PeerBatch{Replica: "there", Events: []*Event{other}})
	now := time.Now().Unix()
	p.PeerSeries([]Bucket{{T: now, Requests: 10, Failures: 3, LatencySum: 500}})

	require.Eventually(t, func() bool { return len(r.Snapshot().Recent) == 2 }, 2*time.Second, 5*time.Millisecond)
	s := r.Snapshot()
	assert.Equal(t, int64(11), s.Totals.Requests)
	assert.Equal(t, int64(8), s.Totals.Successes)
	assert.Equal(t, int64(15), s.Totals.InputTokens)
	// Which arrives first is up to the recorder goroutine.
	assert.ElementsMatch(t, []string{"here", "there"}, []string{s.Recent[0].Replica, s.Recent[1].Replica})
	require.Eventually(t, func() bool {
		var n int64
		for _, pt := range r.Snapshot().Series {
			n += pt.Requests
		}
		return n == 11
	}, 2*time.Second, 5*time.Millisecond, "the chart sums ours and theirs")

	// The live feed carries the other replica's event too.
	deadline := time.After(2 * time.Second)
	for seen := false; !seen; {
		select {
		case msg := <-sub.C():
			seen = containsReplica(msg, "there")
		case <-deadline:
			t.Fatal("no update with the other replica's event")
		}
	}
}

func containsReplica(msg []byte, name string) bool {
	return strings.Contains(string(msg), `"replica":"`+name+`"`)
}
