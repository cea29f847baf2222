package cluster

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/store"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/controlplane/vivaldi"
)

// Defaults for zero Config fields.
const (
	DefaultProbeInterval = time.Second
	DefaultMaxStale      = 5 * time.Second
	leaderPoll           = 50 * time.Millisecond
	registerEvery        = 2 * time.Second
)

// Config wires a Cluster.
type Config struct {
	// Self describes this server: node id, region and its three addresses.
	Self      structs.Server
	ClusterID string
	// Authoritative names the region that owns the global state, reported
	// in Status so that other regions can refuse a disagreement.
	Authoritative string
	Store         *store.Store
	Nodes         *nodes.Tracker
	Dial          forward.Dialer
	// BootstrapExpect is the number of servers that bootstrap a new region
	// together; 0 means this server only joins.
	BootstrapExpect int
	// Join lists RPC addresses of other servers of the region.
	Join []string
	// Discover, when set, finds more RPC addresses (e.g. in Consul).
	Discover func(ctx context.Context) ([]string, error)
	// DeadServerCleanup removes a server unreachable for this long; 0
	// never removes one.
	DeadServerCleanup time.Duration
	ProbeInterval     time.Duration
	// MaxStale is how long a follower may go without hearing from a leader
	// and still serve DEFAULT reads.
	MaxStale time.Duration
	// OnLeader runs each time this server becomes the leader, after it has
	// recorded itself; ctx ends when leadership is lost.
	OnLeader func(ctx context.Context)
	Logger   *slog.Logger
	// Coordinates, when set, is this server's network coordinate, sent in
	// Status replies (package vivaldi).
	Coordinates *vivaldi.Estimator
	// Summary, when set, gives the region's capacity summary
	// (placement.Summary as JSON) that Status replies carry.
	Summary func() []byte
}

// Cluster is one server's membership in its region.
type Cluster struct {
	cfg Config
	log *slog.Logger
	fwd *forward.Forwarder

	// caughtUp is true while this server leads and has applied the log
	// of earlier leaders: only then does it take heartbeats.
	caughtUp atomic.Bool

	mu     sync.Mutex
	health map[string]Health // node id → what the last probes saw
}

// Health is what this server knows of another server's reachability.
type Health struct {
	NodeID      string
	LastContact time.Time // zero: never reached
	Healthy     bool
}

