package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/codeint/codeint/cmd/envd/internal/reaper"
	"github.com/codeint/codeint/nodeagent/envdproto"
	"golang.org/x/sys/unix"
)

// defaultPath is searched for a command when its environment has no PATH.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// defaultTerm is a terminal's TERM unless the request sets one.
const defaultTerm = "xterm-256color"

// startProcess serves ProcessStart: it starts the command, replies with
// it and, unless req.Detach, goes on as an attach on the same stream.
func (s *Server) startProcess(stream net.Conn, req *envdproto.ProcessRequest) {
	p, err := s.launch(req)
	if err != nil {
		s.replyError(stream, err, "process request", "op", req.Op, "pid", req.PID)
		return
	}
	if !s.writeProcessReply(stream, &envdproto.ProcessReply{Processes: []envdproto.ProcessInfo{p.snapshot()}}) || req.Detach {
		return
	}
	s.streamProcess(stream, p)
}

// launch validates req, starts its command and registers it.
func (s *Server) launch(req *envdproto.ProcessRequest) (*bgProc, error) {
	if req.Cmd == "" {
		return nil, invalidf("start needs a cmd")
	}
	if strings.ContainsRune(req.Cmd, 0) || strings.ContainsRune(strings.Join(req.Args, ""), 0) {
		return nil, invalidf("cmd and args must not contain NUL")
	}
	if err := checkEnv(req.Env); err != nil {
		return nil, err
	}
	if req.TimeoutMS < 0 {
		return nil, invalidf("timeoutMs must not be negative")
	}
	if req.PTY != nil && (req.PTY.Cols == 0 || req.PTY.Rows == 0) {
		return nil, invalidf("a pty needs cols and rows above 0")
	}
	cwd, err := s.workDir(req.Cwd)
	if err != nil {
		return nil, invalidf("%s", err.Error())
	}
	extra := req.Env
	if req.PTY != nil && req.Env["TERM"] == "" {
		extra = map[string]string{"TERM": defaultTerm}
		maps.Copy(extra, req.Env)
	}
	env := s.environ(extra)
	path, err := s.lookPath(req.Cmd, env, cwd)
	if err != nil {
		return nil, invalidf("%s", err.Error())
	}

	sp := spawn{argv: append([]string{path}, req.Args...), env: env, dir: cwd}
	if s.cfg.RunAs != nil {
		gid, ok := s.groups.get()
		if !ok {
			return nil, errors.New("too many processes at once: no execution group left")
		}
		sp.group = gid
	}
	var master *os.File
	if req.PTY != nil {
		var slave *os.File
		if master, slave, err = s.openPTY(*req.PTY); err != nil {
			s.releaseGroup(sp.group)
			return nil, err
		}
		sp.tty = slave
		defer slave.Close() // the process has its own; envd keeps the master
	}
	proc, err := s.start(sp)
	if err != nil {
		s.releaseGroup(sp.group)
		if master != nil {
			master.Close()
		}
		if isExecError(err) {
			return nil, invalidf("%s", err.Error())
		}
		return nil, fmt.Errorf("start process: %w", err)
	}
	if s.mem != nil {
		s.mem.begin()
	}
	p := &bgProc{
		pid: proc.pid,
		info: envdproto.ProcessInfo{PID: proc.pid, Cmd: req.Cmd, Args: req.Args, Cwd: cwd, Tag: req.Tag,
			PTY: master != nil, StartedAtNS: proc.started.UnixNano()},
		proc:  proc,
		pty:   master,
		stdin: cmpFile(master, proc.stdin),
		inSem: make(chan struct{}, 1),
		out:   newOutputHub(s.cfg.Logger.With("pid", proc.pid)),
	}
	log := s.cfg.Logger.With("pid", p.pid)
	log.Info("process started", "cmd", req.Cmd, "pty", master != nil, "tag", req.Tag)

	var readers sync.WaitGroup
	if master != nil {
		p.pump(&readers, master, envdproto.StreamStdout)
	} else {
		p.pump(&readers, proc.stdout, envdproto.StreamStdout)
		p.pump(&readers, proc.stderr, envdproto.StreamStderr)
	}
	p.inSem <- struct{}{} // taken before any input can be
	go p.feed(req.Stdin, master == nil && !req.KeepStdin)
	s.procs.add(p)
	go s.watch(p, &readers, time.Duration(req.TimeoutMS)*time.Millisecond, log)
	return p, nil
}

// cmpFile returns the first non-nil file.
func cmpFile(a, b *os.File) *os.File {
	if a != nil {
		return a
	}
	return b
}

func (s *Server) releaseGroup(gid int) {
	if gid > 0 {
		s.groups.put(gid)
	}
}

