package export

import (
	"context"
	"errors"
	"sync"
	"time"
)

// memSource is a Source over a fixed set of buckets that honours the
// contract: hours strictly after `after`, ended by upTo.
type memSource struct {
	mu      sync.Mutex
	buckets []Bucket
	calls   []sourceCall
}

type sourceCall struct{ after, upTo time.Time }

func (s *memSource) add(bs ...Bucket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buckets = append(s.buckets, bs...)
}

func (s *memSource) ClosedHours(after, upTo time.Time) ([]Bucket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, sourceCall{after, upTo})
	var out []Bucket
	for _, b := range s.buckets {
		if b.Hour.After(after) && !b.Hour.Add(time.Hour).After(upTo) {
			out = append(out, b)
		}
	}
	return out, nil
}

// memCursor stands for the cursor kept in Raft; it records every save.
type memCursor struct {
	mu    sync.Mutex
	at    time.Time
	saves []time.Time
	fail  error
}

func (c *memCursor) Load() (time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at, nil
}

func (c *memCursor) Save(_ context.Context, h time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return c.fail
	}
	c.at = h
	c.saves = append(c.saves, h)
	return nil
}

func (c *memCursor) get() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

var errInjected = errors.New("injected failure")

// hour returns 2026-03-04 at h:00 UTC.
func hour(h int) time.Time { return time.Date(2026, 3, 4, h, 0, 0, 0, time.UTC) }
