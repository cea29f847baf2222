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

// Agent runs sandboxes on this host. It implements agentapi.Agent.
type Agent struct {
	cfg      Config
	runc     *runc.Runtime
	runsc    *runc.Runtime // nil when gVisor is not installed
	runscErr error         // why runsc is nil
	uids     *uidRanges
	logger   *slog.Logger

	mu        sync.Mutex
	sandboxes map[string]*sandbox
	closed    bool
}

var _ agentapi.Agent = (*Agent)(nil)

// New returns an Agent. It prepares DataDir but starts nothing; call
// Reconcile before serving.
//
// New makes the calling process a child subreaper (runc.SetChildSubreaper):
// sandboxes are started detached, so their runtime exits at once and
// leaves the container's processes to this process, which reaps them when
// they end. The setting is process-wide and stays after Close; the process
// must not run code that waits for any child (wait4(-1)).
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
	if cfg.UIDBase == 0 {
		cfg.UIDBase = runc.DefaultUIDBase
	}
	if cfg.UIDRanges <= 0 {
		cfg.UIDRanges = DefaultUIDRanges
	}
	uids, err := newUIDRanges(cfg.UIDBase, cfg.UIDRanges)
	if err != nil {
		return nil, err
	}
	if err := runc.SetChildSubreaper(); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	rtCfg := runc.Config{DataDir: cfg.DataDir, CgroupParent: cfg.CgroupParent, ParentCPUWeight: cfg.ParentCPUWeight,
		UIDBase: cfg.UIDBase, Logger: cfg.Logger}
	rtCfg.Kind, rtCfg.Path = runc.KindRunc, cfg.RuncPath
	rc, err := runc.New(rtCfg)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a := &Agent{cfg: cfg, runc: rc, uids: uids, logger: cfg.Logger, sandboxes: make(map[string]*sandbox)}
	rtCfg.Kind, rtCfg.Path = runc.KindRunsc, cfg.RunscPath
	if a.runsc, err = runc.New(rtCfg); err != nil {
		if !errors.Is(err, runc.ErrNotInstalled) {
			return nil, fmt.Errorf("agent: %w", err)
		}
		a.runscErr = err
		cfg.Logger.Info("gVisor unavailable: GVISOR sandboxes will be refused", "err", err)
	}
	return a, nil
}

// NodeID names the node this agent runs on.
func (a *Agent) NodeID() string { return a.cfg.NodeID }

// Runtime is the runc driver the agent uses (for benchmarks and tools).
func (a *Agent) Runtime() *runc.Runtime { return a.runc }

// RuntimeFor returns the driver of runtime r, or an error wrapping
// agentapi.ErrRuntimeUnavailable (gVisor not installed) or
// ErrInvalidRequest (an unknown runtime).
func (a *Agent) RuntimeFor(r agentapi.Runtime) (*runc.Runtime, error) {
	switch r {
	case "", agentapi.RuntimeRunc:
		return a.runc, nil
	case agentapi.RuntimeGVisor:
		if a.runsc == nil {
			return nil, fmt.Errorf("%w: gVisor (runsc) is not installed on node %s; install Debian's runsc package (apt-get install runsc) or set the agent's runsc path: %w",
				agentapi.ErrRuntimeUnavailable, a.cfg.NodeID, a.runscErr)
		}
		return a.runsc, nil
	}
	return nil, fmt.Errorf("%w: unknown runtime %q (want %s or %s)", ErrInvalidRequest, r, agentapi.RuntimeRunc, agentapi.RuntimeGVisor)
}

// runtimes returns the installed drivers.
func (a *Agent) runtimes() []*runc.Runtime {
	if a.runsc == nil {
		return []*runc.Runtime{a.runc}
	}
	return []*runc.Runtime{a.runc, a.runsc}
}

