package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestRegionServerJoinsAndIsRemoved grows a running region of three by a
// fourth server started with only --join (no --bootstrap-expect): it
// becomes a voter that every server lists, in Raft and in the GraphQL
// cluster view. `operator raft remove-peer` takes it out again, and the
// leader refuses to remove itself with FAILED_PRECONDITION.
func TestRegionServerJoinsAndIsRemoved(t *testing.T) {
	r := startRegion(t, "rm", 3, false)
	rpc := r.rpc()
	ctx := ctxT(t, 2*time.Minute)
	var joinList []string
	for _, s := range r.servers {
		joinList = append(joinList, s.rpc)
	}
	three := serverIDs(r.servers)

	s4 := r.addServer(t, "rm-s4", "--join", strings.Join(joinList, ","))
	four := append(slices.Clone(three), s4.id)
	took := rpc.waitPeers(s4, four, 30*time.Second)
	t.Logf("%s is a voter %v after it started", s4.id, took.Round(time.Millisecond))
	for _, s := range r.servers {
		rpc.waitPeers(s, four, 10*time.Second)
	}
	leader := r.waitLeader(t, 30*time.Second)
	if leader == s4 {
		t.Fatalf("the joining server took the lead: the test wants it as a follower")
	}

	t.Run("list-peers and the cluster view show four voters", func(t *testing.T) {
		out, err := r.operator(t, leader, "raft list-peers", nil)
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if !strings.Contains(out, s4.id) || !strings.Contains(out, s4.rpc) || strings.Count(out, "true") != 4 {
			t.Fatalf("list-peers does not show %s (rpc %s) among 4 voters:\n%s", s4.id, s4.rpc, out)
		}
		// The API of the joined server serves once it has a leader, and
		// every server sees the same four.
		for _, s := range r.servers {
			c := waitClusterOf(t, s, 4)
			for _, srv := range c.Servers {
				if !srv.Voter || srv.RPCAddress == "" {
					t.Fatalf("%s sees %+v: want a voter with an RPC address", s.id, srv)
				}
			}
			if c.Leader == nil || c.Leader.NodeID != leader.id {
				t.Fatalf("%s sees leader %+v, want %s", s.id, c.Leader, leader.id)
			}
		}
		r.waitSameState(t, 30*time.Second)
	})

	t.Run("remove-peer takes the fourth server out", func(t *testing.T) {
		// Through a follower: the call is forwarded to the leader.
		via := r.followersOf(leader)[0]
		if via == s4 {
			via = r.followersOf(leader)[1]
		}
		out, err := r.operator(t, via, "raft remove-peer", nil, s4.id)
		if err != nil || !strings.Contains(out, "removed "+s4.id) {
			t.Fatalf("remove-peer %s: %v: %s", s4.id, err, out)
		}
		for _, s := range r.followersOf(s4) {
			rpc.waitPeers(s, three, 10*time.Second)
		}
		out, err = r.operator(t, leader, "raft list-peers", nil)
		if err != nil || strings.Contains(out, s4.id) || strings.Count(out, "true") != 3 {
			t.Fatalf("list-peers after remove-peer: %v:\n%s", err, out)
		}
		r.dropServer(t, s4)
		for _, s := range r.servers {
			c, err := s.client().Cluster(ctx)
			if err != nil {
				t.Fatalf("%s: %v", s.id, err)
			}
			if got := clusterIDs(c); !slices.Equal(got, three) {
				t.Fatalf("%s's cluster view after remove-peer: %v, want %v", s.id, got, three)
			}
		}
	})

	t.Run("the leader does not remove itself", func(t *testing.T) {
		leader := r.waitLeader(t, 30*time.Second)
		out, err := r.operator(t, leader, "raft remove-peer", nil, leader.id)
		if err == nil || !strings.Contains(out, "cannot remove itself") {
			t.Fatalf("remove-peer of the leader on the leader: %v: %s", err, out)
		}
		t.Logf("remove-peer %s on itself: %s", leader.id, strings.TrimSpace(out))
		for _, via := range []*testServer{leader, r.followersOf(leader)[0]} {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := rpc.of(via).RemovePeer(rctx, &serverpb.RemovePeerRequest{NodeId: leader.id})
			cancel()
			if status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("RemovePeer(%s) through %s = %v, want FAILED_PRECONDITION", leader.id, via.id, err)
			}
		}
		rpc.waitPeers(leader, three, 5*time.Second)
		if now := r.waitLeader(t, 10*time.Second); now != leader {
			t.Fatalf("leadership moved from %s to %s", leader.id, now.id)
		}
	})
}

