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

// Broker fans sandbox events out to subscribers.
type Broker struct{ h *hub[structs.SandboxEvent] }

// NewBroker returns a broker whose subscribers may lag by buffer events
// (DefaultBuffer when buffer ≤ 0).
func NewBroker(buffer int) *Broker { return &Broker{h: newHub[structs.SandboxEvent](buffer)} }

// Publish hands ev to every matching subscriber without blocking. The
// sandbox in ev must not be changed afterwards by anyone.
func (b *Broker) Publish(ev structs.SandboxEvent) { b.h.publish(ev) }

// Subscribe returns a channel of the events that match f, from now on. The
// channel is closed when ctx ends, when the subscriber falls behind, or
// when the broker closes.
func (b *Broker) Subscribe(ctx context.Context, f Filter) <-chan structs.SandboxEvent {
	return b.h.subscribe(ctx, f.match)
}

// Subscribers returns how many subscribers are attached now.
func (b *Broker) Subscribers() int { return b.h.count() }

// Close closes every subscriber's channel; later subscriptions get a
// closed channel.
func (b *Broker) Close() { b.h.close() }

// NodeBroker fans node events (registered, down, ready) out to
// subscribers, as Broker does sandbox events.
type NodeBroker struct{ h *hub[structs.NodeEvent] }

// NewNodeBroker returns a node broker (buffer as NewBroker's).
func NewNodeBroker(buffer int) *NodeBroker { return &NodeBroker{h: newHub[structs.NodeEvent](buffer)} }

// Publish hands ev to every subscriber without blocking.
func (b *NodeBroker) Publish(ev structs.NodeEvent) { b.h.publish(ev) }

// Subscribe returns a channel of every node event from now on, closed as
// Broker's are.
func (b *NodeBroker) Subscribe(ctx context.Context) <-chan structs.NodeEvent {
	return b.h.subscribe(ctx, func(structs.NodeEvent) bool { return true })
}

// Close closes every subscriber's channel.
func (b *NodeBroker) Close() { b.h.close() }

// hub fans events of one type out to the subscribers they match.
type hub[E any] struct {
	buffer int

	mu     sync.Mutex
	subs   map[*subscriber[E]]struct{}
	closed bool
}

type subscriber[E any] struct {
	match func(E) bool
	ch    chan E
}

func newHub[E any](buffer int) *hub[E] {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &hub[E]{buffer: buffer, subs: make(map[*subscriber[E]]struct{})}
}

func (h *hub[E]) publish(ev E) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if !s.match(ev) {
			continue
		}
		select {
		case s.ch <- ev:
		default:
			// Too slow: drop it rather than stall the Raft apply loop.
			delete(h.subs, s)
			close(s.ch)
		}
	}
}

func (h *hub[E]) subscribe(ctx context.Context, match func(E) bool) <-chan E {
	s := &subscriber[E]{match: match, ch: make(chan E, h.buffer)}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		close(s.ch)
		return s.ch
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()

	go func() {
		<-ctx.Done()
		h.remove(s)
	}()
	return s.ch
}

func (h *hub[E]) remove(s *subscriber[E]) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

func (h *hub[E]) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *hub[E]) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.ch)
	}
}
