package lincheck

import (
	"fmt"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Outcome is how a terminateSandbox call ended.
type Outcome int

// The zero Outcome is none of these, so a forgotten classification is caught
// by Check rather than read as success.
const (
	// OK: the call returned the sandbox (as STOPPED).
	OK Outcome = iota + 1
	// NotFound: the call returned NOT_FOUND.
	NotFound
	// Unknown: the call failed in a way that leaves open whether the
	// terminate happened (a timeout, UNAVAILABLE from a dying server).
	Unknown
)

// String returns the outcome's name.
func (o Outcome) String() string {
	switch o {
	case OK:
		return "OK"
	case NotFound:
		return "NOT_FOUND"
	case Unknown:
		return "UNKNOWN"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// returnsAtEnd marks the Return of an operation whose outcome is unknown:
// Check replaces it with a time after every other operation, since the
// operation may take effect at any point up to the end of the history.
const returnsAtEnd int64 = -1

// Recorder collects operations from many goroutines. Each method is called
// as the client issues the call and returns a done func to call, exactly
// once, when the call returns. Times come from a monotonic clock and are
// strictly increasing across the Recorder, so a call that returned before
// another started is ordered before it.
//
// A Recorder is safe for concurrent use.
type Recorder struct {
	start time.Time

	mu   sync.Mutex
	last int64 // last timestamp handed out, in ns since start
	ops  []porcupine.Operation
}

// NewRecorder returns an empty Recorder whose clock starts now.
func NewRecorder() *Recorder {
	return &Recorder{start: time.Now()}
}

// Create records a createSandbox call by client. Call done with the id the
// call returned, or with the error it failed with; a create that failed (or
// returned no id) is not recorded, since no later operation can name it.
func (r *Recorder) Create(client int) (done func(id string, err error)) {
	call := r.now()
	return func(id string, err error) {
		if err != nil || id == "" {
			return
		}
		r.record(client, call, input{kind: opCreate, id: id}, output{})
	}
}

// Terminate records a terminateSandbox(id) call by client. Call done with
// its outcome: OK, NotFound, or Unknown when it failed in a way that leaves
// open whether it happened.
func (r *Recorder) Terminate(client int, id string) (done func(outcome Outcome)) {
	call := r.now()
	return func(outcome Outcome) {
		in := input{kind: opTerminate, id: id}
		out := output{outcome: outcome}
		if outcome == Unknown {
			r.append(client, call, returnsAtEnd, in, out)
			return
		}
		r.record(client, call, in, out)
	}
}

// Read records a sandbox(id, consistency: LINEARIZABLE) query by client.
// Call done with the state the API returned ("RUNNING", "STOPPED", …) or
// "NOT_FOUND", or with the error the query failed with; a failed read is not
// recorded.
func (r *Recorder) Read(client int, id string) (done func(state string, err error)) {
	call := r.now()
	return func(state string, err error) {
		if err != nil {
			return
		}
		r.record(client, call, input{kind: opRead, id: id}, output{state: state})
	}
}

// Len returns the number of operations recorded so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ops)
}

// now returns a timestamp later than every one handed out before it.
func (r *Recorder) now() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tickLocked()
}

func (r *Recorder) tickLocked() int64 {
	t := time.Since(r.start).Nanoseconds()
	if t <= r.last {
		t = r.last + 1
	}
	r.last = t
	return t
}

// record appends an operation that returns now.
func (r *Recorder) record(client int, call int64, in input, out output) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op(client, call, r.tickLocked(), in, out))
}

func (r *Recorder) append(client int, call, ret int64, in input, out output) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op(client, call, ret, in, out))
}

func op(client int, call, ret int64, in input, out output) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

// history returns a copy of the recorded operations, ordered by call time,
// with the unknown-outcome ones returning after everything else.
func (r *Recorder) history() []porcupine.Operation {
	r.mu.Lock()
	ops := append([]porcupine.Operation(nil), r.ops...)
	end := r.last + 1
	r.mu.Unlock()
	for i := range ops {
		if ops[i].Return == returnsAtEnd {
			ops[i].Return = end
		}
	}
	sortByCall(ops)
	return ops
}
