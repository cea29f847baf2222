package sandboxes

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/nodeagent/agentapi"
)

func agentStart(sb structs.Sandbox, env map[string]string) agentapi.StartRequest {
	return agentapi.StartRequest{SandboxID: sb.ID, TeamID: sb.TeamID, Template: sb.Template, Runtime: agentapi.Runtime(sb.Runtime),
		VCPUs: sb.VCPUs, MemoryMB: sb.MemoryMB, DiskMB: sb.DiskMB, Env: env}
}

var live = []structs.SandboxState{structs.SandboxCreating, structs.SandboxRunning, structs.SandboxStopping}

// Terminate stops a team's sandbox. Terminating a stopped sandbox returns
// it as it is.
func (s *Service) Terminate(ctx context.Context, teamID, id string) (*structs.Sandbox, error) {
	ctx, span := tracer.Start(ctx, "sandboxes.Terminate")
	defer span.End()
	if r := s.remote(ctx); r != nil && !s.holds(ctx, teamID, id) {
		return r.Terminate(ctx, teamID, id)
	}
	sb, err := s.Get(ctx, teamID, id)
	if err != nil {
		return nil, err
	}
	if sb.State.Terminal() {
		return sb, nil
	}
	return s.stop(ctx, id, structs.StopReasonTerminated)
}

// stop commits STOPPING, kills the sandbox on its node and commits STOPPED
// with the reason. A sandbox already being stopped by another caller is
// returned as committed when that stop ends.
func (s *Service) stop(ctx context.Context, id, reason string) (*structs.Sandbox, error) {
	ctx = context.WithoutCancel(ctx) // a stop, once begun, finishes
	s.mu.Lock()
	if s.stopping[id] {
		s.mu.Unlock()
		return s.waitStopped(ctx, id)
	}
	s.stopping[id] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.stopping, id)
		s.mu.Unlock()
	}()

	sb, err := s.update(ctx, command.SandboxUpdateRequest{ID: id, State: structs.SandboxStopping, StopReason: reason,
		ExpectStates: []structs.SandboxState{structs.SandboxCreating, structs.SandboxRunning}})
	if err != nil {
		if errors.Is(err, apperr.ErrFailedPrecondition) {
			cur := s.cfg.Store.State().Snapshot().SandboxByID(id)
			switch {
			case cur != nil && cur.State.Terminal():
				return cur, nil
			case cur != nil && cur.State == structs.SandboxStopping:
				return s.waitStopped(ctx, id) // another server is stopping it
			}
		}
		return nil, fmt.Errorf("stop sandbox %s: %w", id, err)
	}
	var stopErr string
	if agent, ok := s.cfg.Agents.Get(sb.NodeID); ok {
		if err := stopOnAgent(ctx, agent, id); err != nil {
			stopErr = err.Error()
			s.log.Error("sandbox stop failed on node", "event", "sandbox_stop_failed", "sandbox_id", id, "node_id", sb.NodeID, "error", err)
		}
	}
	stopped, err := s.update(ctx, command.SandboxUpdateRequest{ID: id, State: structs.SandboxStopped, Error: stopErr})
	if err != nil {
		// Its node's heartbeats may have recorded the end first (LOST,
		// or STOPPED when the agent no longer ran it).
		if cur := s.cfg.Store.State().Snapshot().SandboxByID(id); cur != nil && cur.State.Terminal() {
			return cur, nil
		}
		return nil, fmt.Errorf("mark sandbox %s stopped: %w", id, err)
	}
	if reason == structs.StopReasonTimeout {
		s.cfg.Metrics.Timeout(ctx, "sandbox")
		s.cfg.Metrics.ResourceLimit(ctx, "SANDBOX_TIMEOUT")
	}
	s.log.Info("sandbox stopped", "event", "sandbox_stopped", "sandbox_id", id, "team_id", sb.TeamID, "stop_reason", reason)
	return stopped, nil
}

// waitStopped polls until another caller's stop of id has committed.
func (s *Service) waitStopped(ctx context.Context, id string) (*structs.Sandbox, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if sb := s.cfg.Store.State().Snapshot().SandboxByID(id); sb != nil && sb.State.Terminal() {
			return sb, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil, apperr.New(apperr.DeadlineExceeded, "sandbox %s is still stopping", id)
}

// Run enforces sandbox lifetimes until ctx ends: a sandbox past its
// ExpiresAt is stopped with reason TIMEOUT.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.ExpiryInterval)
	defer t.Stop()
	b := time.NewTicker(s.cfg.BudgetInterval)
	defer b.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.expire(ctx)
		case <-b.C:
			s.enforceBudgets(ctx)
		}
	}
}

