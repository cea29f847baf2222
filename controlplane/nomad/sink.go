package nomad

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
)

// ApplyFunc commits a command to the region's Raft (the store's Apply).
type ApplyFunc func(ctx context.Context, t command.Type, req any) (any, error)

// DrainSink is the Sink a region's leader runs: it commits what Nomad
// says of a node as the node's drain (command.NodeDrain), so that a node
// Nomad drains, marks ineligible or down gets no new sandboxes and its
// agent shrinks its warm pools; a node Nomad opens again is undrained.
type DrainSink struct {
	Apply  ApplyFunc
	Logger *slog.Logger // discarded when nil
	Now    func() time.Time
}

// NodeState commits s. An open node codeint has not registered yet is
// skipped (its agent's first heartbeat registers it open); a closed one is
// an error, so that the watcher reports it again later.
func (d DrainSink) NodeState(ctx context.Context, s NodeState) error {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	_, err := d.Apply(ctx, command.NodeDrain, command.NodeDrainRequest{NodeID: s.NodeID, Draining: s.Closed(),
		Reason: DrainReason(s), At: now()})
	switch {
	case errors.Is(err, apperr.ErrNotFound) && !s.Closed():
		// An open node codeint does not know yet: its agent's first
		// heartbeat registers it open.
		return nil
	case errors.Is(err, apperr.ErrNotFound):
		// A closed one must not be forgotten: the error makes the watcher
		// list again after its backoff and report the node once more, by
		// when its agent may have registered.
		if d.Logger != nil {
			d.Logger.Info("nomad closes a node codeint does not know yet; retrying", "event", "nomad_node_unknown", "node_id", s.NodeID)
		}
		return fmt.Errorf("record nomad state of node %s: %w", s.NodeID, err)
	case err != nil:
		return fmt.Errorf("record nomad state of node %s: %w", s.NodeID, err)
	}
	if d.Logger != nil {
		d.Logger.Info("node state from nomad", "event", "nomad_node_state", "node_id", s.NodeID, "draining", s.Closed(), "reason", DrainReason(s))
	}
	return nil
}

// DrainReason says why Nomad closes a node ("" when it is open).
func DrainReason(s NodeState) string {
	switch {
	case s.Down:
		return "nomad: down"
	case s.Draining:
		return "nomad: draining"
	case !s.Eligible:
		return "nomad: ineligible"
	}
	return ""
}
