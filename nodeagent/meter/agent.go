package meter

import (
	"context"
	"errors"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

// Agent meters the sandboxes of a node agent: metering starts once a
// sandbox runs (a cold start or a warm claim) and stops before the
// sandbox is stopped, so that its last record holds the cgroup's last
// reading. Starts are handed to a worker and do not wait for the log's
// fsyncs (a warm claim takes microseconds and must stay so); stops wait
// for the starts before them. Call Run to serve the worker.
type Agent struct {
	agentapi.Agent
	meter   *Meter
	onError func(error)
	ops     chan op
}

type op struct {
	start *SandboxInfo
	stop  string
	at    time.Time
	done  chan struct{}
}

// NewAgent wraps inner. onError hears of metering failures (nil: ignored).
func NewAgent(inner agentapi.Agent, m *Meter, onError func(error)) *Agent {
	if onError == nil {
		onError = func(error) {}
	}
	return &Agent{Agent: inner, meter: m, onError: onError, ops: make(chan op, 1024)}
}

// Run serves the metering operations until ctx ends.
func (a *Agent) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-a.ops:
			a.do(o)
		}
	}
}

func (a *Agent) do(o op) {
	defer func() {
		if o.done != nil {
			close(o.done)
		}
	}()
	if o.start != nil {
		if err := a.meter.Start(*o.start); err != nil {
			a.onError(err)
		}
		return
	}
	if _, err := a.meter.Stop(o.stop, o.at); err != nil && !errors.Is(err, ErrUnknownSandbox) {
		a.onError(err)
	}
}

func (a *Agent) started(req agentapi.StartRequest, at time.Time) {
	info := SandboxInfo{ID: req.SandboxID, TeamID: req.TeamID, Template: req.Template, VCPUs: req.VCPUs,
		MemoryMB: req.MemoryMB, Start: at}
	select {
	case a.ops <- op{start: &info}:
	default:
		a.do(op{start: &info}) // the worker is behind: meter in the caller rather than lose it
	}
}

// Stopped ends the metering of a sandbox that stopped at at (an exit the
// agent reports, or a stop), after the starts queued before it.
func (a *Agent) Stopped(ctx context.Context, id string, at time.Time) {
	o := op{stop: id, at: at, done: make(chan struct{})}
	select {
	case a.ops <- o:
	case <-ctx.Done():
		return
	}
	select {
	case <-o.done:
	case <-ctx.Done():
	}
}

// StartSandbox starts a sandbox cold and meters it.
func (a *Agent) StartSandbox(ctx context.Context, req agentapi.StartRequest) (agentapi.StartResult, error) {
	res, err := a.Agent.StartSandbox(ctx, req)
	if err == nil {
		a.started(req, time.Now())
	}
	return res, err
}

// ClaimWarm claims a warm sandbox, when the inner agent has warm pools,
// and meters it.
func (a *Agent) ClaimWarm(ctx context.Context, req agentapi.StartRequest) (agentapi.StartResult, bool, error) {
	wc, ok := a.Agent.(agentapi.WarmClaimer)
	if !ok {
		return agentapi.StartResult{}, false, nil
	}
	res, ok, err := wc.ClaimWarm(ctx, req)
	if ok && err == nil {
		a.started(req, time.Now())
	}
	return res, ok, err
}

// StopSandbox ends the sandbox's metering, then stops it.
func (a *Agent) StopSandbox(ctx context.Context, id string) error {
	a.Stopped(ctx, id, time.Now())
	return a.Agent.StopSandbox(ctx, id)
}

var (
	_ agentapi.Agent       = (*Agent)(nil)
	_ agentapi.WarmClaimer = (*Agent)(nil)
)
