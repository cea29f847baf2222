package server

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/codeint/codeint/nodeagent/envdproto"
	"golang.org/x/sys/unix"
)

// Background commands and terminals (envdproto.ProcessRequest). Unlike an
// exec, a process started here belongs to no stream: it outlives the
// request that started it and every attach, and lives as long as the
// sandbox (or its TimeoutMS). Its PID is its handle.
//
//	procs.go         the table and the control operations
//	procs_start.go   start: validation, PATH lookup, spawn, the watcher
//	procs_output.go  the kept history and the fan-out to attachers
//	pty.go           terminals

// maxExited is how many ended processes the table keeps (the most recent),
// with their output, for list and attach.
const maxExited = 64

// inputTimeout bounds how long an input (or a PTY close) waits for the
// process to take its bytes: a program that does not read its stdin must
// not hold the request for ever.
const inputTimeout = 10 * time.Second

// processTable holds the processes started through ProcessRequest,
// running and recently ended. Safe for concurrent use.
type processTable struct {
	mu     sync.Mutex
	procs  map[int]*bgProc
	exited []*bgProc // ended, oldest first; at most maxExited
}

func newProcessTable() *processTable {
	return &processTable{procs: make(map[int]*bgProc)}
}

// add registers a started process. A pid the kernel reused replaces the
// ended process that had it.
func (t *processTable) add(p *bgProc) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.procs[p.pid]; old != nil {
		t.exited = slices.DeleteFunc(t.exited, func(e *bgProc) bool { return e == old })
		old.out.release()
	}
	t.procs[p.pid] = p
}

func (t *processTable) get(pid int) *bgProc {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.procs[pid]
}

// all returns every process, oldest first.
func (t *processTable) all() []*bgProc {
	t.mu.Lock()
	ps := make([]*bgProc, 0, len(t.procs))
	for _, p := range t.procs {
		ps = append(ps, p)
	}
	t.mu.Unlock()
	slices.SortFunc(ps, func(a, b *bgProc) int {
		return cmp.Or(cmp.Compare(a.info.StartedAtNS, b.info.StartedAtNS), cmp.Compare(a.pid, b.pid))
	})
	return ps
}

// retire records that p ended; beyond maxExited ended processes the
// oldest is forgotten and its history released.
func (t *processTable) retire(p *bgProc) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.procs[p.pid] != p {
		p.out.release() // already replaced by a process that reused the pid
		return
	}
	t.exited = append(t.exited, p)
	for len(t.exited) > maxExited {
		old := t.exited[0]
		t.exited[0] = nil
		t.exited = t.exited[1:]
		if t.procs[old.pid] == old {
			delete(t.procs, old.pid)
		}
		old.out.release()
	}
}

// bgProc is one process of the table.
type bgProc struct {
	pid  int
	info envdproto.ProcessInfo // the fixed fields; Running and Exit are filled in by snapshot
	proc *process
	pty  *os.File // the terminal's master; nil without a terminal
	// stdin is where input goes: the stdin pipe's write end, or pty.
	stdin *os.File
	// inSem serializes writes to stdin (the request's Stdin, inputs, a
	// terminal's EOT) so they arrive whole and in order.
	inSem chan struct{}
	out   *outputHub

	mu          sync.Mutex
	reaped      bool // the leader ended: no more signals, input or resizes
	stdinClosed bool
	exit        *envdproto.ProcessExit // once ended and its output drained
}

// snapshot returns what list and the replies show of p.
func (p *bgProc) snapshot() envdproto.ProcessInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	info := p.info
	info.Args = slices.Clone(info.Args)
	info.Running = p.exit == nil
	if p.exit != nil {
		e := *p.exit
		info.Exit = &e
	}
	return info
}

// processRequest serves one ProcessRequest on stream.
func (s *Server) processRequest(stream net.Conn, req *envdproto.ProcessRequest) {
	switch req.Op {
	case envdproto.ProcessStart:
		s.startProcess(stream, req)
		return
	case envdproto.ProcessList:
		var rep envdproto.ProcessReply
		rep.Processes = []envdproto.ProcessInfo{}
		for _, p := range s.procs.all() {
			rep.Processes = append(rep.Processes, p.snapshot())
		}
		s.writeProcessReply(stream, &rep)
		return
	case envdproto.ProcessAttach, envdproto.ProcessInput, envdproto.ProcessClose,
		envdproto.ProcessSignal, envdproto.ProcessResize:
	default:
		s.writeError(stream, envdproto.CodeInvalidArgument, fmt.Sprintf("unknown process op %q", req.Op))
		return
	}
	p := s.procs.get(req.PID)
	if p == nil {
		s.writeError(stream, envdproto.CodeNotFound, fmt.Sprintf("no process %d", req.PID))
		return
	}
	var err error
	switch req.Op {
	case envdproto.ProcessAttach:
		if s.writeProcessReply(stream, &envdproto.ProcessReply{Processes: []envdproto.ProcessInfo{p.snapshot()}}) {
			s.streamProcess(stream, p)
		}
		return
	case envdproto.ProcessInput:
		err = p.write(req.Data)
	case envdproto.ProcessClose:
		err = p.closeStdin()
	case envdproto.ProcessSignal:
		err = p.signal(req.Signal)
	case envdproto.ProcessResize:
		err = p.resize(req.Size)
	}
	if err != nil {
		s.replyError(stream, err, "process request", "op", req.Op, "pid", req.PID)
		return
	}
	s.writeProcessReply(stream, &envdproto.ProcessReply{Processes: []envdproto.ProcessInfo{p.snapshot()}})
}