// StartSandbox starts a sandbox of the "base" template and returns once envd
// answers a ping. On failure nothing of the sandbox is left on the host.
func (a *Agent) StartSandbox(ctx context.Context, req agentapi.StartRequest) (res agentapi.StartResult, err error) {
	ctx, span := tracer.Start(ctx, "agent.StartSandbox", trace.WithAttributes(
		attribute.String("sandbox_id", req.SandboxID), attribute.String("runtime", string(req.Runtime))))
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
	rt, err := a.RuntimeFor(req.Runtime)
	if err != nil {
		return res, err
	}
	sb := newSandbox(req.SandboxID)
	sb.runtime, sb.rt = req.Runtime, rt
	if sb.runtime == "" {
		sb.runtime = agentapi.RuntimeRunc
	}
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
	log.Info("sandbox started", "event", "started", "team_id", req.TeamID, "runtime", sb.runtime, "duration", res.Duration)
	return res, nil
}

func (a *Agent) start(ctx context.Context, sb *sandbox, req agentapi.StartRequest) error {
	uidBase, err := a.uids.alloc(sb.id)
	if err != nil {
		return fmt.Errorf("agent: start sandbox %s: %w", sb.id, err)
	}
	sb.uidBase = uidBase
	opts := runc.Options{
		ID:       sb.id,
		EnvdPath: a.cfg.EnvdPath,
		Env:      req.Env,
		VCPUs:    req.VCPUs,
		MemoryMB: req.MemoryMB,
		DiskMB:   req.DiskMB,
		UIDBase:  uidBase,
	}
	sb.memoryMB, sb.pidsLimit, sb.vcpus = max(req.MemoryMB, 0), runc.DefaultPidsLimit, req.VCPUs
	if sb.memoryMB == 0 {
		sb.memoryMB = runc.DefaultMemoryMB
	}
	c, err := sb.rt.Start(ctx, opts)
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
		return fmt.Errorf("agent: start sandbox %s: envd did not answer: %w (stderr: %q)", sb.id, err, c.StderrTail())
	}
	if err := c.Cgroup().NormalScheduling(); err != nil {
		return fmt.Errorf("agent: start sandbox %s: %w", sb.id, err)
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

// Usage is what the running sandboxes hold, warm ones included.
type Usage struct {
	VCPUs     float64
	MemoryMB  int
	Sandboxes int
}

// Usage sums the resources of the running sandboxes: the node's live
// capacity in use, for its heartbeats.
func (a *Agent) Usage() Usage {
	a.mu.Lock()
	defer a.mu.Unlock()
	var u Usage
	for _, sb := range a.sandboxes {
		if sb.running() {
			u.VCPUs += sb.vcpus
			u.MemoryMB += sb.memoryMB
			u.Sandboxes++
		}
	}
	return u
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

// Cgroup returns the cgroup of a running sandbox (for metering).
func (a *Agent) Cgroup(id string) (*runc.Cgroup, bool) {
	sb := a.lookup(id)
	if sb == nil || sb.container == nil {
		return nil, false
	}
	return sb.container.Cgroup(), true
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
// up and reports the exit. The envd session ends when envd exits (its
// stdout pipe reaches EOF), so it is the one thing to watch: no runtime
// process stays per sandbox.
func (a *Agent) monitor(sb *sandbox) {
	select {
	case <-sb.client.Done():
	case <-sb.stopped:
		return
	}
	if sb.stopping.Load() {
		return
	}
	a.logger.Warn("sandbox ended on its own", "sandbox_id", sb.id, "event", "exited",
		"stderr", sb.container.StderrTail())
	a.finish(sb, true)
}

// finish stops sb and removes it. The first caller does the work; exited
// says the sandbox ended on its own, which is then reported through OnExit.
// The sandbox's uid range is released once nothing of it is left, and
// quarantined (until Reconcile) otherwise.
func (a *Agent) finish(sb *sandbox, exited bool) {
	if !sb.stopping.CompareAndSwap(false, true) {
		return
	}
	var err error
	if sb.container != nil { // else the runtime's Start failed and cleaned up
		err = sb.rt.Stop(context.Background(), sb.container)
	}
	if sb.client != nil {
		sb.client.Close()
	}
	if sb.uidBase != 0 {
		if err == nil {
			a.uids.release(sb.uidBase)
		} else {
			a.uids.quarantine(sb.uidBase)
		}
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
