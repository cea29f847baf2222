package sandboxes

import (
	"context"
	"errors"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/structs"
)

// RemoteSandboxes reaches the sandboxes that other regions hold, so that a
// client need not know where its sandbox runs: reads and executions use
// the record Locate returns (streams go straight to the agent at
// agentAddr), changes are made by the region that holds the sandbox.
type RemoteSandboxes interface {
	// Locate returns a team's sandbox held by another region and the RPC
	// address of its node's agent; NOT_FOUND when no region holds it.
	Locate(ctx context.Context, teamID, id string) (sb *structs.Sandbox, agentAddr string, err error)
	Terminate(ctx context.Context, teamID, id string) (*structs.Sandbox, error)
	SetTimeout(ctx context.Context, teamID, id string, seconds int) (*structs.Sandbox, error)
	// Create creates (or with preview only places) a sandbox in another
	// region, whose leader chooses the node.
	Create(ctx context.Context, region, teamID string, in CreateInput, preview bool) (*structs.Sandbox, *structs.Placement, error)
}

type localOnlyKey struct{}

// LocalOnly marks a request that another region sent here: it is about a
// sandbox of this region or none, and is never passed on again.
func LocalOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, localOnlyKey{}, true)
}

// remote returns where to ask about a sandbox this region does not hold,
// or nil.
func (s *Service) remote(ctx context.Context) RemoteSandboxes {
	if s.cfg.Remote == nil || ctx.Value(localOnlyKey{}) != nil {
		return nil
	}
	return s.cfg.Remote
}

// local returns a team's sandbox if this region holds it.
func (s *Service) local(teamID, id string) *structs.Sandbox {
	sb := s.cfg.Store.State().Snapshot().SandboxByID(id)
	if sb == nil || sb.TeamID != teamID {
		return nil
	}
	return sb
}

// holds reports whether this region holds a team's sandbox, catching up
// with the leader once on a miss: a sandbox its leader created a moment
// ago may not be applied here yet.
func (s *Service) holds(ctx context.Context, teamID, id string) bool {
	return s.local(teamID, id) != nil || s.catchUp(ctx) && s.local(teamID, id) != nil
}

// locate asks the other regions for a sandbox this region does not hold
// and makes its node's agent reachable; NOT_FOUND when none holds it.
func (s *Service) locate(ctx context.Context, teamID, id string) (*structs.Sandbox, error) {
	if r := s.remote(ctx); r != nil {
		sb, addr, err := r.Locate(ctx, teamID, id)
		if err == nil {
			s.cfg.Agents.Learn(sb.NodeID, addr)
			return sb, nil
		}
		if !errors.Is(err, apperr.ErrNotFound) {
			return nil, err
		}
	}
	return nil, apperr.New(apperr.NotFound, "sandbox %q not found", id)
}
