package sandboxes

import (
	"context"
	"errors"
	"net"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/nodeagent/envdproto"
)

// openEnvd finds a team's sandbox, which must be running, and opens a
// stream to its envd for one request; the caller closes the stream.
func (s *Service) openEnvd(ctx context.Context, teamID, sandboxID string) (*structs.Sandbox, net.Conn, error) {
	sb, err := s.getStarted(ctx, teamID, sandboxID)
	if err != nil {
		return nil, nil, err
	}
	if sb.State != structs.SandboxRunning && sb.State != structs.SandboxExecuting {
		if sb.State.Terminal() {
			return nil, nil, describeStopped(sb)
		}
		return nil, nil, apperr.New(apperr.FailedPrecondition, "sandbox %s is %s; wait until it is RUNNING", sb.ID, sb.State)
	}
	agent, ok := s.cfg.Agents.Get(sb.NodeID)
	if !ok {
		return nil, nil, apperr.New(apperr.Unavailable, "the node of sandbox %s (%s) is not reachable", sb.ID, sb.NodeID)
	}
	stream, err := agent.OpenEnvd(ctx, sb.ID)
	if err != nil {
		return nil, nil, s.envdError(ctx, sb.ID, err)
	}
	return sb, stream, nil
}

// envdError explains a request to envd that failed: envd's own refusal
// keeps its code; otherwise the sandbox stopped, the caller went away, or
// the node failed.
func (s *Service) envdError(ctx context.Context, sandboxID string, err error) error {
	if appErr := fromEnvd(err); appErr != nil {
		return appErr
	}
	if cur := s.cfg.Store.State().Snapshot().SandboxByID(sandboxID); cur != nil && (cur.State.Terminal() || cur.State == structs.SandboxStopping) {
		return apperr.New(apperr.FailedPrecondition, "sandbox %s stopped (%s)", sandboxID, cur.StopReason)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return apperr.New(apperr.DeadlineExceeded, "the request's deadline passed before envd answered")
		}
		return ctxErr
	}
	return apperr.New(apperr.Unavailable, "sandbox %s did not answer: %v", sandboxID, err)
}

// envdCode maps the code of an envd Error frame to the API's.
func envdCode(code string) (apperr.Code, bool) {
	switch code {
	case envdproto.CodeInvalidArgument:
		return apperr.InvalidArgument, true
	case envdproto.CodeNotFound:
		return apperr.NotFound, true
	case envdproto.CodeAlreadyExists, envdproto.CodeFailedPrecondition:
		return apperr.FailedPrecondition, true
	case envdproto.CodeResourceExhausted:
		return apperr.ResourceExhausted, true
	}
	return "", false
}

// fromEnvd returns the API error for an error envd reported, keeping its
// code and message, or nil when err is not envd's (INTERNAL stays nil:
// the caller explains it).
func fromEnvd(err error) error {
	var pe *envdproto.Error
	if !errors.As(err, &pe) {
		return nil
	}
	code, ok := envdCode(pe.Code)
	if !ok {
		return nil
	}
	return apperr.New(code, "%s", pe.Message)
}
