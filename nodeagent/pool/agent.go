package pool

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

// Agent puts warm pools in front of a node agent: StartSandbox claims a
// ready slot and binds the sandbox id to it (a few microseconds), or starts
// the sandbox cold on the inner agent when the pool has none. Every other
// call is passed to the inner agent under the slot's id.
//
// The inner agent's exits must reach InnerExited (wire its OnExit to it),
// so that a bound slot's exit is reported under the sandbox's id and a
// warm slot that died is never handed out. Safe for concurrent use.
type Agent struct {
	inner  agentapi.Agent
	pool   *Pool
	onExit agentapi.ExitFunc

	mu     sync.Mutex
	slotOf map[string]string            // sandbox id → slot id, for sandboxes started from a slot
	idOf   map[string]string            // slot id → sandbox id
	env    map[string]map[string]string // sandbox id → its start env, applied per execution
}

var (
	_ agentapi.Agent       = (*Agent)(nil)
	_ agentapi.WarmClaimer = (*Agent)(nil)
)

// AgentConfig configures an Agent. Pool.Starter is set by NewAgent.
type AgentConfig struct {
	Inner  agentapi.Agent
	Pool   Config
	OnExit agentapi.ExitFunc // sandbox exits, under the sandbox's id
}

// NewAgent starts the pools (they begin to fill at once) in front of cfg.Inner.
func NewAgent(cfg AgentConfig) (*Agent, error) {
	if cfg.Inner == nil {
		return nil, errors.New("pool: AgentConfig.Inner is required")
	}
	a := &Agent{inner: cfg.Inner, onExit: cfg.OnExit, slotOf: map[string]string{}, idOf: map[string]string{},
		env: map[string]map[string]string{}}
	cfg.Pool.Starter = innerStarter{cfg.Inner}
	p, err := New(cfg.Pool)
	if err != nil {
		return nil, err
	}
	a.pool = p
	return a, nil
}

// innerStarter starts warm slots as ordinary sandboxes of the inner agent.
type innerStarter struct{ inner agentapi.Agent }

func (s innerStarter) Start(ctx context.Context, slotID string, k Key) error {
	// A refill runs the runtime (~100 ms of CPU) on the node that serves
	// creates and runs the users' sandboxes, so it should use only idle
	// CPU. Processes inherit the scheduling policy of the thread that
	// forks them: pin this goroutine to its thread and make the thread
	// SCHED_IDLE; the agent returns the sandbox's own processes to the
	// normal policy once envd answers. The thread is never unlocked: it
	// ends with this goroutine (the pool runs every Start in a goroutine
	// of its own), so no other goroutine ever runs on it. Best effort: a
	// start at normal priority works the same, only slower for others.
	runtime.LockOSThread()
	_ = unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_IDLE}, 0)
	_, err := s.inner.StartSandbox(ctx, agentapi.StartRequest{SandboxID: slotID, Template: k.Template,
		Runtime: k.Runtime, VCPUs: k.VCPUs, MemoryMB: k.MemoryMB, DiskMB: k.DiskMB})
	return err
}

func (s innerStarter) Stop(ctx context.Context, slotID string) error {
	return s.inner.StopSandbox(ctx, slotID)
}

// KeyOf is the pool key a start request is served from.
func KeyOf(req agentapi.StartRequest) Key {
	rt := req.Runtime
	if rt == "" {
		rt = agentapi.RuntimeRunc
	}
	return Key{Template: req.Template, Runtime: rt, VCPUs: req.VCPUs, MemoryMB: req.MemoryMB, DiskMB: req.DiskMB}
}

// NodeID is the inner agent's.
func (a *Agent) NodeID() string { return a.inner.NodeID() }

// Pool is the pools, for Stats and Resize.
func (a *Agent) Pool() *Pool { return a.pool }

// StartSandbox serves req from a warm slot when one is ready, else starts
// it cold.
func (a *Agent) StartSandbox(ctx context.Context, req agentapi.StartRequest) (agentapi.StartResult, error) {
	res, ok, err := a.ClaimWarm(ctx, req)
	if ok || err != nil {
		return res, err
	}
	return a.inner.StartSandbox(ctx, req)
}

