package serverrpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"google.golang.org/grpc"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/vivaldi"
)

// chunkSize is the size of the messages a snapshot is streamed in.
const chunkSize = 256 << 10

// Backend is what the handlers need of this server. Methods documented as
// leader-only are called only on the leader; the handlers forward
// otherwise.
type Backend interface {
	// Apply commits a command locally (UNAVAILABLE wrapping
	// store.ErrNotLeader on a follower).
	Apply(ctx context.Context, t command.Type, req any) (any, error)
	// AppliedIndex is the index of the last entry applied locally.
	AppliedIndex() uint64
	// ReadIndex confirms leadership and returns the commit index; leader-only.
	ReadIndex(ctx context.Context) (uint64, error)
	// Status describes this server, with a hash of its state when asked.
	Status(withStateHash bool) (*serverpb.StatusReply, error)
	// Join adds a voter; leader-only.
	Join(ctx context.Context, req *serverpb.JoinRequest) error
	// RemovePeer removes a server; leader-only.
	RemovePeer(ctx context.Context, nodeID string) error
	// Peers lists the region's Raft servers.
	Peers(ctx context.Context) ([]*serverpb.Peer, error)
	// SaveSnapshot writes a snapshot taken now.
	SaveSnapshot(ctx context.Context, w io.Writer) error
	// RestoreSnapshot replaces the state with a saved one and returns the
	// index it restored; leader-only.
	RestoreSnapshot(ctx context.Context, r io.Reader) (uint64, error)
	// Heartbeat records an agent's beat; leader-only.
	Heartbeat(ctx context.Context, hb nodes.Heartbeat) (nodes.Reply, error)
}

// Federation serves other regions: the global state to replicate from,
// and their global writes. Only a federated server has one.
type Federation interface {
	ListGlobal(ctx context.Context, req *serverpb.ListGlobalRequest) (*serverpb.ListGlobalReply, error)
	ApplyGlobal(ctx context.Context, req *serverpb.ApplyGlobalRequest) (*serverpb.ApplyReply, error)
	GetSandbox(ctx context.Context, req *serverpb.SandboxRequest) (*serverpb.SandboxReply, error)
	CreateSandbox(ctx context.Context, req *serverpb.CreateRequest) (*serverpb.CreateReply, error)
	// Heard learns of a server of another region that probed this one.
	Heard(c *serverpb.Caller)
	SandboxOp(ctx context.Context, req *serverpb.SandboxRequest) (*serverpb.SandboxReply, error)
	ReportUsage(ctx context.Context, req *serverpb.ReportUsageRequest) (*serverpb.ReportUsageReply, error)
}

// Server implements serverpb.ServerServer.
type Server struct {
	serverpb.UnimplementedServerServer
	b      Backend
	fwd    *forward.Forwarder
	fed    Federation
	coords *vivaldi.Estimator // this server's coordinate (SetCoordinates); nil: off
}

// NewServer returns the handlers; fwd reaches the leader; fed, when not
// nil, serves other regions.
func NewServer(b Backend, fwd *forward.Forwarder, fed Federation) *Server {
	return &Server{b: b, fwd: fwd, fed: fed}
}

// ListGlobal serves the global state to another region.
func (s *Server) ListGlobal(ctx context.Context, req *serverpb.ListGlobalRequest) (*serverpb.ListGlobalReply, error) {
	if s.fed == nil {
		return nil, forward.ToStatus(apperr.New(apperr.FailedPrecondition, "this server is not federated"))
	}
	r, err := s.fed.ListGlobal(ctx, req)
	return r, forward.ToStatus(err)
}

// GetSandbox answers another region's lookup of a sandbox.
func (s *Server) GetSandbox(ctx context.Context, req *serverpb.SandboxRequest) (*serverpb.SandboxReply, error) {
	if s.fed == nil {
		return nil, forward.ToStatus(apperr.New(apperr.FailedPrecondition, "this server is not federated"))
	}
	r, err := s.fed.GetSandbox(ctx, req)
	return r, forward.ToStatus(err)
}

