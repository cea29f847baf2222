package server

import (
	"encoding/json"
	"fmt"
	"net"
	"time"

	"github.com/codeint/codeint/cmd/envd/internal/kernel"
	"github.com/codeint/codeint/nodeagent/envdproto"
)

// interruptGrace is how long a cell that ran out of time has, once
// interrupted, to end before its interpreter is killed and started afresh.
const interruptGrace = 2 * time.Second

// exitWait is how long envd waits, after the kernel reports its
// interpreter gone, for the process to be reaped (so it can say how it
// ended) before it kills it as unresponsive.
const exitWait = time.Second

// execInContext runs req's code as a cell of its context: Output and
// Display frames as they come, then a Result. A cell past its timeout is
// interrupted, then (interruptGrace later) its interpreter is killed and
// started afresh; a cancel (the agent closes the stream) interrupts it
// and envd sends nothing more, the cell's timeout still applying.
func (s *Server) execInContext(stream net.Conn, req *envdproto.ExecRequest) {
	log := s.cfg.Logger.With("execution_id", req.ID, "context_id", req.ContextID)
	c := s.ctxs.get(req.ContextID)
	switch {
	case c == nil:
		s.writeError(stream, envdproto.CodeNotFound, fmt.Sprintf("context %q not found", req.ContextID))
		return
	case req.Language != c.lang:
		s.writeError(stream, envdproto.CodeInvalidArgument,
			fmt.Sprintf("context %s runs %s, not %q", c.id, c.lang, req.Language))
		return
	case req.Cwd != "" || len(req.Args) > 0:
		s.writeError(stream, envdproto.CodeInvalidArgument, "a context execution takes no cwd nor args (the context keeps its own cwd)")
		return
	}
	if err := checkEnv(req.Env); err != nil {
		s.writeError(stream, envdproto.CodeInvalidArgument, err.Error())
		return
	}
	if !c.acquire() {
		s.writeError(stream, envdproto.CodeFailedPrecondition, fmt.Sprintf("context %s is busy: a cell is running", c.id))
		return
	}
	// Released before the Result is written: a client that sends its next
	// cell on receipt must find the context free.
	released := false
	release := func() {
		if !released {
			released = true
			c.release()
		}
	}
	defer release()
	if s.mem != nil {
		s.mem.begin()
		defer s.mem.end()
	}
	canceled := watchClose(stream)

	it, fresh, err := s.ensureInterp(c)
	if err != nil {
		s.writeContextError(stream, c, err)
		return
	}
	begin := time.Now()
	cpu0, cpuOK := cpuTime(it.pid)
	sink := &cellSink{out: &outputSink{w: stream, limit: req.OutputLimit()}}
	r := s.runCell(it, req, sink, canceled, stream)
	res := &envdproto.Result{DurationNS: time.Since(begin).Nanoseconds(), Truncated: sink.truncated(), ContextRestarted: fresh}
	switch {
	case r.outcome.Died:
		restarted, how := s.afterDeath(c, it, r.killed)
		res.ContextRestarted = res.ContextRestarted || restarted
		res.ExitCode = 1
		if it.hasExited() {
			res.ExitCode = exitCode(it.status)
		}
		res.Error = &envdproto.ExecError{Name: envdproto.ErrNameContextDied, Value: how}
		if r.timedOut {
			res.Error = &envdproto.ExecError{Name: envdproto.ErrNameTimeout,
				Value: fmt.Sprintf("the cell exceeded its %s timeout and did not stop when interrupted: %s", req.Timeout(), how)}
		}
		log.Warn("context interpreter ended during a cell", "how", how, "restarted", restarted)
	case r.timedOut:
		res.ExitCode = 1
		res.Error = &envdproto.ExecError{Name: envdproto.ErrNameTimeout,
			Value: fmt.Sprintf("the cell exceeded its %s timeout and was interrupted; the context's state was kept", req.Timeout())}
	case r.outcome.Error != nil:
		res.ExitCode = 1
		res.Error = r.outcome.Error
	}
	res.TimedOut = r.timedOut
	// After afterDeath, which waited for a dead interpreter to be reaped.
	if cpu1, peak, ok := interpUsage(it); ok && cpuOK {
		res.CPUTimeNS, res.PeakMemoryBytes = max(cpu1-cpu0, 0).Nanoseconds(), peak
	}
	if r.canceled {
		log.Info("context execution canceled")
		return
	}
	release()
	s.writeResult(stream, res, log)
}

