package sandboxes

import (
	"context"
	"maps"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/envdclient"
	"github.com/codeint/codeint/nodeagent/envdproto"
)

// ProcessesAPI runs commands and terminals in a team's sandboxes. They
// live in the sandbox, apart from the request that started them, until
// they end, are killed, or the sandbox stops; a PID is their handle.
type ProcessesAPI interface {
	// StartProcess starts a command (a terminal when in.PTY is set) and
	// returns at once.
	StartProcess(ctx context.Context, teamID, sandboxID string, in ProcessInput) (*Process, error)
	// FollowProcess streams a process's output (what it wrote before,
	// then live) and then its exit, until ctx ends; the channel is then
	// closed. With start set it first starts it (from in) and sends the
	// Process.
	FollowProcess(ctx context.Context, teamID, sandboxID string, pid int, start *ProcessInput) (<-chan ProcessEvent, error)
	Processes(ctx context.Context, teamID, sandboxID string) ([]Process, error)
	SendInput(ctx context.Context, teamID, sandboxID string, pid int, data []byte) (*Process, error)
	CloseStdin(ctx context.Context, teamID, sandboxID string, pid int) (*Process, error)
	Signal(ctx context.Context, teamID, sandboxID string, pid int, signal string) (*Process, error)
	Resize(ctx context.Context, teamID, sandboxID string, pid int, cols, rows int) (*Process, error)
}

var _ ProcessesAPI = (*Service)(nil)

// ProcessInput is a command to start.
type ProcessInput struct {
	Cmd       string
	Args      []string
	Cwd       string
	Env       []structs.EnvVar
	Stdin     string
	KeepStdin bool
	Timeout   time.Duration // 0: as long as the sandbox lives
	Tag       string
	PTY       *TerminalSize
}

// TerminalSize is a terminal's size in characters.
type TerminalSize struct{ Cols, Rows int }

// Process is a command or terminal in a sandbox.
type Process struct {
	PID       int
	Cmd       string
	Args      []string
	Cwd       string
	Tag       string
	PTY       bool
	StartedAt time.Time
	Running   bool
	Exit      *ProcessExit
}

// ProcessExit is how a process ended.
type ProcessExit struct {
	ExitCode  int
	Signal    string
	TimedOut  bool
	Truncated bool
	EndedAt   time.Time
}

// ProcessEvent is one event of a followed process: exactly one field is set.
type ProcessEvent struct {
	Started *Process
	Output  *agentapi.OutputChunk
	Exit    *ProcessExit
}

// Bounds of process requests.
const (
	maxTerminalSide = 1000    // columns or rows
	maxInputBytes   = 1 << 20 // one SendInput
)

func (s *Service) checkProcessInput(in *ProcessInput) error {
	if in.Cmd == "" {
		return invalid("cmd is empty")
	}
	if _, err := checkEnv(in.Env); err != nil {
		return err
	}
	if err := checkArgs(in.Args, in.Cwd, s.cfg.Limits.MaxCodeBytes); err != nil {
		return err
	}
	if len(in.Stdin) > s.cfg.Limits.MaxCodeBytes {
		return invalid("stdin is %d bytes; the limit is %d", len(in.Stdin), s.cfg.Limits.MaxCodeBytes)
	}
	if in.Timeout < 0 {
		return invalid("timeoutSeconds must be positive")
	}
	if p := in.PTY; p != nil && (p.Cols <= 0 || p.Rows <= 0 || p.Cols > maxTerminalSide || p.Rows > maxTerminalSide) {
		return invalid("a terminal's cols and rows must be between 1 and %d, got %dx%d", maxTerminalSide, p.Cols, p.Rows)
	}
	return nil
}

