package stats

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBus_Publish(t *testing.T) {
	tests := []struct {
		name        string
		buffer      int
		subscribers int
		messages    int
		wantDropped uint64
		wantLive    int
	}{
		{name: "no subscribers", buffer: 4, subscribers: 0, messages: 10},
		{name: "all fit", buffer: 4, subscribers: 3, messages: 4, wantLive: 3},
		{name: "one too many drops everyone who does not read", buffer: 4, subscribers: 3, messages: 5, wantDropped: 3},
		{name: "unbuffered drops at once", buffer: 0, subscribers: 2, messages: 1, wantDropped: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBus(tt.buffer)
			subs := make([]*Subscription, tt.subscribers)
			for i := range subs {
				subs[i] = b.subscribe()
			}
			for i := range tt.messages {
				b.publish([]byte(fmt.Sprint(i)))
			}
			assert.Equal(t, tt.wantDropped, b.droppedSubscribers())
			assert.Equal(t, tt.wantLive, b.len())
			if tt.wantLive == 0 {
				return
			}
			for _, s := range subs {
				var got []string
				for range tt.messages {
					got = append(got, string(<-s.C()))
				}
				assert.Equal(t, "0", got[0], "oldest first")
				assert.Len(t, got, tt.messages)
			}
		})
	}
}

// The acceptance test: a subscriber that never reads cannot slow the
// publisher; it is dropped and counted.
func TestBus_Publish_stuckSubscriberNeverBlocks(t *testing.T) {
	b := newBus(DefaultSubscriberBuffer)
	stuck := b.subscribe()
	reader := b.subscribe()
	var got int
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for range reader.C() {
			got++
		}
	}()

	const n = 100_000
	done := make(chan struct{})
	go func() {
		defer close(done)
		msg := []byte(`{"type":"update"}`)
		for range n {
			b.publish(msg)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publish blocked on a subscriber that never reads")
	}

	// The stuck subscriber is dropped and counted; the reader may be too,
	// on a busy machine it cannot keep up with a tight publish loop.
	d := b.droppedSubscribers()
	assert.True(t, d == 1 || d == 2, "dropped %d subscribers", d)
	// Its channel holds what fit and is then closed.
	assert.Equal(t, DefaultSubscriberBuffer, drainClosed(t, stuck.C()))

	// Whether or not the reader kept up, closing the bus ends it.
	b.close()
	select {
	case <-readerDone:
	case <-time.After(10 * time.Second):
		t.Fatal("reader's channel was not closed")
	}
	assert.Positive(t, got)
}

func TestSubscription_Close(t *testing.T) {
	b := newBus(1)
	s := b.subscribe()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // publishing concurrently with closing must not panic
		defer wg.Done()
		for range 1000 {
			b.publish([]byte("x"))
		}
	}()
	go func() {
		defer wg.Done()
		s.Close()
		s.Close() // twice is fine
	}()
	wg.Wait()

	drainClosed(t, s.C())
	assert.Equal(t, 0, b.len())
	// A subscriber that left by itself is not counted as dropped, unless it
	// was dropped before it closed.
	assert.LessOrEqual(t, b.droppedSubscribers(), uint64(1))
}

func TestBus_Close(t *testing.T) {
	b := newBus(1)
	s := b.subscribe()
	b.close()
	_, ok := <-s.C()
	assert.False(t, ok, "open subscriptions are closed")

	late := b.subscribe()
	_, ok = <-late.C()
	require.False(t, ok, "a subscription after close starts closed")
	late.Close()
	b.publish([]byte("x")) // no subscribers left, no panic
}

// drainClosed reads what ch holds and fails unless ch is closed after it.
func drainClosed(t *testing.T, ch <-chan []byte) int {
	t.Helper()
	for n := 0; ; n++ {
		select {
		case _, ok := <-ch:
			if !ok {
				return n
			}
		default:
			t.Fatalf("channel not closed after %d messages", n)
			return n
		}
	}
}
