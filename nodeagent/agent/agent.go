package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/envdclient"
	"github.com/codeint/codeint/nodeagent/runc"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

var tracer = otel.Tracer("github.com/codeint/codeint/nodeagent/agent")

// Errors of the agent. The control plane maps ErrUnknownSandbox to
// NOT_FOUND, ErrSandboxExists to FAILED_PRECONDITION and ErrInvalidRequest
// to INVALID_ARGUMENT.
var (
	// ErrUnknownSandbox is returned for a sandbox this agent does not run.
	ErrUnknownSandbox = errors.New("agent: unknown sandbox")
	// ErrSandboxExists is returned by StartSandbox for an id in use.
	ErrSandboxExists = errors.New("agent: sandbox already exists")
	// ErrInvalidRequest is returned for a request the agent cannot serve
	// (a malformed id, an unknown template).
	ErrInvalidRequest = errors.New("agent: invalid request")
	// ErrClosed is returned once Close has been called.
	ErrClosed = errors.New("agent: closed")
)

// DefaultStartTimeout bounds how long StartSandbox waits for envd to answer.
const DefaultStartTimeout = 10 * time.Second

// Config configures an Agent.
type Config struct {
	NodeID   string
	DataDir  string // bundles and runc state; its ancestors must be mode o+x (see package runc)
	RuncPath string // default: runc from PATH
	EnvdPath string // the static envd binary, bound into every sandbox
	UIDBase  uint32 // host uid of a sandbox's root; default 100000
	// CgroupParent names the cgroup every sandbox's cgroup is created
	// under; default "codeint". Reconcile removes everything under it, so
	// two agents on one host need different parents.
	CgroupParent string
	StartTimeout time.Duration // default DefaultStartTimeout
	Logger       *slog.Logger
	// OnExit is called, once and after cleanup, for a sandbox that ended
	// without StopSandbox (reason structs.StopReasonExited). May be nil.
	OnExit agentapi.ExitFunc
}

// Agent runs sandboxes on this host. It implements agentapi.Agent.
type Agent struct {
	cfg    Config
	rt     *runc.Runtime
	logger *slog.Logger

	mu        sync.Mutex
	sandboxes map[string]*sandbox
	closed    bool
}

var _ agentapi.Agent = (*Agent)(nil)

