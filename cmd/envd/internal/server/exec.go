package server

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
// Result. It kills the process group at the timeout, and when the agent
// closes or resets the stream (cancel), after which it sends nothing.
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
	if err := writeCode(file, req.Code); err != nil {
		s.writeError(stream, envdproto.CodeInternal, err.Error())
		return
	}
	defer os.Remove(file)

	p, err := s.start(prog, file, s.environ(req.Env))
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
	p.finishOutput()
	if cancel {
		log.Info("execution canceled")
		return
	}
	res := result(st, duration, timedOut, req.Timeout())
	res.Truncated = out.truncated
	if err := envdproto.WriteJSON(stream, envdproto.FrameResult, res); err != nil {
		log.Warn("write result", "err", err)
	}
}

func writeCode(file, code string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
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

func result(st reaper.Status, d time.Duration, timedOut bool, limit time.Duration) *envdproto.Result {
	res := &envdproto.Result{
		DurationNS:      d.Nanoseconds(),
		CPUTimeNS:       st.Rusage.Utime.Nano() + st.Rusage.Stime.Nano(),
		PeakMemoryBytes: st.Rusage.Maxrss * 1024, // Linux reports KiB
		TimedOut:        timedOut,
	}
	switch {
	case st.Wait.Exited():
		res.ExitCode = st.Wait.ExitStatus()
	case st.Wait.Signaled():
		res.ExitCode = 128 + int(st.Wait.Signal())
		res.Error = &envdproto.ExecError{Name: envdproto.ErrNameKilled, Value: "killed by signal: " + st.Wait.Signal().String()}
	}
	if timedOut {
		res.Error = &envdproto.ExecError{Name: envdproto.ErrNameTimeout, Value: fmt.Sprintf("execution exceeded its %s timeout", limit)}
	}
	return res
}

// process is one running execution.
type process struct {
	pid     int
	started time.Time
	status  <-chan reaper.Status
	stdin   *os.File // write end
	stdout  *os.File // read end
	stderr  *os.File // read end
	readers sync.WaitGroup
}

// start forks prog FILE in its own process group, with pipes for stdio.
func (s *Server) start(prog, file string, env []string) (*process, error) {
	var files [6]*os.File // child stdin, stdout, stderr; our ends
	var err error
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
	attr := &syscall.ProcAttr{
		Dir:   s.cfg.WorkDir,
		Env:   env,
		Files: []uintptr{files[0].Fd(), files[1].Fd(), files[2].Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	}
	started := time.Now()
	pid, status, err := s.cfg.Reaper.Start(func() (int, error) {
		return syscall.ForkExec(prog, []string{prog, file}, attr)
	})
	closeAll(files[:3])
	if err != nil {
		closeAll(files[3:])
		return nil, fmt.Errorf("start %s: %w", prog, err)
	}
	return &process{pid: pid, started: started, status: status, stdin: files[3], stdout: files[4], stderr: files[5]}, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// kill sends SIGKILL to the whole process group. The leader is not reaped
// before its status is taken, so the group id cannot have been reused.
func (p *process) kill() {
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
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
	if err := envdproto.WriteOutput(o.w, s, data); err != nil {
		o.failed = true
	}
}