// writeProcessReply writes rep and reports whether it went out.
func (s *Server) writeProcessReply(stream net.Conn, rep *envdproto.ProcessReply) bool {
	if err := envdproto.WriteJSON(stream, envdproto.FrameProcessReply, rep); err != nil {
		s.cfg.Logger.Warn("write process reply", "err", err)
		return false
	}
	return true
}

// write sends data to p's stdin (its terminal for a PTY). It waits at
// most inputTimeout for earlier writes and for the process to take data.
func (p *bgProc) write(data []byte) error {
	if err := p.stdinOpen(); err != nil {
		return err
	}
	select {
	case p.inSem <- struct{}{}:
	case <-time.After(inputTimeout):
		return preconditionf("process %d is not reading its input", p.pid)
	}
	defer func() { <-p.inSem }()
	if err := p.stdinOpen(); err != nil { // closed while this waited
		return err
	}
	_ = p.stdin.SetWriteDeadline(time.Now().Add(inputTimeout))
	n, err := p.stdin.Write(data)
	_ = p.stdin.SetWriteDeadline(time.Time{})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return preconditionf("process %d did not read its input within %s (%d of %d bytes written)", p.pid, inputTimeout, n, len(data))
	case errors.Is(err, os.ErrClosed), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.EIO):
		return preconditionf("process %d: stdin is closed (%d of %d bytes written)", p.pid, n, len(data))
	}
	return fmt.Errorf("write to process %d: %w", p.pid, err)
}

func (p *bgProc) stdinOpen() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.reaped:
		return preconditionf("process %d has exited", p.pid)
	case p.stdinClosed:
		return preconditionf("process %d: stdin is closed", p.pid)
	}
	return nil
}

// eot is what a terminal's line discipline reads as end of input (^D) at
// the start of a line in canonical mode.
const eot = 0x04

// closeStdin closes p's stdin: the pipe's write end, so the program reads
// EOF once it drained what was written (a pending input fails). A
// terminal is not closed (that would hang up its session): it gets an EOT
// (^D), which a program reading the terminal in canonical mode at the
// start of a line takes as EOF (a shell exits, cat ends); a program in
// raw mode just reads the byte. Closing a closed stdin succeeds.
func (p *bgProc) closeStdin() error {
	if p.pty != nil {
		return p.write([]byte{eot})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return preconditionf("process %d has exited", p.pid)
	}
	if !p.stdinClosed {
		p.stdinClosed = true
		p.stdin.Close()
	}
	return nil
}

// parseSignal maps the signal names ProcessRequest allows to signals.
func parseSignal(name string) (syscall.Signal, bool) {
	switch name {
	case "SIGTERM", "SIGKILL", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGSTOP", "SIGCONT":
		return unix.SignalNum(name), true
	}
	return 0, false
}

// signal sends the named signal to p's process group. For a terminal it
// goes to the terminal's foreground group too (where ^C would send it),
// when that is another one: a job the shell runs. SIGKILL also sweeps the
// execution group, so processes that left the process group die too.
// Signals are sent only while the leader was not reaped, so the group
// ids cannot belong to anything else.
func (p *bgProc) signal(name string) error {
	sig, ok := parseSignal(name)
	if !ok {
		return invalidf("unsupported signal %q", name)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return preconditionf("process %d has exited", p.pid)
	}
	err := syscall.Kill(-p.pid, sig)
	if p.pty != nil {
		if fg, ferr := foregroundGroup(p.pty); ferr == nil && fg > 0 && fg != p.pid {
			_ = syscall.Kill(-fg, sig)
		}
	}
	if sig == syscall.SIGKILL {
		p.proc.kill()
	}
	if err != nil && !errors.Is(err, syscall.ESRCH) { // ESRCH: the group is only its reaped leader
		return fmt.Errorf("signal process %d: %w", p.pid, err)
	}
	return nil
}

// resize sets p's terminal size.
func (p *bgProc) resize(size *envdproto.PTYSize) error {
	if p.pty == nil {
		return preconditionf("process %d has no terminal", p.pid)
	}
	if size == nil || size.Cols == 0 || size.Rows == 0 {
		return invalidf("resize needs a size with cols and rows above 0")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return preconditionf("process %d has exited", p.pid)
	}
	return setTermSize(p.pty, *size)
}
