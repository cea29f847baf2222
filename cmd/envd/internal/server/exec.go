package server

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/codeint/codeint/cmd/envd/internal/reaper"
	"github.com/codeint/codeint/nodeagent/envdproto"
	"github.com/codeint/codeint/nodeagent/toolchain"
	"golang.org/x/sys/unix"
)

// drainGrace is how long envd keeps reading a finished program's pipes for
// output still buffered in them. A background process that holds the pipes
// open longer loses them: envd closes its ends.
const drainGrace = 200 * time.Millisecond

// exec runs one request on stream: Output frames while it runs, then a
// Result. A compiled language is first compiled in a build directory of
// its own (Config.BuildDir), the compiler's output kept for the Result,
// and runs only if that succeeds. envd kills the execution's processes at
// the timeout, which covers both steps, and when the agent closes or
// resets the stream (cancel), after which it sends nothing.
func (s *Server) exec(stream net.Conn, req *envdproto.ExecRequest) {
	if req.ContextID != "" {
		s.execInContext(stream, req)
		return
	}
	log := s.cfg.Logger.With("execution_id", req.ID)
	lang, err := lookupLanguage(req.Language)
	switch {
	case errors.Is(err, toolchain.ErrUnknownLanguage):
		s.writeError(stream, envdproto.CodeInvalidArgument, fmt.Sprintf("unknown language %q", req.Language))
		return
	case err != nil: // not installed: the template offers what the host has
		s.writeError(stream, envdproto.CodeInternal, err.Error())
		return
	}
	if err := checkEnv(req.Env); err != nil {
		s.writeError(stream, envdproto.CodeInvalidArgument, err.Error())
		return
	}
	cwd, err := s.workDir(req.Cwd)
	if err != nil {
		s.writeError(stream, envdproto.CodeInvalidArgument, err.Error())
		return
	}
	deadline := time.Now().Add(req.Timeout())
	dir, src, cleanup, err := s.placeSource(lang, req.Code)
	if err != nil {
		s.writeError(stream, envdproto.CodeInternal, err.Error())
		return
	}
	defer cleanup()

	env := req.Env
	if lang.env != nil {
		env = maps.Clone(lang.env(s.cfg.WorkDir))
		maps.Copy(env, req.Env)
	}
	sp := spawn{env: s.environ(env), dir: cwd, cpuSeconds: cpuSeconds(req.CPUTime())}
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
	// The agent sends nothing after the request: a read that returns means
	// it closed or reset the stream, or the session died.
	canceled := watchClose(stream)

	var compile *envdproto.CompileResult
	if lang.compile != nil {
		sp.argv = lang.compile(dir, src)
		sink := &outputSink{limit: req.OutputLimit(), capture: &[3]strings.Builder{}}
		o, err := s.stage(sp, "", sink, deadline, canceled, stream)
		if err != nil {
			log.Error("start compile", "err", err)
			s.writeError(stream, envdproto.CodeInternal, err.Error())
			return
		}
		if o.canceled {
			log.Info("execution canceled while compiling")
			return
		}
		compile = &envdproto.CompileResult{ExitCode: exitCode(o.st), Stdout: sink.capture[envdproto.StreamStdout].String(),
			Stderr: sink.capture[envdproto.StreamStderr].String(), Truncated: sink.truncated, DurationNS: o.duration.Nanoseconds()}
		if o.timedOut || failed(o.st) {
			res := result(o.st, o.duration, o.timedOut, req)
			res.Compile = compile
			if !o.timedOut {
				res.Error = &envdproto.ExecError{Name: envdproto.ErrNameCompile,
					Value: fmt.Sprintf("compilation failed (exit status %d)", compile.ExitCode), Traceback: compile.Stderr + compile.Stdout}
			}
			s.writeResult(stream, res, log)
			return
		}
	}

	sp.argv = append(lang.run(dir, src), req.Args...)
	out := &outputSink{w: stream, limit: req.OutputLimit()}
	o, err := s.stage(sp, req.Stdin, out, deadline, canceled, stream)
	if err != nil {
		log.Error("start execution", "err", err)
		s.writeError(stream, envdproto.CodeInternal, err.Error())
		return
	}
	if o.canceled {
		log.Info("execution canceled")
		return
	}
	res := result(o.st, o.duration, o.timedOut, req)
	if !o.timedOut && o.st.Wait.Signaled() && o.st.Wait.Signal() == syscall.SIGKILL && s.mem != nil && s.mem.killedFor(o.pid, sp.group) {
		res.Error = &envdproto.ExecError{Name: envdproto.ErrNameOOM,
			Value: fmt.Sprintf("out of memory: the sandbox's %d MiB limit was reached and the program was killed", s.cfg.MemoryLimit>>20)}
	}
	if res.Error == nil && failed(o.st) && s.diskFull() {
		res.Error = &envdproto.ExecError{Name: envdproto.ErrNameDiskFull,
			Value: "a writable directory (" + strings.Join(s.cfg.WritableDirs, ", ") + ") is full"}
	}
	res.Truncated = out.truncated
	res.Compile = compile
	s.writeResult(stream, res, log)
}

