package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codeint/codeint/cmd/envd/internal/reaper"
	"github.com/codeint/codeint/nodeagent/envdproto"
	"github.com/hashicorp/yamux"
)

// firstFrameTimeout bounds how long a new stream may stay silent.
const firstFrameTimeout = 30 * time.Second

// Config configures a Server.
type Config struct {
	// RunDir is envd's private directory for code files (/run/envd).
	RunDir string
	// WorkDir is the working directory of executions (/home/user), and
	// their HOME: compilers keep their caches under it.
	WorkDir string
	// BuildDir is where compiled languages get a build directory per
	// execution (/tmp: writable, sticky, exec allowed).
	BuildDir string
	// Env is the environment every execution starts from, as KEY=VALUE;
	// a request's env is added on top.
	Env []string
	// Reaper owns wait4; executions register their child with it.
	Reaper *reaper.Reaper
	// Logger receives envd's logs (stderr; stdout carries the protocol).
	Logger *slog.Logger

	// RunAs, when not nil, are the credentials executions run with; nil
	// keeps envd's own (envd outside a container, in tests). envd needs
	// CAP_SETUID and CAP_SETGID to use them, and CAP_KILL to kill what
	// then runs as another uid.
	RunAs *Credential
	// Self is envd's own binary, run first in every child that needs
	// setup before the program (package childinit): a CPU-time limit, or
	// ChildOOMScoreAdj. Empty: such executions fail.
	Self string
	// ChildOOMScoreAdj, when not nil, is the oom_score_adj every
	// execution sets for itself before its program starts: positive, so
	// the OOM killer takes user processes before envd (whose own, perhaps
	// -1000, children would otherwise inherit).
	ChildOOMScoreAdj *int
	// WritableDirs are the size-limited writable directories checked,
	// after a failed execution, to name it DISK_FULL.
	WritableDirs []string
	// MemoryLimit, when not zero, turns on envd's own OOM killer (see
	// memWatch) at that many bytes in use in the sandbox: for gVisor,
	// whose host OOM killer would end the whole sandbox.
	MemoryLimit uint64
	// FileRoot confines file operations: a path must resolve inside it
	// (symlinks followed). Empty means "/".
	FileRoot string
}

// Server serves envdproto streams.
type Server struct {
	cfg    Config
	seq    atomic.Uint64 // names code files
	wg     sync.WaitGroup
	env    map[string]string // Config.Env parsed
	groups *groupAllocator   // execution gids, used when cfg.RunAs is set
	mem    *memWatch         // nil unless cfg.MemoryLimit is set
	ctxs   *contextTable     // code-interpreter contexts (contexts.go)
	procs  *processTable     // background commands and terminals (procs.go)
}

// Credential is an unprivileged uid and gid for executions.
type Credential struct {
	UID, GID uint32
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, env: make(map[string]string), groups: newGroupAllocator(),
		ctxs: newContextTable(), procs: newProcessTable()}
	if cfg.MemoryLimit > 0 {
		s.mem = newMemWatch(cfg.MemoryLimit)
	}
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		if k != "" && !strings.HasPrefix(k, envdproto.EnvReserved) {
			s.env[k] = v
		}
	}
	return s
}

// Serve accepts streams from sess until it closes, then waits for the
// streams being handled and returns.
func (s *Server) Serve(sess *yamux.Session) error {
	defer s.wg.Wait()
	for {
		stream, err := sess.Accept()
		if err != nil {
			if errors.Is(err, yamux.ErrSessionShutdown) || errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("envd: accept stream: %w", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(stream)
		}()
	}
}

// handle serves one stream: it reads the request frame and answers.
// It closes the stream.
func (s *Server) handle(stream net.Conn) {
	defer stream.Close()
	_ = stream.SetReadDeadline(time.Now().Add(firstFrameTimeout))
	typ, payload, err := envdproto.ReadFrame(stream)
	if err != nil {
		s.cfg.Logger.Warn("read request", "err", err)
		return
	}
	_ = stream.SetReadDeadline(time.Time{})
	switch typ {
	case envdproto.FramePing:
		if err := envdproto.WriteFrame(stream, envdproto.FramePong, nil); err != nil {
			s.cfg.Logger.Warn("write pong", "err", err)
		}
	case envdproto.FrameExecRequest:
		var req envdproto.ExecRequest
		if err := envdproto.DecodeJSON(typ, payload, &req); err != nil {
			s.writeError(stream, envdproto.CodeInvalidArgument, err.Error())
			return
		}
		s.exec(stream, &req)
	case envdproto.FrameContextRequest:
		var req envdproto.ContextRequest
		if err := envdproto.DecodeJSON(typ, payload, &req); err != nil {
			s.writeError(stream, envdproto.CodeInvalidArgument, err.Error())
			return
		}
		s.contextRequest(stream, &req)
	case envdproto.FrameFileRequest:
		var req envdproto.FileRequest
		if err := envdproto.DecodeJSON(typ, payload, &req); err != nil {
			s.writeError(stream, envdproto.CodeInvalidArgument, err.Error())
			return
		}
		s.fileRequest(stream, &req)
	case envdproto.FrameProcessRequest:
		var req envdproto.ProcessRequest
		if err := envdproto.DecodeJSON(typ, payload, &req); err != nil {
			s.writeError(stream, envdproto.CodeInvalidArgument, err.Error())
			return
		}
		s.processRequest(stream, &req)
	default:
		s.writeError(stream, envdproto.CodeInvalidArgument, fmt.Sprintf("unexpected %s frame", typ))
	}
}

func (s *Server) writeError(w io.Writer, code, msg string) {
	if err := envdproto.WriteJSON(w, envdproto.FrameError, &envdproto.Error{Code: code, Message: msg}); err != nil {
		s.cfg.Logger.Warn("write error frame", "err", err)
	}
}

// environ merges the base environment with extra (validated by the caller),
// extra winning, sorted by key so children see a stable order. Reserved
// keys (envdproto.EnvReserved) are envd's parameters and are left out.
func (s *Server) environ(extra map[string]string) []string {
	merged := make(map[string]string, len(s.env)+len(extra))
	for k, v := range s.env {
		merged[k] = v
	}
	for k, v := range extra {
		if !strings.HasPrefix(k, envdproto.EnvReserved) {
			merged[k] = v
		}
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	env := make([]string, 0, len(keys))
	for _, k := range keys {
		env = append(env, k+"="+merged[k])
	}
	return env
}
