package kernel

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"golang.org/x/sys/unix"
)

// DefaultReadyTimeout bounds how long Start waits for the driver's ready
// event when Config.ReadyTimeout is zero. Loading the typescript package
// alone takes half a second on a fast machine.
const DefaultReadyTimeout = 30 * time.Second

// ErrBusy is returned by Run while another cell runs.
var ErrBusy = errors.New("kernel: a cell is running")

// StartFunc starts argv as the interpreter with files as its file
// descriptors 0, 1, 2, 3, … (blocking pipe ends, which Start closes once
// StartFunc returns), and returns a channel closed once the process has
// ended. The caller owns the process: it signals and kills it.
type StartFunc func(argv []string, files []*os.File) (exited <-chan struct{}, err error)

// Config says which interpreter to start and how.
type Config struct {
	// Language is envdproto's name of it: PYTHON, JAVASCRIPT, TYPESCRIPT.
	Language string
	// Tools are its executables as toolchain.Find returns them.
	Tools []string
	// Start starts the process.
	Start StartFunc
	// ReadyTimeout bounds the wait for the driver to start; 0:
	// DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

// Sink receives what a cell produces, in order, on the goroutine that
// reads the interpreter's pipes.
type Sink interface {
	// Output is what was written on stdout or stderr during the cell, in
	// chunks of at most envdproto.MaxOutputChunk-1 bytes.
	Output(s envdproto.Stream, data []byte)
	// Display is a rich result (a trailing value, display(), a figure).
	Display(d envdproto.DisplayData)
}

// Cell is one piece of code to run.
type Cell struct {
	Code  string
	Stdin string            // the cell's stdin
	Env   map[string]string // set for the cell only
}

// Outcome is how a cell ended.
type Outcome struct {
	// Error is what the cell raised (an interrupt: Name
	// envdproto.ErrNameInterrupted); nil when it succeeded.
	Error *envdproto.ExecError
	// Died says the interpreter ended, or broke the protocol, before the
	// cell did; Error is nil then. The kernel is done for: the caller
	// kills the process and closes the kernel.
	Died bool
}

// Kernel is one running interpreter. Its methods are safe for concurrent
// use; cells run one at a time.
type Kernel struct {
	exited   <-chan struct{}
	requests *os.File // fd 3's write end
	acks     *os.File // fd 5's write end
	// The read ends of fds 1, 2, 4 and the wake pipe (non-blocking, read
	// by loop alone), and the wake pipe's write end; Close closes them.
	stdout, stderr, events int
	wakeR, wakeW           int
	// loop's own buffers: output read, event bytes read, and the event
	// line read so far.
	obuf, ebuf, partial []byte

	closing   chan struct{} // closed by Close
	closeOnce sync.Once
	ready     chan struct{} // closed when the ready event arrives
	loopDone  chan struct{} // closed when loop has returned
	watchDone chan struct{} // closed when watch has returned

	mu      sync.Mutex
	cell    *cellState // the running cell; nil when idle
	dead    bool       // loop ended: no more cells
	startup bytes4k    // output before the ready event, for Start's error
	readyOK bool       // ready event seen
	reason  string     // why loop ended, when it was not the process's exit
}

// cellState is the running cell's.
type cellState struct {
	sink Sink
	done chan Outcome // buffered: receives the outcome once
	// started: the driver has begun running the cell's code (its
	// "started" event). interrupt is an interrupt asked for before that.
	started   bool
	interrupt func()
}

// request is the JSON line of a cell on fd 3.
type request struct {
	Code  string            `json:"code"`
	Stdin string            `json:"stdin,omitempty"`
	Env   map[string]string `json:"env,omitempty"`
}

// Start starts cfg's interpreter and waits until its driver is ready.
// When it fails after cfg.Start succeeded, the process may still run:
// the caller kills it.
func Start(cfg Config) (*Kernel, error) {
	argv, err := Command(cfg.Language, cfg.Tools)
	if err != nil {
		return nil, err
	}
	p, err := newPipes()
	if err != nil {
		return nil, err
	}
	exited, err := cfg.Start(argv, p.child[:])
	p.closeChild()
	if err != nil {
		p.closeOurs()
		return nil, fmt.Errorf("kernel: start %s: %w", cfg.Language, err)
	}
	k := &Kernel{
		exited:   exited,
		requests: os.NewFile(uintptr(p.requests), "kernel-requests"),
		acks:     os.NewFile(uintptr(p.acks), "kernel-acks"),
		stdout:   p.stdout, stderr: p.stderr, events: p.events,
		wakeR: p.wakeR, wakeW: p.wakeW,
		closing:   make(chan struct{}),
		ready:     make(chan struct{}),
		loopDone:  make(chan struct{}),
		watchDone: make(chan struct{}),
	}
	go k.loop()
	go k.watch()
	timeout := cfg.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-k.ready:
		return k, nil
	case <-k.loopDone:
		k.Close()
		return nil, fmt.Errorf("kernel: %s interpreter ended before it was ready%s", cfg.Language, k.startupOutput())
	case <-timer.C:
		k.Close()
		return nil, fmt.Errorf("kernel: %s interpreter not ready after %s%s", cfg.Language, timeout, k.startupOutput())
	}
}

