package server

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/codeint/codeint/cmd/envd/internal/childinit"
	"github.com/codeint/codeint/cmd/envd/internal/reaper"
	"github.com/codeint/codeint/nodeagent/envdproto"
)

// process is one running execution.
type process struct {
	pid     int
	group   int // execution gid, 0 when envd does not change credentials
	started time.Time
	status  <-chan reaper.Status
	stdin   *os.File // write end
	stdout  *os.File // read end
	stderr  *os.File // read end
	readers sync.WaitGroup
}

// spawn says how to start one execution.
type spawn struct {
	argv       []string // program and its arguments
	env        []string
	dir        string // working directory; "": Config.WorkDir
	group      int    // execution gid; 0: none
	cpuSeconds uint64 // RLIMIT_CPU; 0: none
	// extra are passed to the child as fds 3, 4, …; the caller keeps
	// (and closes) them.
	extra []*os.File
	// tty, when set, is the child's stdin, stdout and stderr and its
	// controlling terminal (in a session of its own); the process then
	// has no pipes. The caller keeps (and closes) it.
	tty *os.File
}

// start forks the execution in its own process group, with pipes for
// stdio. With Config.RunAs set the child runs as that uid and gid, with
// the execution's gid as supplementary group, and without any capability
// (the kernel clears them when every uid of a process becomes non-zero).
// When the child needs setup that only it can do (childinit), envd's own
// binary runs first and execs the program.
func (s *Server) start(sp spawn) (*process, error) {
	var files [6]*os.File // child stdin, stdout, stderr; our ends
	var err error
	if sp.tty != nil {
		return s.startTTY(sp)
	}
	if files[0], files[3], err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	if files[4], files[1], err = os.Pipe(); err != nil {
		closeAll(files[:])
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	if files[5], files[2], err = os.Pipe(); err != nil {
		closeAll(files[:])
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	pid, status, started, err := s.forkExec(sp, &syscall.SysProcAttr{Setpgid: true}, files[:3])
	closeAll(files[:3])
	if err != nil {
		closeAll(files[3:])
		return nil, err
	}
	return &process{pid: pid, group: sp.group, started: started, status: status,
		stdin: files[3], stdout: files[4], stderr: files[5]}, nil
}

// startTTY starts sp with sp.tty as its stdio and controlling terminal.
func (s *Server) startTTY(sp spawn) (*process, error) {
	sys := &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	pid, status, started, err := s.forkExec(sp, sys, []*os.File{sp.tty, sp.tty, sp.tty})
	if err != nil {
		return nil, err
	}
	return &process{pid: pid, group: sp.group, started: started, status: status}, nil
}

// forkExec starts sp with stdio (then sp.extra) as its fds, under the
// reaper, with the user's credentials and childinit when they apply.
func (s *Server) forkExec(sp spawn, sys *syscall.SysProcAttr, stdio []*os.File) (int, <-chan reaper.Status, time.Time, error) {
	if s.cfg.RunAs != nil {
		groups := []uint32{s.cfg.RunAs.GID}
		if sp.group > 0 {
			groups = append(groups, uint32(sp.group))
		}
		sys.Credential = &syscall.Credential{Uid: s.cfg.RunAs.UID, Gid: s.cfg.RunAs.GID, Groups: groups}
	}
	argv := sp.argv
	opts := childinit.Options{CPUSeconds: sp.cpuSeconds}
	if adj := s.cfg.ChildOOMScoreAdj; adj != nil {
		opts.SetOOMScore, opts.OOMScoreAdj = true, *adj
	}
	if opts != (childinit.Options{}) {
		if s.cfg.Self == "" {
			return 0, nil, time.Time{}, fmt.Errorf("limits need envd's own path (Config.Self)")
		}
		argv = childinit.Args(s.cfg.Self, opts, argv)
	}
	fds := make([]uintptr, 0, len(stdio)+len(sp.extra))
	for _, f := range append(stdio, sp.extra...) {
		fds = append(fds, f.Fd())
	}
	attr := &syscall.ProcAttr{Dir: cmp.Or(sp.dir, s.cfg.WorkDir), Env: sp.env, Files: fds, Sys: sys}
	started := time.Now()
	pid, status, err := s.cfg.Reaper.Start(func() (int, error) {
		return syscall.ForkExec(argv[0], argv, attr)
	})
	if err != nil {
		return 0, nil, time.Time{}, fmt.Errorf("start %s: %w", sp.argv[0], err)
	}
	return pid, status, started, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// kill sends SIGKILL to the process group, then to every process of the
// execution group, which also finds processes that left the process group
// (setsid, setpgid). The leader is not reaped before its status is taken,
// so the group id cannot have been reused.
func (p *process) kill() {
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	if p.group > 0 {
		killGroup(p.group)
	}
}

func (p *process) feedStdin(data string) {
	if data != "" {
		_, _ = io.WriteString(p.stdin, data) // EPIPE when the program does not read it all
	}
	p.stdin.Close()
}

// pumpOutput starts one reader per output pipe.
func (p *process) pumpOutput(out *outputSink) {
	for _, src := range []struct {
		f *os.File
		s envdproto.Stream
	}{{p.stdout, envdproto.StreamStdout}, {p.stderr, envdproto.StreamStderr}} {
		p.readers.Add(1)
		go func() {
			defer p.readers.Done()
			buf := make([]byte, envdproto.MaxOutputChunk-1)
			for {
				n, err := src.f.Read(buf)
				if n > 0 {
					out.write(src.s, buf[:n])
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// finishOutput waits a little for the readers to reach EOF, then closes the
// read ends, and waits for the readers to stop.
func (p *process) finishOutput() {
	done := make(chan struct{})
	go func() {
		p.readers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(drainGrace):
	}
	p.stdout.Close()
	p.stderr.Close()
	p.stdin.Close()
	<-done
}

// outputSink forwards output to the agent, keeping at most limit bytes per
// stream.
type outputSink struct {
	mu        sync.Mutex
	w         io.Writer
	capture   *[3]strings.Builder // when set, output is kept here instead of written to w
	limit     int
	kept      [3]int // by envdproto.Stream
	truncated bool
	failed    bool // the stream broke; keep draining the pipes
}

func (o *outputSink) write(s envdproto.Stream, data []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if room := o.limit - o.kept[s]; len(data) > room {
		data = data[:max(room, 0)]
		o.truncated = true
	}
	if len(data) == 0 || o.failed {
		return
	}
	o.kept[s] += len(data)
	if o.capture != nil {
		o.capture[s].Write(data)
		return
	}
	if err := envdproto.WriteOutput(o.w, s, data); err != nil {
		o.failed = true
	}
}
