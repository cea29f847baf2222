package store

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/command"
)

func mustPeers(t testing.TB, s *Store) []Peer {
	t.Helper()
	peers, err := s.Peers()
	if err != nil {
		t.Fatalf("Peers on %s: %v", s.NodeID(), err)
	}
	return peers
}

func TestPeersJoinRemove(t *testing.T) {
	stores := startTCPCluster(t, 3)
	leader, s2, s3 := stores[0], stores[1], stores[2]
	index := sandboxIndex(t, mustApply(t, leader, command.SandboxCreate, create("sb_1")))
	waitIndex(t, s3, index)

	want := []Peer{
		{ID: "s1", Address: leader.Addr(), Voter: true, Leader: true},
		{ID: "s2", Address: s2.Addr(), Voter: true},
		{ID: "s3", Address: s3.Addr(), Voter: true},
	}
	for _, s := range stores {
		if got := mustPeers(t, s); !slices.Equal(got, want) {
			t.Fatalf("Peers on %s = %+v, want %+v", s.NodeID(), got, want)
		}
	}

	if lc := leader.LastContact(); time.Since(lc) > time.Second {
		t.Fatalf("leader's LastContact = %v", lc)
	}
	if lc := s2.LastContact(); lc.IsZero() || time.Since(lc) > 5*time.Second {
		t.Fatalf("follower's LastContact = %v", lc)
	}
	if ci := leader.CommitIndex(); ci < index {
		t.Fatalf("leader's CommitIndex %d < %d", ci, index)
	}
	waitFor(t, "s2's commit index", func() bool { return s2.CommitIndex() >= index })

	// s3 moves: same id, new address, new disk.
	if err := s3.Close(); err != nil {
		t.Fatal(err)
	}
	moved := startStore(t, tcpConfig("s3", t.TempDir()))
	if err := leader.Join("s3", moved.Addr()); err != nil {
		t.Fatalf("Join s3 at its new address: %v", err)
	}
	want[2].Address = moved.Addr()
	if got := mustPeers(t, leader); !slices.Equal(got, want) {
		t.Fatalf("Peers after the move = %+v, want %+v", got, want)
	}
	waitIndex(t, moved, index)

	// Removing a stranger does nothing; removing a member removes it.
	if err := leader.Remove("nobody"); err != nil {
		t.Fatalf("Remove of a non-member: %v", err)
	}
	if err := leader.Remove("s2"); err != nil {
		t.Fatalf("Remove s2: %v", err)
	}
	if got := mustPeers(t, leader); !slices.Equal(got, []Peer{want[0], want[2]}) {
		t.Fatalf("Peers after Remove = %+v", got)
	}
	index = sandboxIndex(t, mustApply(t, leader, command.SandboxCreate, create("sb_2")))
	waitIndex(t, moved, index)

	// Membership changes need the leader.
	if err := moved.Join("s2", s2.Addr()); !errors.Is(err, ErrNotLeader) || apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("Join on a follower = %v", err)
	}
}

func TestBootstrapPeers(t *testing.T) {
	var stores []*Store
	var peers []Peer
	for _, id := range []string{"a", "b", "c"} {
		s := startStore(t, tcpConfig(id, t.TempDir()))
		stores = append(stores, s)
		peers = append(peers, Peer{ID: id, Address: s.Addr()})
	}

	bad := []struct {
		name  string
		peers []Peer
	}{
		{"without this server", peers[1:]},
		{"this server at another address", []Peer{{ID: "a", Address: peers[1].Address}, peers[1], peers[2]}},
		{"a peer without an address", []Peer{peers[0], {ID: "b"}}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			err := stores[0].BootstrapPeers(tt.peers)
			if !errors.Is(err, apperr.ErrInvalidArgument) {
				t.Fatalf("BootstrapPeers = %v, want INVALID_ARGUMENT", err)
			}
		})
	}

	for _, s := range stores {
		if err := s.BootstrapPeers(peers); err != nil {
			t.Fatalf("BootstrapPeers on %s: %v", s.NodeID(), err)
		}
	}
	var leader *Store
	waitFor(t, "a leader", func() bool {
		for _, s := range stores {
			if s.IsLeader() {
				leader = s
			}
		}
		return leader != nil
	})
	if err := leader.WaitForLeader(waitTimeout); err != nil {
		t.Fatal(err)
	}
	got := mustPeers(t, leader)
	if len(got) != 3 {
		t.Fatalf("Peers = %+v", got)
	}
	for i, p := range got {
		if p.ID != peers[i].ID || p.Address != peers[i].Address || !p.Voter || p.Leader != (p.ID == leader.NodeID()) {
			t.Fatalf("peer %d = %+v (leader %s)", i, p, leader.NodeID())
		}
	}
	index := sandboxIndex(t, mustApply(t, leader, command.SandboxCreate, create("sb_1")))
	for _, s := range stores {
		waitIndex(t, s, index)
		// A second bootstrap, as after a restart, does nothing.
		if err := s.BootstrapPeers(peers); err != nil {
			t.Fatalf("second BootstrapPeers on %s: %v", s.NodeID(), err)
		}
	}
}

func TestPeersNeedOpenStore(t *testing.T) {
	s, err := New(fastConfig("closed", t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Peers(); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("Peers = %v", err)
	}
	if !s.LastContact().IsZero() || s.CommitIndex() != 0 {
		t.Fatal("a store that is not open reports Raft state")
	}
}
