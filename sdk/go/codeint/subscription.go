package codeint

import (
	"context"
	"encoding/json"
	"sync"
)

// Subscription is a stream of a subscription's results, over WebSocket
// (Subscribe) or SSE (SubscribeSSE). It ends when the server completes it,
// when the context given to Subscribe ends, or on Close.
type Subscription struct {
	events   chan event    // closed by the reader when it stops
	done     chan struct{} // closed by Close
	readDone chan struct{} // closed when the reader has stopped

	closeOnce sync.Once
	teardown  func() // stops the transport, making the reader return
	stopAfter func() bool

	mu  sync.Mutex
	err error // why the stream ended; the first reason wins
}

type event struct {
	data json.RawMessage
	err  error
}

// newSubscription returns a subscription whose reader is run(s); teardown
// must make run return. ctx ending closes the subscription.
func newSubscription(ctx context.Context, teardown func(), run func(*Subscription) error) *Subscription {
	s := &Subscription{
		events:   make(chan event, 16),
		done:     make(chan struct{}),
		readDone: make(chan struct{}),
		teardown: teardown,
	}
	go func() {
		defer close(s.readDone)
		defer close(s.events)
		s.setErr(run(s))
	}()
	s.stopAfter = context.AfterFunc(ctx, func() { s.close(ctx.Err()) })
	return s
}

// Next returns the data of the next result, in the order the server sent
// them. It returns io.EOF once the server has completed the subscription,
// the server's errors as Errors, and ErrClosed after Close.
func (s *Subscription) Next(ctx context.Context) (json.RawMessage, error) {
	select {
	case <-s.done:
		return nil, s.terminal()
	default:
	}
	select {
	case ev, ok := <-s.events:
		if !ok {
			return nil, s.terminal()
		}
		return ev.data, ev.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close ends the subscription, telling the server, and waits until its
// goroutine has stopped. It is safe to call more than once.
func (s *Subscription) Close() error {
	s.close(ErrClosed)
	return nil
}

func (s *Subscription) close(reason error) {
	s.closeOnce.Do(func() {
		s.stopAfter()
		s.setErr(reason)
		close(s.done)
		s.teardown()
	})
	<-s.readDone
}

// deliver hands an event to Next; false when the subscription is closed.
func (s *Subscription) deliver(ev event) bool {
	select {
	case s.events <- ev:
		return true
	case <-s.done:
		return false
	}
}

func (s *Subscription) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *Subscription) terminal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// decodePayload turns one result ({data, errors}) into an event.
func decodePayload(raw json.RawMessage) event {
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		return event{err: &Error{Message: "undecodable result: " + err.Error(), Code: CodeInternal}}
	}
	if len(r.Errors) > 0 {
		return event{err: toErrors(r.Errors, 0)}
	}
	return event{data: r.Data}
}