// ClaimWarm binds req's sandbox to a ready warm slot of its shape, or
// reports false when the pool has none (see agentapi.WarmClaimer).
func (a *Agent) ClaimWarm(ctx context.Context, req agentapi.StartRequest) (agentapi.StartResult, bool, error) {
	begin := time.Now()
	slot, ok := a.pool.Claim(ctx, KeyOf(req))
	if !ok {
		return agentapi.StartResult{}, false, nil
	}
	a.mu.Lock()
	if _, taken := a.slotOf[req.SandboxID]; taken {
		a.mu.Unlock()
		_ = a.inner.StopSandbox(context.WithoutCancel(ctx), slot)
		return agentapi.StartResult{}, false, fmt.Errorf("pool: sandbox %s is already running", req.SandboxID)
	}
	a.slotOf[req.SandboxID] = slot
	a.idOf[slot] = req.SandboxID
	if len(req.Env) > 0 {
		a.env[req.SandboxID] = maps.Clone(req.Env)
	}
	a.mu.Unlock()
	return agentapi.StartResult{NodeID: a.inner.NodeID(), Duration: time.Since(begin)}, true, nil
}

// Target is the inner agent's id of a sandbox: the warm slot it was
// claimed from, or its own id when it started cold.
func (a *Agent) Target(id string) string { return a.target(id) }

// target is the inner agent's id of a sandbox.
func (a *Agent) target(id string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if slot, ok := a.slotOf[id]; ok {
		return slot
	}
	return id
}

// StopSandbox stops a sandbox, warm-started or not.
func (a *Agent) StopSandbox(ctx context.Context, id string) error {
	err := a.inner.StopSandbox(ctx, a.target(id))
	if err == nil {
		a.unbind(id)
	}
	return err
}

func (a *Agent) unbind(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if slot, ok := a.slotOf[id]; ok {
		delete(a.idOf, slot)
		delete(a.slotOf, id)
	}
	delete(a.env, id)
}

// Execute runs code in a sandbox; a warm-started sandbox's start env is
// added under the request's.
func (a *Agent) Execute(ctx context.Context, id string, req agentapi.ExecRequest, onOutput func(agentapi.OutputChunk)) (agentapi.ExecResult, error) {
	a.mu.Lock()
	startEnv := a.env[id]
	a.mu.Unlock()
	if len(startEnv) > 0 {
		env := maps.Clone(startEnv)
		maps.Copy(env, req.Env)
		req.Env = env
	}
	return a.inner.Execute(ctx, a.target(id), req, onOutput)
}

// OpenEnvd opens a stream to a sandbox's envd, warm-started or not. A
// warm-started sandbox's start env is not in its envd: requests that
// start programs carry the sandbox's env themselves.
func (a *Agent) OpenEnvd(ctx context.Context, id string) (net.Conn, error) {
	return a.inner.OpenEnvd(ctx, a.target(id))
}

// Sandboxes lists the sandboxes by their ids; warm slots nobody claimed
// are not sandboxes yet and are left out.
func (a *Agent) Sandboxes(ctx context.Context) ([]string, error) {
	ids, err := a.inner.Sandboxes(ctx)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	out := ids[:0]
	for _, id := range ids {
		if sb, ok := a.idOf[id]; ok {
			out = append(out, sb)
		} else if !strings.HasPrefix(id, a.pool.Prefix()) {
			out = append(out, id)
		}
	}
	return out, nil
}

// InnerExited is the inner agent's ExitFunc: a bound slot's exit goes to
// OnExit under the sandbox's id; a warm slot that died is discarded so it
// is never handed out (a claim racing with its death gets a dead sandbox,
// whose first execution fails and whose exit reaches OnExit).
func (a *Agent) InnerExited(innerID, reason string) {
	a.mu.Lock()
	sb, bound := a.idOf[innerID]
	if bound {
		delete(a.idOf, innerID)
		delete(a.slotOf, sb)
		delete(a.env, sb)
	} else if strings.HasPrefix(innerID, a.pool.Prefix()) {
		a.mu.Unlock()
		if a.pool.Discard(innerID) {
			_ = a.inner.StopSandbox(context.Background(), innerID) // clean up what it left
		}
		return
	} else {
		sb = innerID
	}
	a.mu.Unlock()
	if a.onExit != nil {
		a.onExit(sb, reason)
	}
}

// Close stops the warm slots; claimed ones belong to their sandboxes and
// are left to the inner agent.
func (a *Agent) Close(ctx context.Context) error {
	return a.pool.Close(ctx)
}
