package server

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/codeint/codeint/cmd/envd/internal/reaper"
	"github.com/codeint/codeint/nodeagent/envdproto"
)

// drainGrace is how long envd keeps reading a finished program's pipes for
// output still buffered in them. A background process that holds the pipes
// open longer loses them: envd closes its ends.
const drainGrace = 200 * time.Millisecond

// interpreter returns the program and file suffix for a language.
func interpreter(lang string) (path, suffix string, ok bool) {
	switch lang {
	case envdproto.LangPython:
		return "/usr/bin/python3", ".py", true
	case envdproto.LangJavaScript:
		return "/usr/bin/node", ".js", true
	case envdproto.LangBash:
		return "/bin/bash", ".sh", true
	}
	return "", "", false
}

// exec runs one request on stream: Output frames while it runs, then a
// Result. It kills the execution's processes at the timeout, and when the
// agent closes or resets the stream (cancel), after which it sends nothing.
func (s *Server) exec(stream net.Conn, req *envdproto.ExecRequest) {
	log := s.cfg.Logger.With("execution_id", req.ID)
	prog, suffix, ok := interpreter(req.Language)
	if !ok {
		s.writeError(stream, envdproto.CodeInvalidArgument, fmt.Sprintf("unknown language %q", req.Language))
		return
	}
	for k, v := range req.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.Contains(v, "\x00") {
			s.writeError(stream, envdproto.CodeInvalidArgument, fmt.Sprintf("invalid env variable %q", k))
			return
		}
	}
	file := filepath.Join(s.cfg.RunDir, fmt.Sprintf("exec-%d%s", s.seq.Add(1), suffix))
	if err := s.writeCode(file, req.Code); err != nil {
		s.writeError(stream, envdproto.CodeInternal, err.Error())
		return
	}
	defer os.Remove(file)

	sp := spawn{argv: []string{prog, file}, env: s.environ(req.Env), cpuSeconds: cpuSeconds(req.CPUTime())}
	if s.cfg.RunAs != nil {
		gid, ok := s.groups.get()
		if !ok {
			s.writeError(stream, envdproto.CodeInternal, "too many executions at once")
			return
		}
		defer s.groups.put(gid)
		sp.group = gid
	}
	if s.mem != nil {
		s.mem.begin()
		defer s.mem.end()
	}
	p, err := s.start(sp)
	if err != nil {
		log.Error("start execution", "err", err)
		s.writeError(stream, envdproto.CodeInternal, err.Error())
		return
	}
	go p.feedStdin(req.Stdin)
	out := &outputSink{w: stream, limit: req.OutputLimit()}
	p.pumpOutput(out)

	// The agent sends nothing after the request: a read that returns means
	// it closed or reset the stream, or the session died.
	canceled := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stream)
		close(canceled)
	}()

	timer := time.NewTimer(req.Timeout())
	defer timer.Stop()
	var timedOut, cancel bool
	var st reaper.Status
wait:
	for {
		select {
		case st = <-p.status:
			break wait
		case <-timer.C:
			timedOut = true
			p.kill()
		case <-canceled:
			cancel = true
			p.kill()
			// Unblock output writers stuck on a full flow-control window.
			stream.Close()
			canceled = nil
		}
	}
	duration := time.Since(p.started)
	if timedOut && p.group > 0 {
		// A process forked while the leader died may have escaped the
		// first sweep.
		killGroup(p.group)
	}
	p.finishOutput()
	if cancel {
		log.Info("execution canceled")
		return
	}
	res := result(st, duration, timedOut, req)
	if !timedOut && st.Wait.Signaled() && st.Wait.Signal() == syscall.SIGKILL && s.mem != nil && s.mem.killedFor(p.pid, p.group) {
		res.Error = &envdproto.ExecError{Name: envdproto.ErrNameOOM,
			Value: fmt.Sprintf("out of memory: the sandbox's %d MiB limit was reached and the program was killed", s.cfg.MemoryLimit>>20)}
	}
	if res.Error == nil && failed(st) && s.diskFull() {
		res.Error = &envdproto.ExecError{Name: envdproto.ErrNameDiskFull,
			Value: "a writable directory (" + strings.Join(s.cfg.WritableDirs, ", ") + ") is full"}
	}
	res.Truncated = out.truncated
	if err := envdproto.WriteJSON(stream, envdproto.FrameResult, res); err != nil {
		log.Warn("write result", "err", err)
	}
}

// writeCode writes the program's source. When executions run as another
// uid the file must be readable by it: mode 0644 in a run dir of mode 0711,
// whose entries cannot be listed, so only a process that knows the name (in
// practice the execution's own, of the same uid anyway) reads it.
func (s *Server) writeCode(file, code string) error {
	mode := os.FileMode(0o600)
	if s.cfg.RunAs != nil {
		mode = 0o644
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("write code file: %w", err)
	}
	if _, err := f.WriteString(code); err != nil {
		f.Close()
		return fmt.Errorf("write code file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write code file: %w", err)
	}
	return nil
}
