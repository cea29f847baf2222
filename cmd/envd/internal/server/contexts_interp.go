package server

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/codeint/codeint/cmd/envd/internal/kernel"
	"github.com/codeint/codeint/cmd/envd/internal/reaper"
	"github.com/codeint/codeint/nodeagent/toolchain"
)

// stopWait bounds how long stopping an interpreter waits for it to be
// reaped after SIGKILL (a process in an uninterruptible sleep).
const stopWait = 5 * time.Second

// clockTicks is the unit of the times in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture envd runs on, gVisor included).
const clockTicks = 100

// interp is one interpreter process of a context: a context has a new one
// after each restart.
type interp struct {
	k      *kernel.Kernel
	pid    int // also its process group
	group  int // the context's execution gid; 0 without RunAs
	exited chan struct{}
	// status and oom are set before exited closes: how it ended, and
	// whether envd's OOM killer ended it.
	status reaper.Status
	oom    bool
}

// startInterp starts an interpreter for c, as the user, in its own
// process group, with c's gid.
func (s *Server) startInterp(c *interpContext) (*interp, error) {
	tools, err := toolchain.Find(c.lang)
	if err != nil {
		return nil, err
	}
	it := &interp{group: c.group, exited: make(chan struct{})}
	k, err := kernel.Start(kernel.Config{
		Language: c.lang,
		Tools:    tools,
		Start: func(argv []string, files []*os.File) (<-chan struct{}, error) {
			sp := spawn{argv: argv, env: s.environ(c.env), dir: c.cwd, group: c.group, extra: files[3:]}
			pid, status, _, err := s.forkExec(sp, &syscall.SysProcAttr{Setpgid: true}, files[:3])
			if err != nil {
				return nil, err
			}
			it.pid = pid
			go s.awaitInterp(it, status)
			return it.exited, nil
		},
	})
	if err != nil {
		if it.pid != 0 {
			it.kill()
			s.waitInterp(it)
		}
		return nil, fmt.Errorf("start the %s interpreter: %w", c.lang, err)
	}
	it.k = k
	return it, nil
}

// awaitInterp records how it ended once the reaper reports it.
func (s *Server) awaitInterp(it *interp, status <-chan reaper.Status) {
	st := <-status
	it.status = st
	it.oom = s.mem != nil && st.Wait.Signaled() && st.Wait.Signal() == syscall.SIGKILL && s.mem.killedFor(it.pid, it.group)
	close(it.exited)
}

// hasExited reports whether the process has been reaped; its pid (and
// process group id) may then belong to another process.
func (it *interp) hasExited() bool {
	select {
	case <-it.exited:
		return true
	default:
		return false
	}
}

// ended reports whether it can run no more cells.
func (it *interp) ended() bool {
	return it.hasExited() || it.k.Dead()
}

// interrupt sends SIGINT to the interpreter's process group; callers go
// through kernel.Interrupt, which sends it only once the cell runs.
func (it *interp) interrupt() {
	if !it.hasExited() {
		_ = syscall.Kill(-it.pid, syscall.SIGINT)
	}
}

// kill sends SIGKILL to the interpreter's process group and to every
// process with the context's gid.
func (it *interp) kill() {
	if !it.hasExited() {
		_ = syscall.Kill(-it.pid, syscall.SIGKILL)
	}
	if it.group > 0 {
		killGroup(it.group)
	}
}

// waitInterp waits (a bounded while) for it to be reaped.
func (s *Server) waitInterp(it *interp) {
	select {
	case <-it.exited:
	case <-time.After(stopWait):
		s.cfg.Logger.Warn("context interpreter not reaped after SIGKILL", "pid", it.pid)
	}
}

// stopInterp kills it and releases its kernel.
func (s *Server) stopInterp(it *interp) {
	it.kill()
	s.waitInterp(it)
	it.k.Close()
}

// describeEnd says how a reaped interpreter ended, for a CONTEXT_DIED
// error.
func (s *Server) describeEnd(it *interp) string {
	if !it.hasExited() {
		return "the interpreter stopped answering and was killed"
	}
	w := it.status.Wait
	switch {
	case it.oom:
		return fmt.Sprintf("the interpreter ran out of memory: the sandbox's %d MiB limit was reached and it was killed", s.cfg.MemoryLimit>>20)
	case w.Signaled():
		return fmt.Sprintf("the interpreter was killed by signal %d (%s)", int(w.Signal()), w.Signal())
	default:
		return fmt.Sprintf("the interpreter exited with status %d", w.ExitStatus())
	}
}

// cpuTime returns the CPU time of pid and of its children it waited for
// (/proc/PID/stat), false when it cannot be read.
func cpuTime(pid int) (time.Duration, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false
	}
	fields := bytes.Fields(data[i+1:])
	// fields[0] is field 3 (state); utime, stime, cutime, cstime are
	// fields 14 to 17.
	if len(fields) < 15 {
		return 0, false
	}
	var ticks int64
	for _, f := range fields[11:15] {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, true
}

// peakMemory returns pid's peak resident set since it started (VmHWM), 0
// when it cannot be read.
func peakMemory(pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			if f := bytes.Fields(rest); len(f) > 0 {
				kb, _ := strconv.ParseInt(string(f[0]), 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
