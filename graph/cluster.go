package graph

import (
	"context"
	"time"

	"github.com/codeint/codeint/graph/model"
)

// ClusterInfo describes the region's Raft cluster and decides whether a
// read at a consistency level may be served here now.
type ClusterInfo interface {
	Cluster(ctx context.Context) (ClusterView, error)
	// Barrier returns once a read at level ("STALE", "DEFAULT",
	// "LINEARIZABLE"; "" = DEFAULT) may use this server's state.
	Barrier(ctx context.Context, level string) error
}

// ClusterView is a region's cluster as one server sees it.
type ClusterView struct {
	Region  string
	Servers []ClusterServer
}

// ClusterServer is one server of a ClusterView.
type ClusterServer struct {
	NodeID      string
	RaftAddress string
	RPCAddress  string
	Voter       bool
	Leader      bool
	Healthy     bool
	LastContact time.Duration // since the viewer last reached it
}

// barrier gates a read by the consistency the caller asked for. A server
// without cluster information is a single server: every read is current.
func (r *Resolver) barrier(ctx context.Context, c *model.Consistency) error {
	if r.Cluster == nil {
		return nil
	}
	level := ""
	if c != nil {
		level = string(*c)
	}
	return r.Cluster.Barrier(ctx, level)
}

func toCluster(v ClusterView) *model.Cluster {
	out := &model.Cluster{Region: v.Region, Servers: make([]*model.ClusterServer, 0, len(v.Servers))}
	for _, s := range v.Servers {
		m := &model.ClusterServer{NodeID: s.NodeID, RaftAddress: s.RaftAddress, RPCAddress: s.RPCAddress,
			Voter: s.Voter, Leader: s.Leader, Healthy: s.Healthy, LastContactMs: int(s.LastContact.Milliseconds())}
		if s.Leader {
			out.Leader = m
		}
		out.Servers = append(out.Servers, m)
	}
	return out
}
