package sandboxes

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/nodeagent/agentapi"
)

// Execute runs code in a team's sandbox.
func (s *Service) Execute(ctx context.Context, teamID, sandboxID string, in ExecuteInput, onEvent func(ExecEvent)) (*ExecutionResult, error) {
	ctx, span := tracer.Start(ctx, "sandboxes.Execute")
	defer span.End()
	span.SetAttributes(attribute.String("sandbox_id", sandboxID), attribute.String("team_id", teamID),
		attribute.String("language", in.Language))

	sb, err := s.getStarted(ctx, teamID, sandboxID)
	if err != nil {
		return nil, err
	}
	timeout, err := s.resolveExec(in, sb.Template)
	if err != nil {
		return nil, err
	}
	if sb.State != structs.SandboxRunning && sb.State != structs.SandboxExecuting {
		s.cfg.Metrics.ExecutionError(ctx, in.Language)
		if sb.State.Terminal() {
			return nil, describeStopped(sb)
		}
		return nil, apperr.New(apperr.FailedPrecondition, "sandbox %s is %s; wait until it is RUNNING", sb.ID, sb.State)
	}
	agent, ok := s.cfg.Agents.Get(sb.NodeID)
	if !ok {
		return nil, apperr.New(apperr.Unavailable, "the node of sandbox %s (%s) is not reachable", sb.ID, sb.NodeID)
	}

	id := newID("ex_")
	span.SetAttributes(attribute.String("execution_id", id))
	// The sandbox's own variables were given to the agent at start, which
	// applies them to every execution (under these).
	env := make(map[string]string, len(in.Env))
	for _, e := range in.Env {
		env[e.Name] = e.Value
	}
	req := agentapi.ExecRequest{ExecutionID: id, Language: agentapi.Language(in.Language), Code: in.Code,
		Stdin: in.Stdin, Env: env, Timeout: timeout, MaxOutputBytes: s.cfg.Limits.MaxOutputBytes, Args: in.Args, Cwd: in.Cwd,
		ContextID: in.ContextID}
	if in.CPUTimeLimit != nil {
		req.CPUTime = time.Duration(*in.CPUTimeLimit) * time.Second
	}

	s.mu.Lock()
	s.executing[sb.ID]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.executing[sb.ID]--; s.executing[sb.ID] <= 0 {
			delete(s.executing, sb.ID)
		}
		s.mu.Unlock()
	}()

	log := s.log.With("sandbox_id", sb.ID, "team_id", teamID, "execution_id", id)
	log.Info("execution started", "event", "code_execution_start", "language", in.Language, "code_size", len(in.Code),
		"timeout", timeout.Milliseconds())
	if onEvent != nil {
		onEvent(ExecEvent{Started: &ExecutionStarted{ExecutionID: id, SandboxID: sb.ID, StartedAt: s.cfg.Now()}})
	}
	var onOutput func(agentapi.OutputChunk)
	if onEvent != nil {
		onOutput = func(c agentapi.OutputChunk) {
			if c.Display != nil {
				onEvent(ExecEvent{Display: c.Display})
				return
			}
			onEvent(ExecEvent{Output: &c})
		}
	}
	res, err := agent.Execute(ctx, sb.ID, req, onOutput)
	if err != nil {
		s.cfg.Metrics.ExecutionError(ctx, in.Language)
		log.Error("execution failed", "event", "code_execution_failed", "error", err)
		return nil, s.execError(ctx, sb.ID, err)
	}
	outcome := "ok"
	switch {
	case res.TimedOut:
		outcome = "timeout"
	case res.Error != nil || res.ExitCode != 0:
		outcome = "error"
	}
	s.cfg.Metrics.Execution(ctx, in.Language, outcome, res.Duration)
	if res.Error != nil && limitKinds[res.Error.Name] {
		s.cfg.Metrics.ResourceLimit(ctx, res.Error.Name)
	}
	if res.Truncated {
		s.cfg.Metrics.ResourceLimit(ctx, "OUTPUT_TRUNCATED")
	}
	log.Info("execution finished", "event", "code_execution_end", "exit_code", res.ExitCode, "outcome", outcome,
		"duration_ms", res.Duration.Milliseconds(), "truncated", res.Truncated)
	return &ExecutionResult{ID: id, ExecResult: res}, nil
}

// limitKinds are the ExecError names that say a limit ended an execution.
var limitKinds = map[string]bool{agentapi.LimitTimeout: true, agentapi.LimitOOM: true,
	agentapi.LimitCPUTime: true, agentapi.LimitPids: true, agentapi.LimitDisk: true}

// execError explains an execution that could not finish: the sandbox was
// stopped under it, the caller went away, or the node failed.
func (s *Service) execError(ctx context.Context, sandboxID string, err error) error {
	if cur := s.cfg.Store.State().Snapshot().SandboxByID(sandboxID); cur != nil && (cur.State.Terminal() || cur.State == structs.SandboxStopping) {
		return apperr.New(apperr.FailedPrecondition, "sandbox %s was stopped during the execution (%s)", sandboxID, cur.StopReason)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return apperr.New(apperr.DeadlineExceeded, "the request's deadline passed before the execution finished")
		}
		return fmt.Errorf("execution in %s cancelled: %w", sandboxID, ctxErr)
	}
	// envd refused the request itself (a cwd that is not a directory, an
	// unknown context).
	if appErr := fromEnvd(err); appErr != nil {
		return appErr
	}
	return apperr.New(apperr.Unavailable, "execution in sandbox %s failed on its node: %v", sandboxID, err)
}