func (s *Service) expire(ctx context.Context) {
	if s.cfg.EnforceExpiry != nil && !s.cfg.EnforceExpiry() {
		return
	}
	now := s.cfg.Now()
	for _, sb := range s.cfg.Store.State().Snapshot().SandboxesNonTerminal() {
		if sb.State == structs.SandboxStopping || sb.ExpiresAt.IsZero() || now.Before(sb.ExpiresAt) {
			continue
		}
		go func(id string) {
			if _, err := s.stop(ctx, id, structs.StopReasonTimeout); err != nil {
				s.log.Error("expire sandbox", "event", "sandbox_expire_failed", "sandbox_id", id, "error", err)
			}
		}(sb.ID)
	}
}

// SandboxExited is the agents' ExitFunc: a sandbox that ended by itself is
// committed as STOPPED with the reason.
func (s *Service) SandboxExited(sandboxID, reason string) {
	s.mu.Lock()
	closed := s.closed || s.stopping[sandboxID]
	s.mu.Unlock()
	if closed {
		return
	}
	_, err := s.update(context.Background(), command.SandboxUpdateRequest{ID: sandboxID, State: structs.SandboxStopped,
		StopReason: reason, ExpectStates: live})
	if err != nil && !errors.Is(err, apperr.ErrFailedPrecondition) {
		s.log.Error("record sandbox exit", "event", "sandbox_exit_failed", "sandbox_id", sandboxID, "error", err)
		return
	}
	s.log.Info("sandbox exited", "event", "sandbox_exited", "sandbox_id", sandboxID, "stop_reason", reason)
}

// Reconcile makes the record agree with a node after the node's agent
// (re)started: every sandbox the record says is alive on nodeID but the
// agent does not run is committed as STOPPED with reason, at the time
// endedAt gives for it (when its metering stopped: the last checkpoint
// before the crash, so that its lifecycle ends where its billing does), or
// now.
func (s *Service) Reconcile(ctx context.Context, nodeID, reason string, endedAt map[string]time.Time) ([]string, error) {
	agent, ok := s.cfg.Agents.Get(nodeID)
	if !ok {
		return nil, fmt.Errorf("reconcile node %s: no agent", nodeID)
	}
	running, err := agent.Sandboxes(ctx)
	if err != nil {
		return nil, fmt.Errorf("reconcile node %s: %w", nodeID, err)
	}
	alive := make(map[string]bool, len(running))
	for _, id := range running {
		alive[id] = true
	}
	var marked []string
	for _, sb := range s.cfg.Store.State().Snapshot().SandboxesByNode(nodeID) {
		if sb.State.Terminal() || alive[sb.ID] {
			continue
		}
		req := command.SandboxUpdateRequest{ID: sb.ID, State: structs.SandboxStopped, StopReason: reason, ExpectStates: live}
		if end, ok := endedAt[sb.ID]; ok && !end.Before(sb.StartedAt) && end.Before(s.cfg.Now()) {
			req.At = end
		}
		if _, err := s.updateAt(ctx, req); err != nil {
			return marked, fmt.Errorf("reconcile sandbox %s: %w", sb.ID, err)
		}
		marked = append(marked, sb.ID)
		s.log.Info("sandbox lost in restart", "event", "sandbox_reconciled", "sandbox_id", sb.ID, "team_id", sb.TeamID, "stop_reason", reason)
	}
	return marked, nil
}

// Close makes the service ignore sandbox exits from now on: the node is
// shutting down and the next start reconciles.
func (s *Service) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
}

// CountByState counts sandboxes by the state callers see, for the
// sandboxes gauge.
func (s *Service) CountByState() map[string]int {
	counts := map[string]int{}
	for _, st := range []structs.SandboxState{structs.SandboxCreating, structs.SandboxRunning, structs.SandboxExecuting,
		structs.SandboxStopping, structs.SandboxStopped, structs.SandboxFailed, structs.SandboxLost} {
		counts[string(st)] = 0
	}
	snap := s.cfg.Store.State().Snapshot()
	for _, sb := range snap.SandboxesNonTerminal() {
		counts[string(s.view(sb).State)]++
	}
	for _, sb := range snap.Sandboxes() {
		if sb.State.Terminal() {
			counts[string(sb.State)]++
		}
	}
	return counts
}