// startupOutput quotes what the interpreter printed before it was ready.
func (k *Kernel) startupOutput() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if out := strings.TrimSpace(k.startup.String()); out != "" {
		return ": " + out
	}
	if k.reason != "" {
		return ": " + k.reason
	}
	return ""
}

// Run runs one cell: what it produces goes to sink as it comes, and Run
// returns when the cell has ended or the interpreter is gone
// (Outcome.Died). It returns ErrBusy while another cell runs.
func (k *Kernel) Run(c Cell, sink Sink) (Outcome, error) {
	line, err := json.Marshal(request{Code: c.Code, Stdin: c.Stdin, Env: c.Env})
	if err != nil {
		return Outcome{}, fmt.Errorf("kernel: encode cell: %w", err)
	}
	cs := &cellState{sink: sink, done: make(chan Outcome, 1)}
	k.mu.Lock()
	switch {
	case k.dead:
		k.mu.Unlock()
		return Outcome{Died: true}, nil
	case k.cell != nil:
		k.mu.Unlock()
		return Outcome{}, ErrBusy
	}
	k.cell = cs
	k.mu.Unlock()
	// The write may block on a driver that does not read (it is stuck,
	// or the request is larger than the pipe): the cell's end (or the
	// process's) must not wait for it. Once the process is gone it fails
	// (EPIPE); the file's descriptor is closed (by Close) only after the
	// write has returned, as os.File counts its users.
	go func() {
		_, _ = k.requests.Write(append(line, '\n')) // an error: the driver is gone, and loop says so
	}()
	return <-cs.done, nil
}

// Interrupt asks the running cell to stop: it calls signal (which sends
// the interpreter SIGINT) at once when the cell's code runs, or as soon as
// it starts when the driver has not begun it yet (a SIGINT then would hit
// an idle driver, which ignores it). Between cells it does nothing.
func (k *Kernel) Interrupt(signal func()) {
	k.mu.Lock()
	cs := k.cell
	if cs == nil {
		k.mu.Unlock()
		return
	}
	if !cs.started {
		cs.interrupt = signal
		k.mu.Unlock()
		return
	}
	k.mu.Unlock()
	signal()
}

// Dead reports whether the kernel can run no more cells: the interpreter
// ended or broke the protocol, or Close was called.
func (k *Kernel) Dead() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.dead
}

// Close stops reading the interpreter and releases the pipes; a running
// cell ends with Outcome.Died. The driver exits once it sees its requests
// end, unless the caller killed it first (as it should, Close does not
// wait for the process). Close may be called more than once.
func (k *Kernel) Close() {
	k.closeOnce.Do(func() {
		close(k.closing)
		<-k.watchDone
		<-k.loopDone
		k.requests.Close()
		k.acks.Close()
		for _, fd := range []int{k.stdout, k.stderr, k.events, k.wakeR, k.wakeW} {
			unix.Close(fd)
		}
	})
}

// watch wakes loop when the process has ended or Close was called.
func (k *Kernel) watch() {
	defer close(k.watchDone)
	select {
	case <-k.exited:
	case <-k.closing:
	}
	_, _ = unix.Write(k.wakeW, []byte{0})
}

// bytes4k keeps the first 4 KiB written to it.
type bytes4k struct{ b []byte }

func (b *bytes4k) write(p []byte) {
	if room := 4096 - len(b.b); room > 0 {
		b.b = append(b.b, p[:min(room, len(p))]...)
	}
}

func (b *bytes4k) String() string { return string(b.b) }
