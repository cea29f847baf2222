package sandboxes

import (
	"context"
	"slices"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/nodeagent/envdclient"
	"github.com/codeint/codeint/nodeagent/envdproto"
)

// ContextsAPI manages the code-interpreter contexts of a team's sandboxes:
// interpreters inside the sandbox that keep state between executions
// (ExecuteInput.ContextID). A context of another sandbox or team is
// NOT_FOUND.
type ContextsAPI interface {
	CreateContext(ctx context.Context, teamID, sandboxID, language, cwd string) (*Context, error)
	Contexts(ctx context.Context, teamID, sandboxID string) ([]Context, error)
	RestartContext(ctx context.Context, teamID, sandboxID, contextID string) (*Context, error)
	RemoveContext(ctx context.Context, teamID, sandboxID, contextID string) error
	InterruptContext(ctx context.Context, teamID, sandboxID, contextID string) (*Context, error)
}

var _ ContextsAPI = (*Service)(nil)

// Context is a code-interpreter context.
type Context struct {
	ID        string
	SandboxID string
	Language  string
	Cwd       string
	CreatedAt time.Time
	Busy      bool
}

// CreateContext starts a context in a sandbox. The sandbox's env is given
// to the interpreter (a warm-started sandbox's envd does not have it).
func (s *Service) CreateContext(ctx context.Context, teamID, sandboxID, language, cwd string) (*Context, error) {
	if !envdproto.HasContexts(language) {
		return nil, invalid("language %q has no contexts; PYTHON, JAVASCRIPT and TYPESCRIPT have", language)
	}
	if err := checkArgs(nil, cwd, s.cfg.Limits.MaxCodeBytes); err != nil {
		return nil, err
	}
	sb, err := s.Get(ctx, teamID, sandboxID)
	if err != nil {
		return nil, err
	}
	if t, _ := s.template(sb.Template); !slices.Contains(t.Languages, language) {
		return nil, invalid("language %q is not available in template %q", language, sb.Template)
	}
	req := envdproto.ContextRequest{Op: envdproto.ContextCreate, ID: newID("ctx_"), Language: language, Cwd: cwd, Env: envMap(sb.Env)}
	return s.oneContext(ctx, teamID, sandboxID, &req)
}

// Contexts lists a sandbox's contexts.
func (s *Service) Contexts(ctx context.Context, teamID, sandboxID string) ([]Context, error) {
	rep, err := s.contextCall(ctx, teamID, sandboxID, &envdproto.ContextRequest{Op: envdproto.ContextList})
	if err != nil {
		return nil, err
	}
	out := make([]Context, 0, len(rep.Contexts))
	for _, c := range rep.Contexts {
		out = append(out, toContext(sandboxID, c))
	}
	return out, nil
}

// RestartContext starts a context's interpreter afresh.
func (s *Service) RestartContext(ctx context.Context, teamID, sandboxID, contextID string) (*Context, error) {
	return s.oneContext(ctx, teamID, sandboxID, &envdproto.ContextRequest{Op: envdproto.ContextRestart, ID: contextID})
}

// InterruptContext interrupts the cell running in a context.
func (s *Service) InterruptContext(ctx context.Context, teamID, sandboxID, contextID string) (*Context, error) {
	return s.oneContext(ctx, teamID, sandboxID, &envdproto.ContextRequest{Op: envdproto.ContextInterrupt, ID: contextID})
}

// RemoveContext stops a context's interpreter.
func (s *Service) RemoveContext(ctx context.Context, teamID, sandboxID, contextID string) error {
	_, err := s.contextCall(ctx, teamID, sandboxID, &envdproto.ContextRequest{Op: envdproto.ContextRemove, ID: contextID})
	return err
}

func (s *Service) oneContext(ctx context.Context, teamID, sandboxID string, req *envdproto.ContextRequest) (*Context, error) {
	rep, err := s.contextCall(ctx, teamID, sandboxID, req)
	if err != nil {
		return nil, err
	}
	if len(rep.Contexts) != 1 {
		return nil, apperr.New(apperr.Internal, "envd answered %s with %d contexts", req.Op, len(rep.Contexts))
	}
	c := toContext(sandboxID, rep.Contexts[0])
	return &c, nil
}

func (s *Service) contextCall(ctx context.Context, teamID, sandboxID string, req *envdproto.ContextRequest) (*envdproto.ContextReply, error) {
	if req.Op != envdproto.ContextCreate && req.Op != envdproto.ContextList && req.ID == "" {
		return nil, invalid("contextId is empty")
	}
	sb, stream, err := s.openEnvd(ctx, teamID, sandboxID)
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	var rep envdproto.ContextReply
	if err := envdclient.Call(ctx, stream, envdproto.FrameContextRequest, req, envdproto.FrameContextReply, &rep); err != nil {
		return nil, s.envdError(ctx, sb.ID, err)
	}
	s.log.Info("context "+req.Op, "event", "context_"+req.Op, "sandbox_id", sb.ID, "team_id", teamID, "context_id", req.ID)
	return &rep, nil
}

func toContext(sandboxID string, c envdproto.ContextInfo) Context {
	return Context{ID: c.ID, SandboxID: sandboxID, Language: c.Language, Cwd: c.Cwd,
		CreatedAt: time.Unix(0, c.CreatedAtNS).UTC(), Busy: c.Busy}
}

// envMap turns a sandbox's env into envd's form.
func envMap(env []structs.EnvVar) map[string]string {
	if len(env) == 0 {
		return nil
	}
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}
	return m
}