// startRequest is in as envd takes it, with the sandbox's env under the
// command's own (a warm-started sandbox's envd does not have it).
func startRequest(sb *structs.Sandbox, in *ProcessInput, detach bool) *envdproto.ProcessRequest {
	env := envMap(sb.Env)
	if own := envMap(in.Env); own != nil {
		if env == nil {
			env = own
		} else {
			maps.Copy(env, own)
		}
	}
	req := &envdproto.ProcessRequest{Op: envdproto.ProcessStart, Cmd: in.Cmd, Args: in.Args, Cwd: in.Cwd, Env: env,
		Stdin: in.Stdin, KeepStdin: in.KeepStdin, Detach: detach, TimeoutMS: in.Timeout.Milliseconds(), Tag: in.Tag}
	if in.PTY != nil {
		req.PTY = &envdproto.PTYSize{Cols: uint16(in.PTY.Cols), Rows: uint16(in.PTY.Rows)}
	}
	return req
}

// StartProcess starts a command detached from the request.
func (s *Service) StartProcess(ctx context.Context, teamID, sandboxID string, in ProcessInput) (*Process, error) {
	if err := s.checkProcessInput(&in); err != nil {
		return nil, err
	}
	sb, err := s.Get(ctx, teamID, sandboxID)
	if err != nil {
		return nil, err
	}
	p, err := s.oneProcess(ctx, teamID, sandboxID, startRequest(sb, &in, true))
	if err == nil {
		s.log.Info("process started", "event", "process_start", "sandbox_id", sandboxID, "team_id", teamID,
			"pid", p.PID, "cmd", in.Cmd, "pty", in.PTY != nil)
	}
	return p, err
}

// Processes lists a sandbox's processes.
func (s *Service) Processes(ctx context.Context, teamID, sandboxID string) ([]Process, error) {
	rep, err := s.processCall(ctx, teamID, sandboxID, &envdproto.ProcessRequest{Op: envdproto.ProcessList})
	if err != nil {
		return nil, err
	}
	out := make([]Process, 0, len(rep.Processes))
	for i := range rep.Processes {
		out = append(out, toProcess(&rep.Processes[i]))
	}
	return out, nil
}

// SendInput writes data to a process's stdin (a terminal's input).
func (s *Service) SendInput(ctx context.Context, teamID, sandboxID string, pid int, data []byte) (*Process, error) {
	if len(data) > maxInputBytes {
		return nil, invalid("input is %d bytes; the limit is %d", len(data), maxInputBytes)
	}
	return s.oneProcess(ctx, teamID, sandboxID, &envdproto.ProcessRequest{Op: envdproto.ProcessInput, PID: pid, Data: data})
}

// CloseStdin closes a process's stdin.
func (s *Service) CloseStdin(ctx context.Context, teamID, sandboxID string, pid int) (*Process, error) {
	return s.oneProcess(ctx, teamID, sandboxID, &envdproto.ProcessRequest{Op: envdproto.ProcessClose, PID: pid})
}

// Signal sends a signal to a process's group.
func (s *Service) Signal(ctx context.Context, teamID, sandboxID string, pid int, signal string) (*Process, error) {
	return s.oneProcess(ctx, teamID, sandboxID, &envdproto.ProcessRequest{Op: envdproto.ProcessSignal, PID: pid, Signal: signal})
}

// Resize resizes a terminal.
func (s *Service) Resize(ctx context.Context, teamID, sandboxID string, pid int, cols, rows int) (*Process, error) {
	if cols <= 0 || rows <= 0 || cols > maxTerminalSide || rows > maxTerminalSide {
		return nil, invalid("cols and rows must be between 1 and %d, got %dx%d", maxTerminalSide, cols, rows)
	}
	return s.oneProcess(ctx, teamID, sandboxID, &envdproto.ProcessRequest{Op: envdproto.ProcessResize, PID: pid,
		Size: &envdproto.PTYSize{Cols: uint16(cols), Rows: uint16(rows)}})
}

