package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/structs"
)

// Creator is what CreateSandbox needs of this region's sandbox service.
type Creator interface {
	Create(ctx context.Context, teamID string, in sandboxes.CreateInput) (*structs.Sandbox, error)
	Preview(ctx context.Context, teamID string, in sandboxes.CreateInput) (*structs.Placement, error)
}

// Create creates (or with preview only places) a sandbox in another
// region: the entry server chose the region, that region's leader chooses
// the node. The region's servers are asked in turn, most recently reached
// first, until one answers; a refusal (RESOURCE_EXHAUSTED when it is
// full, say) is final.
func (f *Federation) Create(ctx context.Context, region, teamID string, in sandboxes.CreateInput, preview bool) (*structs.Sandbox, *structs.Placement, error) {
	input, err := json.Marshal(in)
	if err != nil {
		return nil, nil, fmt.Errorf("federation: encode create: %w", err)
	}
	req := &serverpb.CreateRequest{Caller: f.caller(), TeamId: teamID, Input: input, Preview: preview}
	servers := f.serversOf(region)
	if len(servers) == 0 {
		return nil, nil, apperr.New(apperr.Unavailable, "no server of region %s is reachable now", region)
	}
	var last error
	for _, addr := range servers {
		reply, err := f.createAt(ctx, addr, req)
		if err == nil {
			return decodeCreate(reply)
		}
		if !errors.Is(err, apperr.ErrUnavailable) {
			return nil, nil, err
		}
		last = err
	}
	return nil, nil, last
}

func (f *Federation) createAt(ctx context.Context, addr string, req *serverpb.CreateRequest) (*serverpb.CreateReply, error) {
	var reply *serverpb.CreateReply
	_, err := f.ask(ctx, addr, func(ctx context.Context, c serverpb.ServerClient) (*serverpb.SandboxReply, error) {
		var err error
		reply, err = c.CreateSandbox(ctx, req)
		return nil, err
	})
	return reply, err
}

func decodeCreate(r *serverpb.CreateReply) (*structs.Sandbox, *structs.Placement, error) {
	var p *structs.Placement
	if len(r.GetPlacement()) > 0 {
		p = &structs.Placement{}
		if err := json.Unmarshal(r.GetPlacement(), p); err != nil {
			return nil, nil, fmt.Errorf("federation: decode placement: %w", err)
		}
	}
	if len(r.GetSandbox()) == 0 {
		return nil, p, nil
	}
	var sb structs.Sandbox
	if err := json.Unmarshal(r.GetSandbox(), &sb); err != nil {
		return nil, nil, fmt.Errorf("federation: decode sandbox: %w", err)
	}
	return &sb, p, nil
}

// CreateSandbox serves a create sent by a server of another region (the
// region step chose this one) or of this region (the leader places). It
// is never passed on to another region.
func (f *Federation) CreateSandbox(ctx context.Context, req *serverpb.CreateRequest) (*serverpb.CreateReply, error) {
	if c := req.GetCaller(); c.GetRegion() != f.cfg.Region {
		if err := f.checkCaller(c); err != nil {
			return nil, err
		}
	} else {
		ctx = sandboxes.ToLeader(ctx)
	}
	var in sandboxes.CreateInput
	if err := json.Unmarshal(req.GetInput(), &in); err != nil {
		return nil, apperr.New(apperr.InvalidArgument, "create input: %v", err)
	}
	p := f.creator.Load()
	if p == nil {
		return nil, apperr.New(apperr.Unavailable, "region %s is starting", f.cfg.Region)
	}
	svc := *p
	ctx = sandboxes.LocalOnly(ctx)
	in.Region, in.Regions = f.cfg.Region, nil
	if req.GetPreview() {
		pl, err := svc.Preview(ctx, req.GetTeamId(), in)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(pl)
		return &serverpb.CreateReply{Placement: b}, err
	}
	sb, err := svc.Create(ctx, req.GetTeamId(), in)
	if err != nil {
		return nil, err
	}
	reply, err := f.sandboxReply(sb)
	if err != nil {
		return nil, err
	}
	pl, err := json.Marshal(sb.Placement)
	return &serverpb.CreateReply{Sandbox: reply.GetSandbox(), Placement: pl, AgentRpcAddr: reply.GetAgentRpcAddr()}, err
}

// createAttempt bounds one create sent to the leader: a cold start, which
// the leader waits for, takes well under it.
const createAttempt = 3 * time.Minute

// Leader sends the creates of a server that is not its region's leader to
// the leader, which places on its live view (sandboxes.Leader).
type Leader struct {
	Forwarder *forward.Forwarder
	Store     interface{ IsLeader() bool }
	Region    string
	// Local serves the create when this server became the leader meanwhile.
	Local Creator
}

// IsLeader reports whether this server is the region's leader.
func (l Leader) IsLeader() bool { return l.Store.IsLeader() }

// Create runs the create on the leader.
func (l Leader) Create(ctx context.Context, teamID string, in sandboxes.CreateInput, preview bool) (*structs.Sandbox, *structs.Placement, error) {
	input, err := json.Marshal(in)
	if err != nil {
		return nil, nil, fmt.Errorf("federation: encode create: %w", err)
	}
	var sb *structs.Sandbox
	var p *structs.Placement
	err = l.Forwarder.OnLeaderWithin(ctx, createAttempt, func(ctx context.Context, local bool, c serverpb.ServerClient) error {
		if local {
			ctx = sandboxes.ToLeader(ctx)
			if preview {
				p, err = l.Local.Preview(ctx, teamID, in)
				return err
			}
			sb, err = l.Local.Create(ctx, teamID, in)
			if sb != nil {
				p = sb.Placement
			}
			return err
		}
		reply, err := c.CreateSandbox(ctx, &serverpb.CreateRequest{Caller: &serverpb.Caller{Region: l.Region},
			TeamId: teamID, Input: input, Preview: preview})
		if err != nil {
			return forward.FromStatus(err)
		}
		sb, p, err = decodeCreate(reply)
		return err
	})
	return sb, p, err
}
