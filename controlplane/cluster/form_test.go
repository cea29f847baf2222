package cluster

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
)

// TestFormBootstrapExpectOne: a lone server bootstraps alone and leads;
// running, it records itself; a second server that only joins finds it
// and becomes a voter, recorded too.
func TestFormBootstrapExpectOne(t *testing.T) {
	a := newNode(t, "a", "r1", func(c *Config) { c.BootstrapExpect = 1 })
	if err := a.cluster.Form(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to lead", a.store.IsLeader)
	if ids := peerIDs(t, a); !slices.Equal(ids, []string{"a"}) {
		t.Fatalf("voters %v", ids)
	}
	a.run(t)
	waitFor(t, "a to record itself", func() bool { return slices.Equal(recorded(a), records(a)) })

	b := newNode(t, "b", "r1", func(c *Config) { c.Join = []string{a.rpcAddr} })
	if err := b.cluster.Form(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if ids := peerIDs(t, a); !slices.Equal(ids, []string{"a", "b"}) {
		t.Fatalf("voters after the join %v", ids)
	}
	if b.store.LeaderID() != "a" {
		t.Fatalf("b names leader %q", b.store.LeaderID())
	}
	waitFor(t, "b's state to record both servers", func() bool { return slices.Equal(recorded(b), records(a, b)) })
}

// TestFormBootstrapExpectThree: three servers that know each other form
// one region: one leader, three voters, every server recorded with its
// RPC address, which ListPeers reports on any server.
func TestFormBootstrapExpectThree(t *testing.T) {
	nodes := formThree(t, nil)
	leader, followers := leaderOf(t, nodes)
	for _, n := range nodes {
		if ids := peerIDs(t, n); !slices.Equal(ids, []string{"s1", "s2", "s3"}) {
			t.Fatalf("%s sees voters %v", n.id, ids)
		}
	}
	for _, n := range nodes {
		n.run(t)
	}
	for _, n := range nodes {
		waitFor(t, n.id+" to record the three servers", func() bool { return slices.Equal(recorded(n), records(nodes...)) })
	}

	conn, err := followers[0].cluster.cfg.Dial.Conn(followers[0].rpcAddr)
	if err != nil {
		t.Fatal(err)
	}
	r, err := serverpb.NewServerClient(conn).ListPeers(testCtx(t), &serverpb.ListPeersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*serverpb.Peer{}
	for _, p := range r.GetPeers() {
		byID[p.GetNodeId()] = p
	}
	for _, n := range nodes {
		p := byID[n.id]
		if p == nil || p.GetRpcAddr() != n.rpcAddr || p.GetRaftAddr() != n.store.Addr() || !p.GetVoter() || p.GetLeader() != (n == leader) {
			t.Errorf("peer %s: %v", n.id, p)
		}
	}
}

// TestFormRefusesAMismatchedBootstrapExpect: a server told to bootstrap
// with 2 that finds 3 servers waiting refuses rather than form a region
// of its own choosing.
func TestFormRefusesAMismatchedBootstrapExpect(t *testing.T) {
	b := newNode(t, "b", "r1", nil)
	c := newNode(t, "c", "r1", nil)
	a := newNode(t, "a", "r1", func(cfg *Config) {
		cfg.BootstrapExpect = 2
		cfg.Join = []string{b.rpcAddr, c.rpcAddr}
	})
	err := a.cluster.Form(testCtx(t))
	if !contains(err, "--bootstrap-expect 2 but 3 servers") {
		t.Fatalf("Form = %v", err)
	}
	if peers, _ := a.store.Peers(); len(peers) != 0 {
		t.Fatalf("bootstrapped anyway: %v", peers)
	}
}

// TestFormWaitsForItsRegion: servers of another region do not count
// toward BootstrapExpect; Form waits until its context ends.
func TestFormWaitsForItsRegion(t *testing.T) {
	other := newNode(t, "x", "r2", nil)
	a := newNode(t, "a", "r1", func(cfg *Config) {
		cfg.BootstrapExpect = 2
		cfg.Join = []string{other.rpcAddr}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	if err := a.cluster.Form(ctx); !contains(err, "waiting for 2 servers of region r1") {
		t.Fatalf("Form = %v", err)
	}
	if peers, _ := a.store.Peers(); len(peers) != 0 {
		t.Fatalf("bootstrapped with another region's server: %v", peers)
	}
}