// New returns an Agent. It prepares DataDir but starts nothing; call
// Reconcile before serving.
func New(cfg Config) (*Agent, error) {
	if cfg.EnvdPath == "" {
		return nil, errors.New("agent: Config.EnvdPath is required")
	}
	fi, err := os.Stat(cfg.EnvdPath)
	if err != nil {
		return nil, fmt.Errorf("agent: envd binary: %w", err)
	}
	if fi.Mode().Perm()&0o005 != 0o005 {
		return nil, fmt.Errorf("agent: envd binary %s has mode %04o: the sandbox's uid must read and execute it", cfg.EnvdPath, fi.Mode().Perm())
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	rt, err := runc.New(runc.Config{
		RuncPath:     cfg.RuncPath,
		DataDir:      cfg.DataDir,
		CgroupParent: cfg.CgroupParent,
		UIDBase:      cfg.UIDBase,
		Logger:       cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return &Agent{cfg: cfg, rt: rt, logger: cfg.Logger, sandboxes: make(map[string]*sandbox)}, nil
}

// NodeID names the node this agent runs on.
func (a *Agent) NodeID() string { return a.cfg.NodeID }

// Runtime is the runc driver the agent uses (for benchmarks and tools).
func (a *Agent) Runtime() *runc.Runtime { return a.rt }

// StartSandbox starts a sandbox of the "base" template and returns once envd
// answers a ping. On failure nothing of the sandbox is left on the host.
func (a *Agent) StartSandbox(ctx context.Context, req agentapi.StartRequest) (res agentapi.StartResult, err error) {
	ctx, span := tracer.Start(ctx, "agent.StartSandbox", trace.WithAttributes(attribute.String("sandbox_id", req.SandboxID)))
	defer endSpan(span, &err)
	begin := time.Now()
	log := a.logger.With("sandbox_id", req.SandboxID)

	if err := runc.ValidateID(req.SandboxID); err != nil {
		return res, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if req.Template != "" && req.Template != "base" {
		return res, fmt.Errorf("%w: unknown template %q", ErrInvalidRequest, req.Template)
	}
	for k, v := range req.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return res, fmt.Errorf("%w: invalid env variable %q", ErrInvalidRequest, k)
		}
	}
	sb := newSandbox(req.SandboxID)
	a.mu.Lock()
	switch {
	case a.closed:
		a.mu.Unlock()
		return res, ErrClosed
	case a.sandboxes[sb.id] != nil:
		a.mu.Unlock()
		return res, fmt.Errorf("%w: %s", ErrSandboxExists, sb.id)
	}
	a.sandboxes[sb.id] = sb
	a.mu.Unlock()

	if err := a.start(ctx, sb, req); err != nil {
		log.Error("sandbox start failed", "event", "start_failed", "err", err)
		a.finish(sb, false)
		return res, err
	}
	close(sb.ready)
	go a.monitor(sb)
	res = agentapi.StartResult{NodeID: a.cfg.NodeID, Duration: time.Since(begin)}
	log.Info("sandbox started", "event", "started", "team_id", req.TeamID, "duration", res.Duration)
	return res, nil
}

func (a *Agent) start(ctx context.Context, sb *sandbox, req agentapi.StartRequest) error {
	c, err := a.rt.Start(runc.Options{
		ID:       sb.id,
		EnvdPath: a.cfg.EnvdPath,
		Env:      req.Env,
		VCPUs:    req.VCPUs,
		MemoryMB: req.MemoryMB,
		DiskMB:   req.DiskMB,
	})
	if err != nil {
		return fmt.Errorf("agent: start sandbox %s: %w", sb.id, err)
	}
	sb.container = c
	client, err := envdclient.New(c.Conn(), a.logger.With("sandbox_id", sb.id))
	if err != nil {
		return fmt.Errorf("agent: start sandbox %s: %w", sb.id, err)
	}
	sb.client = client
	pingCtx, cancel := context.WithTimeout(ctx, a.cfg.StartTimeout)
	defer cancel()
	if err := client.Ping(pingCtx); err != nil {
		select { // when runc failed, let its last words reach the tail
		case <-c.Done():
		case <-time.After(200 * time.Millisecond):
		}
		return fmt.Errorf("agent: start sandbox %s: envd did not answer: %w (stderr: %q)", sb.id, err, c.StderrTail())
	}
	return nil
}

// StopSandbox kills a sandbox and removes everything it left on the host.
// An unknown or already stopped sandbox is not an error.
func (a *Agent) StopSandbox(ctx context.Context, sandboxID string) (err error) {
	ctx, span := tracer.Start(ctx, "agent.StopSandbox", trace.WithAttributes(attribute.String("sandbox_id", sandboxID)))
	defer endSpan(span, &err)
	a.mu.Lock()
	sb := a.sandboxes[sandboxID]
	a.mu.Unlock()
	if sb == nil {
		return nil
	}
	select { // a sandbox still starting is stopped once its start is over
	case <-sb.ready:
	case <-sb.stopped:
	case <-ctx.Done():
		return ctx.Err()
	}
	a.finish(sb, false)
	select {
	case <-sb.stopped:
		return sb.stopErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Execute runs code in a sandbox; see agentapi.Agent. It returns an error
// wrapping ErrUnknownSandbox for a sandbox this agent does not run, or one
// that ended during the execution; an error envd reports (an unknown
// language) wraps an *envdproto.Error.
func (a *Agent) Execute(ctx context.Context, sandboxID string, req agentapi.ExecRequest, onOutput func(agentapi.OutputChunk)) (res agentapi.ExecResult, err error) {
	ctx, span := tracer.Start(ctx, "agent.Execute", trace.WithAttributes(
		attribute.String("sandbox_id", sandboxID), attribute.String("execution_id", req.ExecutionID)))
	defer endSpan(span, &err)
	sb := a.lookup(sandboxID)
	if sb == nil {
		return res, fmt.Errorf("%w: %s", ErrUnknownSandbox, sandboxID)
	}
	begin := time.Now()
	res, err = sb.client.Exec(ctx, req, onOutput)
	log := a.logger.With("sandbox_id", sandboxID, "execution_id", req.ExecutionID)
	if err != nil {
		if errors.Is(err, envdclient.ErrClosed) {
			err = fmt.Errorf("%w: %s ended during the execution: %w", ErrUnknownSandbox, sandboxID, err)
		} else {
			err = fmt.Errorf("agent: execute in %s: %w", sandboxID, err)
		}
		log.Info("execution failed", "event", "exec_failed", "err", err)
		return res, err
	}
	log.Debug("execution done", "event", "exec_done", "exit_code", res.ExitCode,
		"timed_out", res.TimedOut, "duration", time.Since(begin))
	return res, nil
}

// Sandboxes lists the sandboxes running now (started and not stopping).
func (a *Agent) Sandboxes(ctx context.Context) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make([]string, 0, len(a.sandboxes))
	for id, sb := range a.sandboxes {
		if sb.running() {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Close stops every sandbox and refuses new ones.
func (a *Agent) Close() error {
	a.mu.Lock()
	a.closed = true
	all := make([]*sandbox, 0, len(a.sandboxes))
	for _, sb := range a.sandboxes {
		all = append(all, sb)
	}
	a.mu.Unlock()
	errs := make([]error, len(all))
	var wg sync.WaitGroup
	for i, sb := range all {
		wg.Go(func() { errs[i] = a.StopSandbox(context.Background(), sb.id) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// lookup returns a running sandbox, or nil.
func (a *Agent) lookup(id string) *sandbox {
	a.mu.Lock()
	defer a.mu.Unlock()
	if sb := a.sandboxes[id]; sb != nil && sb.running() {
		return sb
	}
	return nil
}

// monitor waits for a sandbox to end; if nobody asked for that, it cleans
// up and reports the exit.
func (a *Agent) monitor(sb *sandbox) {
	select {
	case <-sb.client.Done():
	case <-sb.container.Done():
	case <-sb.stopped:
		return
	}
	if sb.stopping.Load() {
		return
	}
	a.logger.Warn("sandbox ended on its own", "sandbox_id", sb.id, "event", "exited")
	a.finish(sb, true)
	a.logger.Info("sandbox exit details", "sandbox_id", sb.id, "event", "exit_details",
		"runc_err", sb.container.Err(), "stderr", sb.container.StderrTail())
}

// finish stops sb and removes it. The first caller does the work; exited
// says the sandbox ended on its own, which is then reported through OnExit.
func (a *Agent) finish(sb *sandbox, exited bool) {
	if !sb.stopping.CompareAndSwap(false, true) {
		return
	}
	var err error
	if sb.container != nil { // else runc.Start failed and removed its bundle
		err = a.rt.Stop(context.Background(), sb.container)
	}
	if sb.client != nil {
		sb.client.Close()
	}
	a.mu.Lock()
	delete(a.sandboxes, sb.id)
	a.mu.Unlock()
	sb.stopErr = err
	close(sb.stopped)
	if err != nil {
		a.logger.Error("sandbox cleanup incomplete", "sandbox_id", sb.id, "event", "cleanup_failed", "err", err)
	} else {
		a.logger.Info("sandbox stopped", "sandbox_id", sb.id, "event", "stopped", "exited", exited)
	}
	if exited && a.cfg.OnExit != nil {
		a.cfg.OnExit(sb.id, structs.StopReasonExited)
	}
}

func endSpan(span trace.Span, err *error) {
	if *err != nil {
		span.RecordError(*err)
		span.SetStatus(codes.Error, (*err).Error())
	}
	span.End()
}
