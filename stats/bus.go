package stats

import (
	"sync"
	"sync/atomic"
)

// bus fans ready-made messages out to live subscribers. Publishing never
// waits: a subscriber whose buffer is full has fallen behind, so it is dropped
// (its channel closed) and counted, and the publisher moves on.
type bus struct {
	buffer int // per-subscriber channel capacity

	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool

	dropped atomic.Uint64
}

func newBus(buffer int) *bus {
	return &bus{buffer: buffer, subs: make(map[*Subscription]struct{})}
}

// Subscription is one live-feed subscriber (a dashboard connection).
type Subscription struct {
	c   chan []byte
	bus *bus
}

// C returns the channel of ready-to-send JSON text messages, oldest first.
// The messages are shared between subscribers: read them, never modify them.
// The channel is closed when the subscriber fell behind and was dropped, when
// the subscription is closed, or when the Recorder is closed.
func (s *Subscription) C() <-chan []byte { return s.c }

// Close ends the subscription and closes its channel. It is safe to call more
// than once and concurrently with publishing.
func (s *Subscription) Close() { s.bus.remove(s) }

// subscribe adds a subscriber. After the bus is closed it returns a
// subscription whose channel is already closed.
func (b *bus) subscribe() *Subscription {
	s := &Subscription{c: make(chan []byte, b.buffer), bus: b}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(s.c)
		return s
	}
	b.subs[s] = struct{}{}
	return s
}

// publish offers msg to every subscriber without waiting. A subscriber whose
// channel is full is dropped and counted.
func (b *bus) publish(msg []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.c <- msg:
		default:
			delete(b.subs, s)
			close(s.c)
			b.dropped.Add(1)
		}
	}
}

// remove closes s if it is still subscribed.
func (b *bus) remove(s *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; !ok {
		return // already dropped or closed
	}
	delete(b.subs, s)
	close(s.c)
}

// close closes every subscription; later subscriptions start closed.
func (b *bus) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		delete(b.subs, s)
		close(s.c)
	}
}

// len reports the number of live subscribers.
func (b *bus) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// droppedSubscribers reports how many subscribers were dropped for falling behind.
func (b *bus) droppedSubscribers() uint64 { return b.dropped.Load() }
