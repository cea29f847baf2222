package nodes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

// reconcile compares what the agent of nodeID runs (hb) with the state
// and returns the ids the agent must kill; it commits as STOPPED what the
// state believes alive on the node but the agent no longer runs, with the
// reason the agent gave when it says the sandbox exited, at the end of
// its metering when a crash of the agent cut it short. The caller holds
// e.op.
func (t *Tracker) reconcile(ctx context.Context, e *entry, nodeID string, hb Heartbeat, now time.Time) ([]string, error) {
	snap := t.cfg.Store.State().Snapshot()
	runs := make(map[string]bool, len(hb.Sandboxes))
	for _, id := range hb.Sandboxes {
		runs[id] = true
	}
	kill := t.toKill(snap, e, nodeID, runs, now)

	var errs []error
	missing := map[string]time.Time{}
	for _, sb := range snap.SandboxesByNode(nodeID) {
		if runs[sb.ID] {
			continue
		}
		var req command.SandboxUpdateRequest
		switch sb.State {
		case structs.SandboxRunning, structs.SandboxExecuting:
			if reason, ok := hb.Exited[sb.ID]; ok {
				req = command.SandboxUpdateRequest{ID: sb.ID, At: now, State: structs.SandboxStopped,
					StopReason: reason, ExpectStates: []structs.SandboxState{sb.State}}
				break
			}
			if now.Sub(sb.StartedAt) < t.cfg.Grace {
				continue // the beat may predate the start
			}
			at := now
			if end, ok := hb.Ended[sb.ID]; ok && !end.Before(sb.StartedAt) && end.Before(now) {
				at = end
			}
			req = command.SandboxUpdateRequest{ID: sb.ID, At: at, State: structs.SandboxStopped,
				StopReason: structs.StopReasonAgentRestart, ExpectStates: []structs.SandboxState{sb.State}}
		case structs.SandboxStopping:
			// A server is stopping it: give that stop Grace to commit
			// STOPPED itself, then finish it with the reason it had.
			first, seen := e.missing[sb.ID]
			if !seen {
				first = now
			}
			missing[sb.ID] = first
			if now.Sub(first) < t.cfg.Grace {
				continue
			}
			req = command.SandboxUpdateRequest{ID: sb.ID, At: now, State: structs.SandboxStopped,
				ExpectStates: []structs.SandboxState{structs.SandboxStopping}}
		case structs.SandboxCreating:
			if now.Sub(sb.CreatedAt) < t.cfg.StartTimeout {
				continue // a start is in flight
			}
			req = command.SandboxUpdateRequest{ID: sb.ID, At: now, State: structs.SandboxFailed,
				StopReason: structs.StopReasonStartFailed, Error: "the start was abandoned (the server starting it stopped)",
				ExpectStates: []structs.SandboxState{structs.SandboxCreating}}
		default:
			continue // terminal: nothing to do
		}
		_, err := t.cfg.Store.Apply(ctx, command.SandboxUpdate, req)
		switch {
		case errors.Is(err, apperr.ErrFailedPrecondition):
			// It changed meanwhile; the next beat looks again.
		case err != nil:
			errs = append(errs, fmt.Errorf("mark sandbox %s stopped: %w", sb.ID, err))
		default:
			delete(missing, sb.ID)
			t.log.Info("sandbox gone from its node", "event", "sandbox_reconciled", "sandbox_id", sb.ID,
				"team_id", sb.TeamID, "node_id", nodeID, "was", sb.State)
		}
	}
	e.missing = missing
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("reconcile node %s: %w", nodeID, err)
	}
	return kill, nil
}

// toKill returns, sorted, the ids the agent runs that it must kill: those
// the state has as terminal or on another node, and those the state has
// not known for Grace. It updates e.unknown.
func (t *Tracker) toKill(snap *state.Snapshot, e *entry, nodeID string, runs map[string]bool, now time.Time) []string {
	var kill []string
	unknown := map[string]time.Time{}
	for id := range runs {
		sb := snap.SandboxByID(id)
		switch {
		case sb == nil:
			first, seen := e.unknown[id]
			if !seen {
				first = now
			}
			unknown[id] = first
			if now.Sub(first) < t.cfg.Grace {
				continue
			}
			t.log.Warn("killing unknown sandbox", "event", "sandbox_orphan_killed", "sandbox_id", id, "node_id", nodeID,
				"unknown_for", now.Sub(first))
		case sb.State.Terminal():
			t.log.Info("killing ended sandbox", "event", "sandbox_leftover_killed", "sandbox_id", id, "node_id", nodeID,
				"state", sb.State)
		case sb.NodeID != "" && sb.NodeID != nodeID:
			t.log.Warn("killing sandbox placed elsewhere", "event", "sandbox_misplaced_killed", "sandbox_id", id,
				"node_id", nodeID, "placed_on", sb.NodeID)
		default:
			continue
		}
		kill = append(kill, id)
	}
	e.unknown = unknown
	slices.Sort(kill)
	return kill
}
