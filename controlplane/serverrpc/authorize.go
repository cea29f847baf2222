package serverrpc

import (
	"context"
	"path"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/tlsutil"
)

// allowedRoles says which certificate roles may call each method: the
// servers' own traffic, agents' heartbeats, operators' commands (client
// certificates). Heartbeats also come from servers, which forward them.
func allowedRoles(method string) []tlsutil.Role {
	switch method {
	case "Status":
		return []tlsutil.Role{tlsutil.RoleServer, tlsutil.RoleAgent, tlsutil.RoleClient}
	case "Heartbeat", "ShipUsage":
		return []tlsutil.Role{tlsutil.RoleServer, tlsutil.RoleAgent}
	case "ListPeers", "RemovePeer", "SnapshotSave", "SnapshotRestore":
		return []tlsutil.Role{tlsutil.RoleServer, tlsutil.RoleClient}
	}
	return []tlsutil.Role{tlsutil.RoleServer} // Apply, ReadIndex, Join, and anything new
}

// crossRegion reports whether servers of other regions may call a method:
// federation's, nothing else.
func crossRegion(method string) bool {
	switch method {
	case "Status", "ListGlobal", "ApplyGlobal", "GetSandbox", "SandboxOp", "CreateSandbox", "ReportUsage":
		return true
	}
	return false
}

// Authorizer checks every call's certificate: the role against the method,
// and that servers and agents of other regions call only federation's
// methods.
type Authorizer struct {
	Region string
}

// authorize checks the caller's certificate against the method.
func (a Authorizer) authorize(ctx context.Context, fullMethod string) error {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return apperr.New(apperr.Unauthenticated, "no peer information")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return apperr.New(apperr.Unauthenticated, "the connection is not mutual TLS")
	}
	id, err := tlsutil.PeerIdentity(info.State)
	if err != nil {
		return apperr.New(apperr.Unauthenticated, "the peer certificate names no codeint identity: %v", err)
	}
	method := path.Base(fullMethod)
	if !slices.Contains(allowedRoles(method), id.Role) {
		return apperr.New(apperr.PermissionDenied, "a %s certificate may not call %s", id.Role, method)
	}
	if id.Role != tlsutil.RoleClient && id.Region != a.Region && !crossRegion(method) {
		return apperr.New(apperr.PermissionDenied, "a %s of region %q may not call %s in region %q", id.Role, id.Region, method, a.Region)
	}
	return nil
}

// Unary is the unary interceptor.
func (a Authorizer) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := a.authorize(ctx, info.FullMethod); err != nil {
		return nil, forward.ToStatus(err)
	}
	return handler(ctx, req)
}

// Stream is the stream interceptor.
func (a Authorizer) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := a.authorize(ss.Context(), info.FullMethod); err != nil {
		return forward.ToStatus(err)
	}
	return handler(srv, ss)
}