// isExecError reports whether err is execve(2) refusing the program: the
// request's fault rather than envd's.
func isExecError(err error) bool {
	for _, e := range []error{syscall.ENOENT, syscall.EACCES, syscall.ENOEXEC, syscall.ENOTDIR, syscall.EISDIR, syscall.ELOOP} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// lookPath resolves cmd as exec.LookPath does, but with the PATH of the
// process's environment (defaultPath when it has none) and the user's
// permissions: a name with a slash is taken as is (relative to cwd),
// others are searched in PATH's absolute directories (relative ones are
// skipped, as exec.LookPath refuses them).
func (s *Server) lookPath(cmd string, env []string, cwd string) (string, error) {
	if strings.Contains(cmd, "/") {
		if !filepath.IsAbs(cmd) {
			cmd = filepath.Join(cwd, cmd)
		}
		if err := s.executable(cmd); err != nil {
			return "", fmt.Errorf("command %q: %w", cmd, err)
		}
		return cmd, nil
	}
	path := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		if file := filepath.Join(dir, cmd); s.executable(file) == nil {
			return file, nil
		}
	}
	return "", fmt.Errorf("command %q not found in PATH %q", cmd, path)
}

// executable checks, with the user's file-system identity, that file is a
// regular file the user may execute.
func (s *Server) executable(file string) error {
	return s.asUser(func() error {
		fi, err := os.Stat(file)
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("not a regular file")
		}
		return unix.Faccessat(unix.AT_FDCWD, file, unix.X_OK, unix.AT_EACCESS)
	})
}

// pump starts a reader of f that publishes what it reads.
func (p *bgProc) pump(readers *sync.WaitGroup, f *os.File, s envdproto.Stream) {
	readers.Go(func() {
		buf := make([]byte, envdproto.MaxOutputChunk-1)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				p.out.publish(s, bytes.Clone(buf[:n]))
			}
			if err != nil {
				return // EOF; EIO from a terminal whose last user left; or envd closed f
			}
		}
	})
}

// feed writes the request's Stdin, then closes a pipe stdin if asked. It
// holds p.inSem (taken by the caller) until done, so inputs follow.
func (p *bgProc) feed(data string, closeAfter bool) {
	defer func() { <-p.inSem }()
	if data != "" {
		_, _ = io.WriteString(p.stdin, data) // EPIPE when the program does not read it all
	}
	if closeAfter {
		p.mu.Lock()
		if !p.stdinClosed {
			p.stdinClosed = true
			p.stdin.Close()
		}
		p.mu.Unlock()
	}
}

// watch waits for p's leader to end, killing the process at its timeout,
// then drains its output, records the exit and hands it to the attachers.
func (s *Server) watch(p *bgProc, readers *sync.WaitGroup, timeout time.Duration, log *slog.Logger) {
	var deadline <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		deadline = timer.C
	}
	var st reaper.Status
	timedOut := false
wait:
	for {
		select {
		case st = <-p.proc.status:
			break wait
		case <-deadline:
			timedOut, deadline = true, nil
			log.Info("process timed out", "timeout", timeout)
			p.mu.Lock()
			p.proc.kill()
			p.mu.Unlock()
		}
	}
	ended := time.Now()
	if timedOut && p.proc.group > 0 {
		killGroup(p.proc.group) // what forked while the leader died
	}
	p.mu.Lock()
	p.reaped = true // from here on nothing signals the groups
	if !p.stdinClosed && p.pty == nil {
		p.stdinClosed = true
		p.stdin.Close()
	}
	p.mu.Unlock()
	// The allocator hands a gid out again only after it went round all of
	// them, and then only if no live process carries it: what the leader
	// left running keeps its gid to itself.
	s.releaseGroup(p.proc.group)
	if s.mem != nil {
		s.mem.end()
	}

	drainOutput(p, readers)
	exit := &envdproto.ProcessExit{ExitCode: exitCode(st), TimedOut: timedOut, Truncated: p.out.isTruncated(),
		EndedAtNS: ended.UnixNano()}
	if st.Wait.Signaled() {
		exit.Signal = unix.SignalName(st.Wait.Signal())
	}
	p.mu.Lock()
	p.exit = exit
	p.mu.Unlock()
	s.procs.retire(p) // before the attachers learn the end, so a list then is up to date
	p.out.end(exit)
	log.Info("process ended", "exit_code", exit.ExitCode, "signal", exit.Signal, "timed_out", timedOut)
}

// drainOutput gives the readers drainGrace to reach the end of the output,
// then closes envd's ends (processes the leader left running lose them)
// and waits for the readers.
func drainOutput(p *bgProc, readers *sync.WaitGroup) {
	done := make(chan struct{})
	go func() {
		readers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(drainGrace):
	}
	if p.pty != nil {
		p.pty.Close()
	} else {
		p.proc.stdout.Close()
		p.proc.stderr.Close()
	}
	<-done
}