// CreateSandbox creates a sandbox in this region for another region's
// entry server or for a server of this region that is not the leader.
func (s *Server) CreateSandbox(ctx context.Context, req *serverpb.CreateRequest) (*serverpb.CreateReply, error) {
	if s.fed == nil {
		return nil, forward.ToStatus(apperr.New(apperr.FailedPrecondition, "this server does not create for other servers"))
	}
	r, err := s.fed.CreateSandbox(ctx, req)
	return r, forward.ToStatus(err)
}

// SandboxOp changes a sandbox for another region.
func (s *Server) SandboxOp(ctx context.Context, req *serverpb.SandboxRequest) (*serverpb.SandboxReply, error) {
	if s.fed == nil {
		return nil, forward.ToStatus(apperr.New(apperr.FailedPrecondition, "this server is not federated"))
	}
	r, err := s.fed.SandboxOp(ctx, req)
	return r, forward.ToStatus(err)
}

// ApplyGlobal commits another region's global write.
func (s *Server) ApplyGlobal(ctx context.Context, req *serverpb.ApplyGlobalRequest) (*serverpb.ApplyReply, error) {
	if s.fed == nil {
		return nil, forward.ToStatus(apperr.New(apperr.FailedPrecondition, "this server is not federated"))
	}
	r, err := s.fed.ApplyGlobal(ctx, req)
	return r, forward.ToStatus(err)
}

// Register adds the service to g.
func (s *Server) Register(g *grpc.Server) { serverpb.RegisterServerServer(g, s) }

// Apply commits a command if this server is the leader.
func (s *Server) Apply(ctx context.Context, req *serverpb.ApplyRequest) (*serverpb.ApplyReply, error) {
	t := command.Type(req.GetType())
	if !t.Known() {
		return nil, forward.ToStatus(apperr.New(apperr.FailedPrecondition, "command type %d is unknown to this server; upgrade it", req.GetType()))
	}
	cmd, err := command.DecodePayload(t, req.GetPayload())
	if err != nil {
		return nil, forward.ToStatus(apperr.New(apperr.InvalidArgument, "%v", err))
	}
	res, err := s.b.Apply(ctx, t, cmd)
	if err != nil {
		return nil, forward.ToStatus(err)
	}
	idx := s.b.AppliedIndex()
	if res == nil {
		return &serverpb.ApplyReply{Index: idx}, nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, forward.ToStatus(fmt.Errorf("encode result of %v: %w", t, err))
	}
	return &serverpb.ApplyReply{Result: b, Index: idx}, nil
}

// ReadIndex answers on the leader, forwarding otherwise.
func (s *Server) ReadIndex(ctx context.Context, _ *serverpb.ReadIndexRequest) (*serverpb.ReadIndexReply, error) {
	var idx uint64
	err := s.fwd.OnLeader(ctx, func(ctx context.Context, local bool, c serverpb.ServerClient) error {
		if local {
			i, err := s.b.ReadIndex(ctx)
			idx = i
			return err
		}
		r, err := c.ReadIndex(ctx, &serverpb.ReadIndexRequest{})
		idx = r.GetIndex()
		return forward.FromStatus(err)
	})
	if err != nil {
		return nil, forward.ToStatus(err)
	}
	return &serverpb.ReadIndexReply{Index: idx}, nil
}

// Status describes this server.
func (s *Server) Status(_ context.Context, req *serverpb.StatusRequest) (*serverpb.StatusReply, error) {
	if c := req.GetCaller(); c != nil && s.fed != nil {
		s.fed.Heard(c)
	}
	st, err := s.b.Status(req.GetWithStateHash())
	return st, forward.ToStatus(err)
}

// Join adds a server, on the leader.
func (s *Server) Join(ctx context.Context, req *serverpb.JoinRequest) (*serverpb.JoinReply, error) {
	if req.GetNodeId() == "" || req.GetRaftAddr() == "" || req.GetRpcAddr() == "" {
		return nil, forward.ToStatus(apperr.New(apperr.InvalidArgument, "join needs a node id, a Raft address and an RPC address"))
	}
	err := s.fwd.OnLeader(ctx, func(ctx context.Context, local bool, c serverpb.ServerClient) error {
		if local {
			return s.b.Join(ctx, req)
		}
		_, err := c.Join(ctx, req)
		return forward.FromStatus(err)
	})
	return &serverpb.JoinReply{}, forward.ToStatus(err)
}

