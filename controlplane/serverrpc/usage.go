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

// ReportUsage records another region's usage report in this, the
// authoritative, region. A server's certificate must name the region
// whose usage it reports.
func (s *Server) ReportUsage(ctx context.Context, req *serverpb.ReportUsageRequest) (*serverpb.ReportUsageReply, error) {
	if s.fed == nil {
		return nil, forward.ToStatus(apperr.New(apperr.FailedPrecondition, "this server is not federated"))
	}
	if err := checkReporter(ctx, req.GetCaller().GetRegion()); err != nil {
		return nil, forward.ToStatus(err)
	}
	r, err := s.fed.ReportUsage(ctx, req)
	return r, forward.ToStatus(err)
}

// checkReporter refuses a server reporting another region's usage.
func checkReporter(ctx context.Context, region string) error {
	id, ok, err := peerIdentity(ctx)
	if err != nil || !ok {
		return err
	}
	if id.Region != region {
		return apperr.New(apperr.PermissionDenied, "a server of region %q may not report the usage of region %q", id.Region, region)
	}
	return nil
}

// peerIdentity is the identity in the caller's certificate; ok is false
// for an in-process call without TLS (tests), where the Authorizer has the
// say.
func peerIdentity(ctx context.Context) (tlsutil.Identity, bool, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return tlsutil.Identity{}, false, nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return tlsutil.Identity{}, false, nil
	}
	id, err := tlsutil.PeerIdentity(info.State)
	if err != nil {
		return tlsutil.Identity{}, false, apperr.New(apperr.Unauthenticated, "the peer certificate names no codeint identity: %v", err)
	}
	return id, true, nil
}

// checkShipper refuses an agent shipping another node's usage.
func checkShipper(ctx context.Context, nodeID string) error {
	id, ok, err := peerIdentity(ctx)
	if err != nil || !ok {
		return err
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
