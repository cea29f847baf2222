package serverrpc

import (
	"context"

	"google.golang.org/grpc/metadata"

	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/vivaldi"
)

// SetCoordinates gives the server this server's network coordinate
// (package vivaldi): heartbeat replies carry it, and the coordinates and
// round trips that agents report in their heartbeats are observed with it.
// Call it before Register; it returns s.
func (s *Server) SetCoordinates(e *vivaldi.Estimator) *Server {
	s.coords = e
	return s
}

// forwardedKey marks, in a forwarded heartbeat's metadata, that the agent
// measured its round trip to the server that forwarded it, not to this one.
const forwardedKey = "codeint-forwarded-by-server"

func forwarding(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, forwardedKey, "1")
}

func forwarded(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	return len(md.Get(forwardedKey)) > 0
}

// observeAgent observes the agent's coordinate with the round trip it
// measured to this server, unless the beat was forwarded here. Bad
// measurements are dropped (vivaldi.ErrRejected): the next beat brings
// another.
func (s *Server) observeAgent(ctx context.Context, hb nodes.Heartbeat) {
	if s.coords == nil || hb.Coord == nil || hb.RTT <= 0 || forwarded(ctx) {
		return
	}
	_ = s.coords.Observe(hb.Node.ID, hb.Coord, hb.RTT)
}
