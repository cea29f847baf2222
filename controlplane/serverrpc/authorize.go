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
	case "Heartbeat":
		return []tlsutil.Role{tlsutil.RoleServer, tlsutil.RoleAgent}
	case "ListPeers", "RemovePeer", "SnapshotSave", "SnapshotRestore":
		return []tlsutil.Role{tlsutil.RoleServer, tlsutil.RoleClient}
	}
	return []tlsutil.Role{tlsutil.RoleServer} // Apply, ReadIndex, Join, and anything new
}

// authorize checks the caller's certificate role against the method.
func authorize(ctx context.Context, fullMethod string) error {
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
	return nil
}

// AuthorizeUnary is the unary interceptor that enforces allowedRoles.
func AuthorizeUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := authorize(ctx, info.FullMethod); err != nil {
		return nil, forward.ToStatus(err)
	}
	return handler(ctx, req)
}

// AuthorizeStream is the stream interceptor that enforces allowedRoles.
func AuthorizeStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := authorize(ss.Context(), info.FullMethod); err != nil {
		return forward.ToStatus(err)
	}
	return handler(srv, ss)
}
