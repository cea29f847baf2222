package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/codeint/codeint/controlplane/forward"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/store"
)

const (
	formRetry    = 250 * time.Millisecond
	probeTimeout = time.Second
	rejoinEvery  = 2 * time.Second
)

// Form makes this server part of its region's cluster and returns once a
// leader is known: at once for a server that has Raft state of its own,
// after a join for a server that finds a cluster with a leader, after a
// bootstrap once BootstrapExpect servers have been heard from.
func (c *Cluster) Form(ctx context.Context) error {
	peers, err := c.cfg.Store.Peers()
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	formed := len(peers) > 0
	if !formed && c.cfg.BootstrapExpect == 1 {
		if err := c.cfg.Store.BootstrapPeers([]store.Peer{{ID: c.cfg.Self.ID, Address: c.cfg.Self.RaftAddr, Voter: true}}); err != nil {
			return fmt.Errorf("cluster: bootstrap: %w", err)
		}
		formed = true
	}
	for !formed {
		done, err := c.formOnce(ctx)
		if err != nil {
			return err
		}
		if done {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: waiting for %d servers of region %s: %w", c.cfg.BootstrapExpect, c.cfg.Self.Region, ctx.Err())
		case <-time.After(formRetry):
		}
	}
	// A server with state of its own that the region removed meanwhile
	// (dead-server cleanup, remove-peer) hears from no leader: while it
	// waits it asks to join again, which is a no-op for a member.
	lastJoin := time.Now()
	for c.cfg.Store.LeaderAddr() == "" {
		if time.Since(lastJoin) > rejoinEvery {
			lastJoin = time.Now()
			c.rejoin(ctx)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: waiting for a leader: %w", ctx.Err())
		case <-time.After(leaderPoll):
		}
	}
	c.log.Info("server is in its region's cluster", "event", "cluster_formed", "leader", c.cfg.Store.LeaderID())
	return nil
}

// formOnce asks every known server for its status, joins a cluster that
// has a leader, or bootstraps when BootstrapExpect servers are waiting.
func (c *Cluster) formOnce(ctx context.Context) (bool, error) {
	addrs := c.knownAddrs(ctx)
	var waiting []*serverpb.StatusReply
	for _, addr := range addrs {
		st, err := c.status(ctx, addr)
		if err != nil {
			c.log.Debug("server not reachable yet", "addr", addr, "error", err)
			continue
		}
		if st.GetRegion() != c.cfg.Self.Region || st.GetNodeId() == c.cfg.Self.ID {
			continue
		}
		if st.GetLeaderId() != "" {
			if err := c.joinVia(ctx, addr); err != nil {
				c.log.Warn("join failed; retrying", "via", addr, "error", err)
				continue
			}
			return true, nil
		}
		waiting = append(waiting, st)
	}
	if c.cfg.BootstrapExpect == 0 || len(waiting)+1 < c.cfg.BootstrapExpect {
		return false, nil
	}
	set := []store.Peer{{ID: c.cfg.Self.ID, Address: c.cfg.Self.RaftAddr, Voter: true}}
	for _, st := range waiting {
		if !slices.ContainsFunc(set, func(p store.Peer) bool { return p.ID == st.GetNodeId() }) {
			set = append(set, store.Peer{ID: st.GetNodeId(), Address: st.GetRaftAddr(), Voter: true})
		}
	}
	if len(set) != c.cfg.BootstrapExpect {
		return false, fmt.Errorf("cluster: --bootstrap-expect %d but %d servers of region %s are waiting to bootstrap; start them with the same --bootstrap-expect",
			c.cfg.BootstrapExpect, len(set), c.cfg.Self.Region)
	}
	if err := c.cfg.Store.BootstrapPeers(set); err != nil {
		return false, fmt.Errorf("cluster: bootstrap: %w", err)
	}
	c.log.Info("bootstrapped the region's Raft", "event", "cluster_bootstrap", "servers", len(set))
	return true, nil
}

// rejoin asks a server of the region that knows a leader to add this one.
func (c *Cluster) rejoin(ctx context.Context) {
	for _, addr := range c.knownAddrs(ctx) {
		st, err := c.status(ctx, addr)
		if err != nil || st.GetRegion() != c.cfg.Self.Region || st.GetLeaderId() == "" || st.GetLeaderId() == c.cfg.Self.ID {
			continue
		}
		if err := c.joinVia(ctx, addr); err != nil {
			c.log.Warn("asking to join again failed", "via", addr, "error", err)
			continue
		}
		c.log.Info("asked to join the region again", "event", "cluster_rejoin", "via", addr)
		return
	}
}

// knownAddrs is the static join list, what discovery finds and the
// servers this server's state records, without its own address.
func (c *Cluster) knownAddrs(ctx context.Context) []string {
	addrs := slices.Clone(c.cfg.Join)
	for _, srv := range c.cfg.Store.State().Snapshot().Servers() {
		addrs = append(addrs, srv.RPCAddr)
	}
	if c.cfg.Discover != nil {
		found, err := c.cfg.Discover(ctx)
		if err != nil {
			c.log.Warn("discovery failed", "error", err)
		}
		addrs = append(addrs, found...)
	}
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	return slices.DeleteFunc(addrs, func(a string) bool { return a == "" || a == c.cfg.Self.RPCAddr })
}

func (c *Cluster) client(addr string) (serverpb.ServerClient, error) {
	conn, err := c.cfg.Dial.Conn(addr)
	if err != nil {
		return nil, err
	}
	return serverpb.NewServerClient(conn), nil
}

func (c *Cluster) status(ctx context.Context, addr string) (*serverpb.StatusReply, error) {
	cl, err := c.client(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	st, err := cl.Status(ctx, &serverpb.StatusRequest{})
	return st, forward.FromStatus(err)
}

// joinVia asks the server at addr (which forwards to its leader) to add
// this server.
func (c *Cluster) joinVia(ctx context.Context, addr string) error {
	cl, err := c.client(addr)
	if err != nil {
		return err
	}
	_, err = cl.Join(ctx, c.joinRequest())
	return forward.FromStatus(err)
}

func (c *Cluster) joinRequest() *serverpb.JoinRequest {
	s := c.cfg.Self
	return &serverpb.JoinRequest{NodeId: s.ID, Region: s.Region, RaftAddr: s.RaftAddr, RpcAddr: s.RPCAddr, HttpAddr: s.HTTPAddr}
}