// waitClusterOf waits until server s serves the GraphQL cluster view with
// n servers and returns it.
func waitClusterOf(t testing.TB, s *testServer, n int) *codeint.Cluster {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := s.client().Cluster(ctx)
		cancel()
		if err == nil && len(c.Servers) == n {
			return c
		}
		last = fmt.Sprintf("%+v, %v", c, err)
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never showed %d servers: %s", s.id, n, last)
	return nil
}

// clusterIDs returns the sorted node ids of a cluster view.
func clusterIDs(c *codeint.Cluster) []string {
	var out []string
	for _, s := range c.Servers {
		out = append(out, s.NodeID)
	}
	slices.Sort(out)
	return out
}

// TestRegionRemovesDeadServer: with --dead-server-cleanup 5s, a follower
// killed -9 is removed from the Raft configuration by the leader 5 s
// after its last answer (not before), and the two servers left go on
// committing writes.
func TestRegionRemovesDeadServer(t *testing.T) {
	const cleanup = 5 * time.Second
	r := startRegion(t, "rd", 3, false, "--dead-server-cleanup", cleanup.String())
	rpc := r.rpc()
	ctx := ctxT(t, 2*time.Minute)
	leader := r.waitLeader(t, 30*time.Second)
	victim, other := r.followersOf(leader)[0], r.followersOf(leader)[1]
	// Every server has been probed at least once before the kill.
	waitClusterHealthy(t, leader, 3)

	killed := time.Now()
	victim.proc.stop(t, syscall.SIGKILL)
	rpc.waitPeers(leader, []string{leader.id, other.id}, 20*time.Second)
	took := time.Since(killed)
	t.Logf("%s removed %v after kill -9 (cleanup after %v, probes every 1 s)", victim.id, took.Round(time.Millisecond), cleanup)
	// The last good probe can precede the kill by up to the probe interval.
	if took < cleanup-time.Second || took > 15*time.Second {
		t.Errorf("removed %v after the kill, want between %v and 15 s", took, cleanup-time.Second)
	}
	rpc.waitPeers(other, []string{leader.id, other.id}, 5*time.Second)
	ev := logEvents(leader.proc.logs.String(), "dead_server_removed")
	if len(ev) != 1 || ev[0]["node_id"] != victim.id {
		t.Fatalf("leader logged dead_server_removed %v, want once for %s", ev, victim.id)
	}
	if now := r.waitLeader(t, 10*time.Second); now != leader {
		t.Fatalf("leadership moved from %s to %s", leader.id, now.id)
	}

	// Two of two commit: writes through the follower (forwarded) and the
	// leader, then a read with a key made by those writes on the follower.
	team, err := other.client().CreateTeam(ctx, "after-cleanup")
	if err != nil {
		t.Fatal(err)
	}
	key, err := leader.client().CreateAPIKey(ctx, team.ID, "after-cleanup-key")
	if err != nil {
		t.Fatal(err)
	}
	rpc.waitLiveSameState(10 * time.Second)
	v, err := codeint.New("http://"+other.http, key.Secret).Viewer(ctx)
	if err != nil || v.Team.ID != team.ID {
		t.Fatalf("viewer with the new key on %s: %+v, %v", other.id, v, err)
	}
	c, err := other.client().Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := clusterIDs(c); len(got) != 2 || slices.Contains(got, victim.id) {
		t.Fatalf("%s's cluster view: %v, want 2 servers without %s", other.id, got, victim.id)
	}

	// The removed server returns with its old state after the leader
	// restarted: no leader contacts it, so it asks to join again.
	leader.proc.stop(t, syscall.SIGTERM)
	leader.proc.start(t)
	r.waitLeader(t, 30*time.Second)
	victim.proc.start(t)
	took = rpc.waitPeers(other, []string{leader.id, other.id, victim.id}, 30*time.Second)
	// It asks to join again (cluster_rejoin) when no leader contacts it;
	// a leader that reaches it first may add it back another way, so the
	// voter set is what is asserted.
	t.Logf("%s a voter again %v after it restarted (asked to join again: %v)", victim.id, took.Round(time.Millisecond),
		strings.Contains(victim.proc.logs.String(), `"event":"cluster_rejoin"`))
	r.waitLeader(t, 30*time.Second)
	rpc.waitLiveSameState(20 * time.Second)
}

// waitClusterHealthy waits until server s's cluster view shows n servers,
// all healthy.
func waitClusterHealthy(t testing.TB, s *testServer, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := s.client().Cluster(ctx)
		cancel()
		if err == nil && len(c.Servers) == n && !slices.ContainsFunc(c.Servers, func(x codeint.ClusterServer) bool { return !x.Healthy }) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never saw %d healthy servers", s.id, n)
}