// RemovePeer removes a server, on the leader.
func (s *Server) RemovePeer(ctx context.Context, req *serverpb.RemovePeerRequest) (*serverpb.RemovePeerReply, error) {
	if req.GetNodeId() == "" {
		return nil, forward.ToStatus(apperr.New(apperr.InvalidArgument, "remove-peer needs a node id"))
	}
	err := s.fwd.OnLeader(ctx, func(ctx context.Context, local bool, c serverpb.ServerClient) error {
		if local {
			return s.b.RemovePeer(ctx, req.GetNodeId())
		}
		_, err := c.RemovePeer(ctx, req)
		return forward.FromStatus(err)
	})
	return &serverpb.RemovePeerReply{}, forward.ToStatus(err)
}

// ListPeers lists the Raft servers as this server sees them.
func (s *Server) ListPeers(ctx context.Context, _ *serverpb.ListPeersRequest) (*serverpb.ListPeersReply, error) {
	peers, err := s.b.Peers(ctx)
	if err != nil {
		return nil, forward.ToStatus(err)
	}
	return &serverpb.ListPeersReply{Peers: peers}, nil
}

// SnapshotSave streams a snapshot taken now.
func (s *Server) SnapshotSave(_ *serverpb.SnapshotSaveRequest, stream grpc.ServerStreamingServer[serverpb.Chunk]) error {
	w := &chunkWriter{send: func(b []byte) error { return stream.Send(&serverpb.Chunk{Data: b}) }}
	if err := s.b.SaveSnapshot(stream.Context(), w); err != nil {
		return forward.ToStatus(err)
	}
	return forward.ToStatus(w.flush())
}

// SnapshotRestore receives a snapshot into a temporary file (so that a
// broken upload changes nothing) and restores it on the leader.
func (s *Server) SnapshotRestore(stream grpc.ClientStreamingServer[serverpb.Chunk, serverpb.SnapshotRestoreReply]) error {
	ctx := stream.Context()
	f, err := os.CreateTemp("", "codeint-restore-*")
	if err != nil {
		return forward.ToStatus(fmt.Errorf("restore: %w", err))
	}
	defer func() { _ = f.Close(); _ = os.Remove(f.Name()) }()
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return forward.ToStatus(apperr.New(apperr.InvalidArgument, "snapshot upload broke off: %v", err))
		}
		if _, err := f.Write(c.GetData()); err != nil {
			return forward.ToStatus(fmt.Errorf("restore: %w", err))
		}
	}
	var idx uint64
	err = s.fwd.OnLeader(ctx, func(ctx context.Context, local bool, c serverpb.ServerClient) error {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		if local {
			i, err := s.b.RestoreSnapshot(ctx, f)
			idx = i
			return err
		}
		i, err := SendSnapshot(ctx, c, f)
		idx = i
		return err
	})
	if err != nil {
		return forward.ToStatus(err)
	}
	return stream.SendAndClose(&serverpb.SnapshotRestoreReply{Index: idx})
}

// Heartbeat records an agent's beat on the leader.
func (s *Server) Heartbeat(ctx context.Context, req *serverpb.HeartbeatRequest) (*serverpb.HeartbeatReply, error) {
	var hb nodes.Heartbeat
	if err := json.Unmarshal(req.GetHeartbeat(), &hb); err != nil {
		return nil, forward.ToStatus(apperr.New(apperr.InvalidArgument, "heartbeat: %v", err))
	}
	s.observeAgent(ctx, hb)
	var reply nodes.Reply
	err := s.fwd.OnLeader(ctx, func(ctx context.Context, local bool, c serverpb.ServerClient) error {
		if local {
			r, err := s.b.Heartbeat(ctx, hb)
			reply = r
			return err
		}
		r, err := SendHeartbeat(forwarding(ctx), c, hb)
		reply = r
		return err
	})
	if err != nil {
		return nil, forward.ToStatus(err)
	}
	reply.Coord = s.coords.Coordinate() // the agent measured its round trip to this server, not to the leader
	b, err := json.Marshal(reply)
	if err != nil {
		return nil, forward.ToStatus(fmt.Errorf("heartbeat reply: %w", err))
	}
	return &serverpb.HeartbeatReply{Reply: b}, nil
}
