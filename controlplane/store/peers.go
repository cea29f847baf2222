package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/codeint/codeint/controlplane/apperr"
)

// Peer is one server of the cluster's Raft configuration.
type Peer struct {
	ID      string
	Address string
	// Voter: the server votes and counts toward the quorum.
	Voter bool
	// Leader: the server is the leader this server knows of.
	Leader bool
}

// Peers returns the latest Raft configuration (it may not be committed
// yet), sorted by ID.
func (s *Store) Peers() ([]Peer, error) {
	if s.raft == nil {
		return nil, coded(apperr.Unavailable, ErrNotOpen, "the store is not open")
	}
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, s.raftError(err)
	}
	_, leader := s.raft.LeaderWithID()
	servers := cf.Configuration().Servers
	peers := make([]Peer, 0, len(servers))
	for _, srv := range servers {
		peers = append(peers, Peer{
			ID:      string(srv.ID),
			Address: string(srv.Address),
			Voter:   srv.Suffrage == raft.Voter,
			Leader:  leader != "" && srv.ID == leader,
		})
	}
	slices.SortFunc(peers, func(a, b Peer) int { return strings.Compare(a.ID, b.ID) })
	return peers, nil
}

// Bootstrap makes this server the only voter of a new cluster. On a server
// that already has state (a restart, or a server that joined a cluster) it
// does nothing.
func (s *Store) Bootstrap() error {
	return s.BootstrapPeers([]Peer{{ID: s.cfg.NodeID, Address: s.Addr()}})
}

// BootstrapPeers starts a new cluster whose voters are exactly peers (their
// Voter and Leader fields are ignored). Every server of the group calls it
// with the same list, which must include this server at its own address;
// together they elect a leader. On a server that already has state it does
// nothing.
func (s *Store) BootstrapPeers(peers []Peer) error {
	if s.raft == nil {
		return ErrNotOpen
	}
	conf := raft.Configuration{Servers: make([]raft.Server, 0, len(peers))}
	self := false
	for _, p := range peers {
		if p.ID == "" || p.Address == "" {
			return fmt.Errorf("store: bootstrap: %w", apperr.New(apperr.InvalidArgument, "peer %q at %q: a peer needs an id and an address", p.ID, p.Address))
		}
		if p.ID == s.cfg.NodeID {
			if p.Address != s.Addr() {
				return fmt.Errorf("store: bootstrap: %w", apperr.New(apperr.InvalidArgument, "this server (%s) is listed at %s, but its address is %s", p.ID, p.Address, s.Addr()))
			}
			self = true
		}
		conf.Servers = append(conf.Servers, raft.Server{
			Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Address),
		})
	}
	if !self {
		return fmt.Errorf("store: bootstrap: %w", apperr.New(apperr.InvalidArgument, "the peers do not include this server (%s)", s.cfg.NodeID))
	}
	err := s.raft.BootstrapCluster(conf).Error()
	if errors.Is(err, raft.ErrCantBootstrap) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: bootstrap: %w", err)
	}
	s.log.Info("cluster bootstrapped", "voters", len(conf.Servers))
	return nil
}

// Join adds a voter to the cluster; call it on the leader. Joining a
// server already present with the same address does nothing. A server
// present under the same id at another address (it moved), or another id
// at the same address (it was wiped and came back under a new id), is
// removed first.
func (s *Store) Join(nodeID, addr string) error {
	if s.raft == nil {
		return ErrNotOpen
	}
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return s.raftError(err)
	}
	id, address := raft.ServerID(nodeID), raft.ServerAddress(addr)
	for _, srv := range cf.Configuration().Servers {
		if srv.ID == id && srv.Address == address {
			return nil
		}
		if srv.ID == id || srv.Address == address {
			if err := s.raft.RemoveServer(srv.ID, 0, s.cfg.ApplyTimeout).Error(); err != nil {
				return s.raftError(err)
			}
			s.log.Info("server replaced", "id", srv.ID, "addr", srv.Address, "by", nodeID, "at", addr)
		}
	}
	if err := s.raft.AddVoter(id, address, 0, s.cfg.ApplyTimeout).Error(); err != nil {
		return s.raftError(err)
	}
	s.log.Info("server joined", "id", nodeID, "addr", addr)
	return nil
}

// Remove removes a server from the cluster; call it on the leader.
// Removing a server that is not a member does nothing.
func (s *Store) Remove(nodeID string) error {
	if s.raft == nil {
		return ErrNotOpen
	}
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return s.raftError(err)
	}
	if !slices.ContainsFunc(cf.Configuration().Servers, func(srv raft.Server) bool { return srv.ID == raft.ServerID(nodeID) }) {
		return nil
	}
	if err := s.raft.RemoveServer(raft.ServerID(nodeID), 0, s.cfg.ApplyTimeout).Error(); err != nil {
		return s.raftError(err)
	}
	s.log.Info("server removed", "id", nodeID)
	return nil
}

// LastContact returns when this server last heard from the leader: now on
// the leader itself, the zero time on a server that never heard one.
func (s *Store) LastContact() time.Time {
	if s.raft == nil {
		return time.Time{}
	}
	if s.raft.State() == raft.Leader {
		return time.Now()
	}
	return s.raft.LastContact()
}

// CommitIndex returns the index of the latest entry this server knows to
// be committed.
func (s *Store) CommitIndex() uint64 {
	if s.raft == nil {
		return 0
	}
	return s.raft.CommitIndex()
}