func (s *Service) oneProcess(ctx context.Context, teamID, sandboxID string, req *envdproto.ProcessRequest) (*Process, error) {
	if req.Op != envdproto.ProcessStart && req.PID <= 0 {
		return nil, invalid("pid must be positive, got %d", req.PID)
	}
	rep, err := s.processCall(ctx, teamID, sandboxID, req)
	if err != nil {
		return nil, err
	}
	if len(rep.Processes) != 1 {
		return nil, apperr.New(apperr.Internal, "envd answered %s with %d processes", req.Op, len(rep.Processes))
	}
	p := toProcess(&rep.Processes[0])
	return &p, nil
}

func (s *Service) processCall(ctx context.Context, teamID, sandboxID string, req *envdproto.ProcessRequest) (*envdproto.ProcessReply, error) {
	sb, stream, err := s.openEnvd(ctx, teamID, sandboxID)
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	var rep envdproto.ProcessReply
	if err := envdclient.Call(ctx, stream, envdproto.FrameProcessRequest, req, envdproto.FrameProcessReply, &rep); err != nil {
		return nil, s.envdError(ctx, sb.ID, err)
	}
	return &rep, nil
}

// FollowProcess attaches to a process (starting it first when start is
// set) and streams it.
func (s *Service) FollowProcess(ctx context.Context, teamID, sandboxID string, pid int, start *ProcessInput) (<-chan ProcessEvent, error) {
	var req *envdproto.ProcessRequest
	if start != nil {
		if err := s.checkProcessInput(start); err != nil {
			return nil, err
		}
		sb, err := s.Get(ctx, teamID, sandboxID)
		if err != nil {
			return nil, err
		}
		req = startRequest(sb, start, false)
	} else {
		if pid <= 0 {
			return nil, invalid("pid must be positive, got %d", pid)
		}
		req = &envdproto.ProcessRequest{Op: envdproto.ProcessAttach, PID: pid}
	}
	sb, stream, err := s.openEnvd(ctx, teamID, sandboxID)
	if err != nil {
		return nil, err
	}
	var rep envdproto.ProcessReply
	if err := envdclient.Call(ctx, stream, envdproto.FrameProcessRequest, req, envdproto.FrameProcessReply, &rep); err != nil {
		stream.Close()
		return nil, s.envdError(ctx, sb.ID, err)
	}
	out := make(chan ProcessEvent, 64)
	stop := context.AfterFunc(ctx, func() { stream.Close() })
	send := func(ev ProcessEvent) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	go func() {
		defer close(out)
		defer stop()
		defer stream.Close()
		if start != nil && len(rep.Processes) == 1 {
			p := toProcess(&rep.Processes[0])
			if !send(ProcessEvent{Started: &p}) {
				return
			}
		}
		var seq int64
		for {
			typ, payload, err := envdproto.ReadFrame(stream)
			if err != nil {
				return
			}
			switch typ {
			case envdproto.FrameOutput:
				seq++
				c, err := envdclient.DecodeChunk(payload, seq)
				if err != nil {
					return
				}
				if !send(ProcessEvent{Output: &c}) {
					return
				}
			case envdproto.FrameProcessExit:
				var e envdproto.ProcessExit
				if envdproto.DecodeJSON(typ, payload, &e) == nil {
					send(ProcessEvent{Exit: toProcessExit(&e)})
				}
				return
			default:
				return
			}
		}
	}()
	return out, nil
}

func toProcess(p *envdproto.ProcessInfo) Process {
	return Process{PID: p.PID, Cmd: p.Cmd, Args: p.Args, Cwd: p.Cwd, Tag: p.Tag, PTY: p.PTY,
		StartedAt: time.Unix(0, p.StartedAtNS).UTC(), Running: p.Running, Exit: toProcessExit(p.Exit)}
}

func toProcessExit(e *envdproto.ProcessExit) *ProcessExit {
	if e == nil {
		return nil
	}
	return &ProcessExit{ExitCode: e.ExitCode, Signal: e.Signal, TimedOut: e.TimedOut, Truncated: e.Truncated,
		EndedAt: time.Unix(0, e.EndedAtNS).UTC()}
}