// ensureInterp returns c's running interpreter, starting one when there
// is none or it ended while idle (fresh: the state is gone).
func (s *Server) ensureInterp(c *interpContext) (it *interp, fresh bool, err error) {
	c.life.Lock()
	defer c.life.Unlock()
	if c.removed {
		return nil, false, errContextRemoved
	}
	if cur := c.current(); cur != nil {
		if !cur.ended() {
			return cur, false, nil
		}
		s.cfg.Logger.Info("context interpreter ended while idle; starting it afresh", "context_id", c.id, "how", s.describeEnd(cur))
		s.stopInterp(cur)
		c.setCurrent(nil)
		fresh = true
	}
	it, err = s.startInterp(c)
	if err != nil {
		return nil, fresh, err
	}
	c.setCurrent(it)
	return it, fresh, nil
}

// interpUsage returns the CPU time of it and of the children it waited
// for, and its peak resident set since it started: from /proc while it
// runs, from its rusage once reaped (its pid may be another's then).
func interpUsage(it *interp) (cpu time.Duration, peak int64, ok bool) {
	if it.hasExited() {
		ru := it.status.Rusage
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Maxrss << 10, true
	}
	cpu, ok = cpuTime(it.pid)
	return cpu, peakMemory(it.pid), ok
}

// cellRun is how runCell ended.
type cellRun struct {
	outcome  kernel.Outcome
	timedOut bool // the timeout struck
	killed   bool // envd killed the interpreter (it ignored the interrupt)
	canceled bool // the agent closed the stream
}

// runCell runs the cell to its end, handling the timeout and a cancel.
func (s *Server) runCell(it *interp, req *envdproto.ExecRequest, sink *cellSink, canceled <-chan struct{}, stream net.Conn) cellRun {
	done := make(chan kernel.Outcome, 1)
	go func() {
		o, err := it.k.Run(kernel.Cell{Code: req.Code, Stdin: req.Stdin, Env: req.Env}, sink)
		if err != nil { // ErrBusy: the context's busy flag rules it out
			s.cfg.Logger.Error("run cell", "err", err)
			o = kernel.Outcome{Died: true}
		}
		done <- o
	}()
	timer := time.NewTimer(req.Timeout())
	defer timer.Stop()
	var grace <-chan time.Time
	var r cellRun
	for {
		select {
		case r.outcome = <-done:
			return r
		case <-timer.C:
			r.timedOut = true
			it.k.Interrupt(it.interrupt)
			grace = time.After(interruptGrace)
		case <-grace:
			r.killed = true
			it.kill() // Run then reports it Died
		case <-canceled:
			r.canceled = true
			canceled = nil
			sink.mute()
			stream.Close() // unblocks a write stuck on flow control
			it.k.Interrupt(it.interrupt)
		}
	}
}

// afterDeath handles its end during a cell: unless the context was
// removed or restarted meanwhile, it starts a fresh interpreter. It
// returns whether the context has one, and how the old one ended.
func (s *Server) afterDeath(c *interpContext, it *interp, killed bool) (restarted bool, how string) {
	c.life.Lock()
	defer c.life.Unlock()
	if !killed {
		select {
		case <-it.exited:
		case <-time.After(exitWait):
		}
	}
	switch {
	case c.removed:
		return false, "the context was removed"
	case c.current() != it:
		return c.current() != nil, "the context was restarted"
	}
	how = s.describeEnd(it)
	if killed {
		how = "the interpreter was killed"
	}
	s.stopInterp(it)
	c.setCurrent(nil)
	fresh, err := s.startInterp(c)
	if err != nil {
		s.cfg.Logger.Error("restart context", "context_id", c.id, "err", err)
		return false, how + fmt.Sprintf("; starting it afresh failed (%v): the next cell tries again", err)
	}
	c.setCurrent(fresh)
	return true, how + "; it was started afresh and the context's state is gone"
}

// cellSink forwards a cell's output (capped per stream, as an exec's) and
// display data to the agent.
type cellSink struct {
	out *outputSink
}

// Output implements kernel.Sink.
func (c *cellSink) Output(s envdproto.Stream, data []byte) { c.out.write(s, data) }

// Display implements kernel.Sink. Display data does not count against the
// output cap; data too large for a frame is dropped (Truncated).
func (c *cellSink) Display(d envdproto.DisplayData) {
	payload, err := json.Marshal(&d)
	o := c.out
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failed {
		return
	}
	if err != nil || len(payload) > envdproto.MaxFrameSize {
		o.truncated = true
		return
	}
	if err := envdproto.WriteFrame(o.w, envdproto.FrameDisplay, payload); err != nil {
		o.failed = true
	}
}

// mute stops all writes: the agent is gone.
func (c *cellSink) mute() {
	c.out.mu.Lock()
	c.out.failed = true
	c.out.mu.Unlock()
}

func (c *cellSink) truncated() bool {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	return c.out.truncated
}