func (s *Server) writeResult(stream net.Conn, res *envdproto.Result, log *slog.Logger) {
	if err := envdproto.WriteJSON(stream, envdproto.FrameResult, res); err != nil {
		log.Warn("write result", "err", err)
	}
}

// watchClose returns a channel closed once the agent closes or resets
// stream (or the session dies): the agent sends nothing after its
// request, so a read that returns means that. The watcher consumes
// stream's reads.
func watchClose(stream net.Conn) <-chan struct{} {
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stream)
		close(closed)
	}()
	return closed
}

// outcome is how one step (compile or run) of an execution ended.
type outcome struct {
	st                 reaper.Status
	duration           time.Duration
	timedOut, canceled bool
	pid                int
}

// stage runs one step of an execution to its end: its output goes to
// sink, it is killed at deadline or when canceled closes (then stream is
// closed, to unblock output writers stuck on a full flow-control window).
func (s *Server) stage(sp spawn, stdin string, sink *outputSink, deadline time.Time, canceled <-chan struct{}, stream net.Conn) (outcome, error) {
	p, err := s.start(sp)
	if err != nil {
		return outcome{}, err
	}
	go p.feedStdin(stdin)
	p.pumpOutput(sink)
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	o := outcome{pid: p.pid}
wait:
	for {
		select {
		case o.st = <-p.status:
			break wait
		case <-timer.C:
			o.timedOut = true
			p.kill()
		case <-canceled:
			o.canceled = true
			p.kill()
			stream.Close()
			canceled = nil
		}
	}
	o.duration = time.Since(p.started)
	if o.timedOut && p.group > 0 {
		// A process forked while the leader died may have escaped the
		// first sweep.
		killGroup(p.group)
	}
	p.finishOutput()
	return o, nil
}

// placeSource writes the program's source where its language's steps
// read it: for an interpreted language a file in the run dir, for a
// compiled one a fresh build directory under Config.BuildDir, the user's.
// cleanup removes what it made.
func (s *Server) placeSource(lang language, code string) (dir, src string, cleanup func(), err error) {
	if lang.compile == nil {
		src = filepath.Join(s.cfg.RunDir, fmt.Sprintf("exec-%d-%s", s.seq.Add(1), lang.source(code)))
		if err := s.writeCode(src, code); err != nil {
			return "", "", nil, err
		}
		return s.cfg.RunDir, src, func() { os.Remove(src) }, nil
	}
	dir = filepath.Join(s.cfg.BuildDir, buildDirName(s.seq.Add(1)))
	src = filepath.Join(dir, lang.source(code))
	// Made as the user, who then owns the directory its compiler writes
	// to. mkdir fails on anything already there (a planted symlink).
	err = s.asUser(func() error {
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		return os.WriteFile(src, []byte(code), 0o600)
	})
	cleanup = func() {
		if err := s.asUser(func() error { return os.RemoveAll(dir) }); err != nil {
			s.cfg.Logger.Warn("remove build dir", "dir", dir, "err", err)
		}
	}
	if err != nil {
		cleanup()
		return "", "", nil, fmt.Errorf("make build dir: %w", err)
	}
	return dir, src, cleanup, nil
}

// workDir returns an execution's working directory: cwd, which must be an
// absolute path to a directory the user may enter, or Config.WorkDir.
func (s *Server) workDir(cwd string) (string, error) {
	if cwd == "" {
		return s.cfg.WorkDir, nil
	}
	if !filepath.IsAbs(cwd) || strings.ContainsRune(cwd, 0) {
		return "", fmt.Errorf("cwd %q is not an absolute path", cwd)
	}
	err := s.asUser(func() error {
		fi, err := os.Stat(cwd)
		if err == nil && !fi.IsDir() {
			return fmt.Errorf("not a directory")
		}
		if err == nil {
			err = unix.Access(cwd, unix.X_OK)
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("cwd %q: %w", cwd, err)
	}
	return filepath.Clean(cwd), nil
}

// buildDirName is a build directory's name: unpredictable, so no other
// process can plant anything there in advance.
func buildDirName(seq uint64) string {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	return fmt.Sprintf(".codeint-build-%d-%x", seq, nonce)
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
