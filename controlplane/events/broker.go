package events

import (
	"context"
	"sync"

	"github.com/codeint/codeint/controlplane/structs"
)

// DefaultBuffer is the number of events a subscriber may fall behind by
// before it is dropped.
const DefaultBuffer = 256

// Filter selects the events a subscriber receives. Empty fields match all.
type Filter struct {
	TeamID    string
	SandboxID string
}

func (f Filter) match(ev structs.SandboxEvent) bool {
	if ev.Sandbox == nil {
		return false
	}
	if f.TeamID != "" && ev.Sandbox.TeamID != f.TeamID {
		return false
	}
	return f.SandboxID == "" || ev.Sandbox.ID == f.SandboxID
}

type subscriber struct {
	filter Filter
	ch     chan structs.SandboxEvent
}

// Broker fans sandbox events out to subscribers.
type Broker struct {
	buffer int

	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

// NewBroker returns a broker whose subscribers may lag by buffer events
// (DefaultBuffer when buffer ≤ 0).
func NewBroker(buffer int) *Broker {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &Broker{buffer: buffer, subs: make(map[*subscriber]struct{})}
}

// Publish hands ev to every matching subscriber without blocking. The
// sandbox in ev must not be changed afterwards by anyone.
func (b *Broker) Publish(ev structs.SandboxEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if !s.filter.match(ev) {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			// Too slow: drop it rather than stall the Raft apply loop.
			delete(b.subs, s)
			close(s.ch)
		}
	}
}

// Subscribe returns a channel of the events that match f, from now on. The
// channel is closed when ctx ends, when the subscriber falls behind, or
// when the broker closes.
func (b *Broker) Subscribe(ctx context.Context, f Filter) <-chan structs.SandboxEvent {
	s := &subscriber{filter: f, ch: make(chan structs.SandboxEvent, b.buffer)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		close(s.ch)
		return s.ch
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()

	go func() {
		<-ctx.Done()
		b.remove(s)
	}()
	return s.ch
}

func (b *Broker) remove(s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.ch)
	}
}

// Subscribers returns how many subscribers are attached now.
func (b *Broker) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Close closes every subscriber's channel; later subscriptions get a
// closed channel.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		delete(b.subs, s)
		close(s.ch)
	}
}
