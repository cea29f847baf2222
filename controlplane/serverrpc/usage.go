package serverrpc

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/controlplane/tlsutil"
)

// ShipUsage commits an agent's batch of usage records through the
// region's leader. An agent's certificate must name the node whose
// records it ships.
func (s *Server) ShipUsage(ctx context.Context, req *serverpb.ShipUsageRequest) (*serverpb.ShipUsageReply, error) {
	if err := checkShipper(ctx, req.GetNodeId()); err != nil {
		return nil, forward.ToStatus(err)
	}
	var recs []structs.UsageRecord
	if err := json.Unmarshal(req.GetRecords(), &recs); err != nil {
		return nil, forward.ToStatus(apperr.New(apperr.InvalidArgument, "usage records: %v", err))
	}
	res, err := s.fwd.Apply(ctx, command.UsageIngest, command.UsageIngestRequest{NodeID: req.GetNodeId(), Records: recs, At: time.Now()})
	if err != nil {
		return nil, forward.ToStatus(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, forward.ToStatus(fmt.Errorf("usage result: %w", err))
	}
	return &serverpb.ShipUsageReply{Result: b}, nil
}

// checkShipper refuses an agent shipping another node's usage.
func checkShipper(ctx context.Context, nodeID string) error {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil // in-process (tests without TLS): the Authorizer has the say
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return nil
	}
	id, err := tlsutil.PeerIdentity(info.State)
	if err != nil {
		return apperr.New(apperr.Unauthenticated, "the peer certificate names no codeint identity: %v", err)
	}
	if id.Role == tlsutil.RoleAgent && id.Name != nodeID {
		return apperr.New(apperr.PermissionDenied, "agent %s may not ship the usage of node %s", id.Name, nodeID)
	}
	return nil
}

// ShipUsage sends a batch of usage records to a server and returns what
// the ledger did with it.
func ShipUsage(ctx context.Context, c serverpb.ServerClient, nodeID string, recs []structs.UsageRecord) (command.UsageIngestResult, error) {
	b, err := json.Marshal(recs)
	if err != nil {
		return command.UsageIngestResult{}, fmt.Errorf("encode usage records: %w", err)
	}
	reply, err := c.ShipUsage(ctx, &serverpb.ShipUsageRequest{NodeId: nodeID, Records: b})
	if err != nil {
		return command.UsageIngestResult{}, forward.FromStatus(err)
	}
	var res command.UsageIngestResult
	if err := json.Unmarshal(reply.GetResult(), &res); err != nil {
		return res, fmt.Errorf("decode usage result: %w", err)
	}
	return res, nil
}
