package sim

import (
	"container/heap"

	"github.com/codeint/codeint/placement"
)

type eventKind uint8

const (
	started  eventKind = iota // the start ended: no longer in flight
	departed                  // the sandbox ended: its resources are free
	refilled                  // a warm slot is ready again
)

// event is something that happens to a node at a time. Arrivals are not
// events: they come in order from the drawn workload.
type event struct {
	at   float64
	seq  uint64 // order of scheduling, to break ties repeatably
	kind eventKind
	node *placement.Node
	res  placement.Resources
	team string
}

// eventQueue is a min-heap by time, then by order of scheduling.
type eventQueue struct {
	events []event
	seq    uint64
}

func (q *eventQueue) Len() int { return len(q.events) }
func (q *eventQueue) Less(i, j int) bool {
	a, b := &q.events[i], &q.events[j]
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}
func (q *eventQueue) Swap(i, j int) { q.events[i], q.events[j] = q.events[j], q.events[i] }
func (q *eventQueue) Push(x any)    { q.events = append(q.events, x.(event)) }
func (q *eventQueue) Pop() any {
	e := q.events[len(q.events)-1]
	q.events = q.events[:len(q.events)-1]
	return e
}

// schedule adds e.
func (q *eventQueue) schedule(e event) {
	q.seq++
	e.seq = q.seq
	heap.Push(q, e)
}

// next removes and returns the earliest event at or before t.
func (q *eventQueue) next(t float64) (event, bool) {
	if len(q.events) == 0 || q.events[0].at > t {
		return event{}, false
	}
	return heap.Pop(q).(event), true
}