// New returns a Cluster; call Form, then Run.
func New(cfg Config) *Cluster {
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	if cfg.MaxStale <= 0 {
		cfg.MaxStale = DefaultMaxStale
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{cfg: cfg, log: cfg.Logger, health: map[string]Health{}}
	c.fwd = forward.New(forward.Config{Local: cfg.Store, Dial: cfg.Dial, RPCAddr: c.rpcAddr})
	return c
}

// Forwarder returns the forwarder to the region's leader, the Store of the
// services.
func (c *Cluster) Forwarder() *forward.Forwarder { return c.fwd }

// rpcAddr maps a server's node id to its RPC address through the state.
func (c *Cluster) rpcAddr(nodeID string) (string, bool) {
	if nodeID == c.cfg.Self.ID {
		return c.cfg.Self.RPCAddr, true
	}
	srv := c.cfg.Store.State().Snapshot().ServerByID(nodeID)
	if srv == nil || srv.RPCAddr == "" {
		return "", false
	}
	return srv.RPCAddr, true
}

// Apply commits a command locally (the Apply RPC of the leader).
func (c *Cluster) Apply(ctx context.Context, t command.Type, req any) (any, error) {
	return c.cfg.Store.Apply(ctx, t, req)
}

// AppliedIndex is the index of the last entry this server applied.
func (c *Cluster) AppliedIndex() uint64 { return c.cfg.Store.AppliedIndex() }

// ReadIndex confirms leadership and returns the commit index.
func (c *Cluster) ReadIndex(ctx context.Context) (uint64, error) {
	return c.cfg.Store.ReadIndex(ctx)
}

// Status describes this server, with a hash of its state when asked.
func (c *Cluster) Status(withStateHash bool) (*serverpb.StatusReply, error) {
	s := c.cfg.Store
	voter := false
	if peers, err := s.Peers(); err == nil {
		for _, p := range peers {
			if p.ID == c.cfg.Self.ID {
				voter = p.Voter
			}
		}
	}
	st := &serverpb.StatusReply{
		NodeId: c.cfg.Self.ID, Region: c.cfg.Self.Region, RaftAddr: c.cfg.Self.RaftAddr,
		RpcAddr: c.cfg.Self.RPCAddr, HttpAddr: c.cfg.Self.HTTPAddr,
		LeaderId: s.LeaderID(), LeaderAddr: s.LeaderAddr(),
		AppliedIndex: s.AppliedIndex(), CommitIndex: s.CommitIndex(),
		LastContactUnixNano: s.LastContact().UnixNano(), Voter: voter, ClusterId: c.cfg.ClusterID,
		AuthoritativeRegion: c.cfg.Authoritative,
		Coordinate:          vivaldi.Encode(c.cfg.Coordinates.Coordinate()),
	}
	if c.cfg.Summary != nil {
		st.Summary = c.cfg.Summary()
	}
	if withStateHash {
		idx, sum, err := s.StateHash()
		if err != nil {
			return nil, err
		}
		st.StateIndex, st.StateHash = idx, sum
	}
	return st, nil
}

// Join adds a server of this region as a voter and records its addresses.
func (c *Cluster) Join(ctx context.Context, req *serverpb.JoinRequest) error {
	if req.GetRegion() != c.cfg.Self.Region {
		return apperr.New(apperr.FailedPrecondition, "server %s is in region %q, this region is %q: regions federate, they do not join",
			req.GetNodeId(), req.GetRegion(), c.cfg.Self.Region)
	}
	if err := c.cfg.Store.Join(req.GetNodeId(), req.GetRaftAddr()); err != nil {
		return err
	}
	srv := structs.Server{ID: req.GetNodeId(), Region: req.GetRegion(), RaftAddr: req.GetRaftAddr(),
		RPCAddr: req.GetRpcAddr(), HTTPAddr: req.GetHttpAddr(), UpdatedAt: time.Now()}
	if cur := c.cfg.Store.State().Snapshot().ServerByID(srv.ID); cur != nil && sameServer(*cur, srv) {
		return nil
	}
	_, err := c.cfg.Store.Apply(ctx, command.ServerUpsert, command.ServerUpsertRequest{Server: srv})
	return err
}

func sameServer(a, b structs.Server) bool {
	return a.ID == b.ID && a.Region == b.Region && a.RaftAddr == b.RaftAddr && a.RPCAddr == b.RPCAddr && a.HTTPAddr == b.HTTPAddr
}

// RemovePeer removes a server from the Raft configuration and the state.
func (c *Cluster) RemovePeer(ctx context.Context, nodeID string) error {
	if nodeID == c.cfg.Self.ID {
		return apperr.New(apperr.FailedPrecondition, "the leader %s cannot remove itself; remove it from another server after a new leader is elected, or stop it first", nodeID)
	}
	if err := c.cfg.Store.Remove(nodeID); err != nil {
		return err
	}
	_, err := c.cfg.Store.Apply(ctx, command.ServerRemove, command.ServerRemoveRequest{ID: nodeID})
	c.mu.Lock()
	delete(c.health, nodeID)
	c.mu.Unlock()
	return err
}

// Peers lists the Raft servers with their RPC addresses.
func (c *Cluster) Peers(context.Context) ([]*serverpb.Peer, error) {
	peers, err := c.cfg.Store.Peers()
	if err != nil {
		return nil, err
	}
	out := make([]*serverpb.Peer, 0, len(peers))
	for _, p := range peers {
		rpc, _ := c.rpcAddr(p.ID)
		out = append(out, &serverpb.Peer{NodeId: p.ID, RaftAddr: p.Address, RpcAddr: rpc, Voter: p.Voter, Leader: p.Leader})
	}
	return out, nil
}

// SaveSnapshot writes a snapshot taken now.
func (c *Cluster) SaveSnapshot(_ context.Context, w io.Writer) error {
	_, err := c.cfg.Store.SaveSnapshot(w)
	return err
}

// RestoreSnapshot replaces the region's state with a saved snapshot.
func (c *Cluster) RestoreSnapshot(_ context.Context, r io.Reader) (uint64, error) {
	if err := c.cfg.Store.RestoreSnapshot(r); err != nil {
		return 0, err
	}
	return c.cfg.Store.AppliedIndex(), nil
}

// Heartbeat records an agent's beat (on the leader).
func (c *Cluster) Heartbeat(ctx context.Context, hb nodes.Heartbeat) (nodes.Reply, error) {
	if !c.caughtUp.Load() {
		return nodes.Reply{}, apperr.New(apperr.Unavailable, "the leader is still applying the log of earlier leaders; beat again")
	}
	if hb.Node.Region != "" && hb.Node.Region != c.cfg.Self.Region {
		return nodes.Reply{}, apperr.New(apperr.FailedPrecondition, "node %s is in region %q; this is region %q", hb.Node.ID, hb.Node.Region, c.cfg.Self.Region)
	}
	return c.cfg.Nodes.Heartbeat(ctx, hb)
}
