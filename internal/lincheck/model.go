package lincheck

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// state is where one sandbox stands in the model.
type state uint8

const (
	absent   state = iota // never created (or unknown to the API)
	running               // CREATING or RUNNING
	stopping              // STOPPING: a terminate is in flight
	stopped               // STOPPED, FAILED or LOST: terminal
)

func (s state) String() string {
	switch s {
	case absent:
		return "Absent"
	case running:
		return "Running"
	case stopping:
		return "Stopping"
	case stopped:
		return "Stopped"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// notFound is the state string a read records when the API has no such
// sandbox.
const notFound = "NOT_FOUND"

// observed maps a state string returned by the API to the model state it
// shows; ok is false for a string the model does not know.
func observed(s string) (st state, ok bool) {
	switch s {
	case notFound:
		return absent, true
	case "CREATING", "RUNNING":
		return running, true
	case "STOPPING":
		return stopping, true
	case "STOPPED", "FAILED", "LOST":
		return stopped, true
	}
	return 0, false
}

// opKind says which API call an operation was.
type opKind uint8

const (
	opCreate opKind = iota + 1
	opTerminate
	opRead
)

// input is what the client asked: the call and the sandbox it names (for a
// create, the id it got back).
type input struct {
	kind opKind
	id   string
}

// output is what the client got back: an outcome for a terminate, the API
// state string (or NOT_FOUND) for a read. A create has no output beyond its
// id.
type output struct {
	outcome Outcome
	state   string
}

// step returns every state the sandbox may be in after the operation, given
// that it was in s; none when the operation could not have returned what it
// did from s.
func step(s state, in input, out output) []state {
	switch in.kind {
	case opCreate:
		if s == absent {
			return []state{running}
		}
		return nil // a second create returned the same id
	case opTerminate:
		return stepTerminate(s, out.outcome)
	case opRead:
		return stepRead(s, out.state)
	}
	return nil
}

func stepTerminate(s state, o Outcome) []state {
	switch o {
	case OK:
		// Terminating a stopped sandbox returns it as it is.
		if s == absent {
			return nil
		}
		return []state{stopped}
	case NotFound:
		if s == absent {
			return []state{absent}
		}
		return nil
	case Unknown:
		// It may or may not have happened; on an absent id it could only
		// have failed with NOT_FOUND.
		if s == absent || s == stopped {
			return []state{s}
		}
		return []state{s, stopped}
	}
	return nil
}

func stepRead(s state, got string) []state {
	seen, ok := observed(got)
	if !ok {
		return nil
	}
	switch {
	case seen == s:
		return []state{s}
	case seen == stopping && s == running:
		// A terminate in flight shows STOPPING before it completes.
		return []state{stopping}
	case seen == stopped && (s == running || s == stopping):
		// The sandbox stopped on its own: lifetime over, node lost.
		return []state{stopped}
	}
	return nil
}

// newModel is the porcupine model of one sandbox, partitioned by id.
func newModel() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Partition: partitionByID,
		Init:      func() []interface{} { return []interface{}{absent} },
		Step: func(st, in, out interface{}) []interface{} {
			next := step(st.(state), in.(input), out.(output))
			res := make([]interface{}, len(next))
			for i, s := range next {
				res[i] = s
			}
			return res
		},
		Hash:              func(st interface{}) uint64 { return uint64(st.(state)) },
		DescribeOperation: func(in, out interface{}) string { return describe(in.(input), out.(output)) },
		DescribeState:     func(st interface{}) string { return st.(state).String() },
	}
	return nm.ToModel()
}

// describe renders an operation for errors and the visualisation.
func describe(in input, out output) string {
	switch in.kind {
	case opCreate:
		return fmt.Sprintf("create() -> %s", in.id)
	case opTerminate:
		return fmt.Sprintf("terminate(%s) -> %s", in.id, out.outcome)
	case opRead:
		return fmt.Sprintf("read(%s) -> %s", in.id, out.state)
	}
	return fmt.Sprintf("op%d(%s)", in.kind, in.id)
}

// partitionByID splits a history into one sub-history per sandbox id, in the
// order each id first appears, each keeping the history's order.
func partitionByID(history []porcupine.Operation) [][]porcupine.Operation {
	index := make(map[string]int)
	var parts [][]porcupine.Operation
	for _, op := range history {
		id := op.Input.(input).id
		i, ok := index[id]
		if !ok {
			i = len(parts)
			index[id] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], op)
	}
	return parts
}
