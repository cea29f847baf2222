package cluster

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/nodes"
	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/structs"
)

// bootstrapped is a server of r1 that formed a region alone and leads it.
func bootstrapped(t *testing.T, id string) *node {
	t.Helper()
	n := newNode(t, id, "r1", func(c *Config) { c.BootstrapExpect = 1 })
	if err := n.cluster.Form(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, id+" to lead", n.store.IsLeader)
	return n
}

func joinRequest(n *node, region string) *serverpb.JoinRequest {
	return &serverpb.JoinRequest{NodeId: n.id, Region: region, RaftAddr: n.store.Addr(), RpcAddr: n.rpcAddr, HttpAddr: "http-" + n.id}
}

// TestJoinRecordsTheServerOnce: Join adds a voter and records its
// addresses; the same Join again commits nothing; a changed address is
// recorded anew.
func TestJoinRecordsTheServerOnce(t *testing.T) {
	a := bootstrapped(t, "a")
	b := newNode(t, "b", "r1", nil)
	ctx := testCtx(t)
	if err := a.cluster.Join(ctx, joinRequest(b, "r1")); err != nil {
		t.Fatal(err)
	}
	if ids := peerIDs(t, a); !slices.Equal(ids, []string{"a", "b"}) {
		t.Fatalf("voters %v", ids)
	}
	first := a.store.State().Snapshot().ServerByID("b")
	if first == nil || first.RPCAddr != b.rpcAddr || first.RaftAddr != b.store.Addr() || first.HTTPAddr != "http-b" || first.Region != "r1" {
		t.Fatalf("recorded %+v", first)
	}
	index := a.store.State().Index()

	if err := a.cluster.Join(ctx, joinRequest(b, "r1")); err != nil {
		t.Fatal(err)
	}
	if got := a.store.State().Index(); got != index {
		t.Fatalf("the same join committed again: state index %d → %d", index, got)
	}
	if again := a.store.State().Snapshot().ServerByID("b"); !again.UpdatedAt.Equal(first.UpdatedAt) {
		t.Fatalf("the record changed: %v → %v", first.UpdatedAt, again.UpdatedAt)
	}

	moved := joinRequest(b, "r1")
	moved.HttpAddr = "http-b-moved"
	if err := a.cluster.Join(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if srv := a.store.State().Snapshot().ServerByID("b"); srv.HTTPAddr != "http-b-moved" || a.store.State().Index() == index {
		t.Fatalf("a changed address was not recorded: %+v", srv)
	}
}

// TestJoinRefusesAnotherRegion: regions federate, they do not join:
// FAILED_PRECONDITION, and neither Raft nor the state changes.
func TestJoinRefusesAnotherRegion(t *testing.T) {
	a := bootstrapped(t, "a")
	x := newNode(t, "x", "r2", nil)
	index := a.store.State().Index()
	err := a.cluster.Join(testCtx(t), joinRequest(x, "r2"))
	if apperr.CodeOf(err) != apperr.FailedPrecondition || !contains(err, `"r2"`) {
		t.Fatalf("got %v, want FAILED_PRECONDITION naming r2", err)
	}
	if ids := peerIDs(t, a); !slices.Equal(ids, []string{"a"}) {
		t.Fatalf("voters %v", ids)
	}
	if a.store.State().Index() != index || a.store.State().Snapshot().ServerByID("x") != nil {
		t.Fatal("the state recorded a server of another region")
	}
}

// TestRemovePeer: the leader does not remove itself; another server is
// removed from Raft and from the state, and forgotten by the probes.
func TestRemovePeer(t *testing.T) {
	a := bootstrapped(t, "a")
	b := newNode(t, "b", "r1", nil)
	ctx := testCtx(t)
	if err := a.cluster.Join(ctx, joinRequest(b, "r1")); err != nil {
		t.Fatal(err)
	}
	if err := a.cluster.RemovePeer(ctx, "a"); apperr.CodeOf(err) != apperr.FailedPrecondition {
		t.Fatalf("the leader removing itself: %v", err)
	}
	a.cluster.recordProbe("b", true)
	if err := a.cluster.RemovePeer(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if ids := peerIDs(t, a); !slices.Equal(ids, []string{"a"}) {
		t.Fatalf("voters %v", ids)
	}
	if a.store.State().Snapshot().ServerByID("b") != nil {
		t.Fatal("b is still recorded")
	}
	if _, ok := a.cluster.Health()["b"]; ok {
		t.Fatal("b's health is still reported")
	}
}

// TestPeersCarryRPCAddresses: each Raft server with the RPC address the
// state records for it (this server's own from its config; "" for a
// server not recorded).
func TestPeersCarryRPCAddresses(t *testing.T) {
	a := bootstrapped(t, "a")
	b := newNode(t, "b", "r1", nil)
	c := newNode(t, "c", "r1", nil)
	if err := a.cluster.Join(testCtx(t), joinRequest(b, "r1")); err != nil {
		t.Fatal(err)
	}
	if err := a.store.Join("c", c.store.Addr()); err != nil { // in Raft, not in the state
		t.Fatal(err)
	}
	peers, err := a.cluster.Peers(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": a.rpcAddr, "b": b.rpcAddr, "c": ""}
	if len(peers) != 3 {
		t.Fatalf("peers %v", peers)
	}
	for _, p := range peers {
		if rpc, ok := want[p.GetNodeId()]; !ok || p.GetRpcAddr() != rpc || !p.GetVoter() || p.GetLeader() != (p.GetNodeId() == "a") {
			t.Errorf("peer %v, want RPC address %q", p, rpc)
		}
	}
}

// TestStatus describes the server, with a state hash when asked.
func TestStatus(t *testing.T) {
	a := bootstrapped(t, "a")
	st, err := a.cluster.Status(false)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetNodeId() != "a" || st.GetRegion() != "r1" || st.GetRpcAddr() != a.rpcAddr || st.GetRaftAddr() != a.store.Addr() ||
		st.GetHttpAddr() != "http-a" || st.GetLeaderId() != "a" || !st.GetVoter() || st.GetClusterId() != "cl_test" ||
		st.GetAuthoritativeRegion() != "r1" || st.GetStateHash() != "" {
		t.Fatalf("status %v", st)
	}
	st, err = a.cluster.Status(true)
	if err != nil || st.GetStateHash() == "" {
		t.Fatalf("status with hash %v, %v", st, err)
	}
}

// TestHeartbeat: a leader that has not yet applied the log of earlier
// leaders refuses heartbeats; then a node of another region is refused
// before the tracker sees it, and a node of this region is registered by
// the tracker.
func TestHeartbeat(t *testing.T) {
	a := bootstrapped(t, "a")
	a.cluster.cfg.Nodes = nodes.New(nodes.Config{Store: a.store, TTL: 3 * time.Second})
	if _, err := a.cluster.Heartbeat(testCtx(t), nodes.Heartbeat{Node: structs.Node{ID: "n1", Region: "r1"}}); apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("a heartbeat before the leader caught up: %v, want UNAVAILABLE", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.cluster.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the leader to catch up", a.cluster.caughtUp.Load)
	_, err := a.cluster.Heartbeat(testCtx(t), nodes.Heartbeat{Node: structs.Node{ID: "n2", Region: "r2"}})
	if apperr.CodeOf(err) != apperr.FailedPrecondition {
		t.Fatalf("a node of another region: %v", err)
	}
	if a.store.State().Snapshot().NodeByID("n2") != nil {
		t.Fatal("a node of another region was registered")
	}
	reply, err := a.cluster.Heartbeat(testCtx(t), nodes.Heartbeat{Node: structs.Node{ID: "n1", Region: "r1", RPCAddr: "10.0.0.1:7001"}})
	if err != nil || reply.TTL != 3*time.Second {
		t.Fatalf("a node of this region: %+v, %v", reply, err)
	}
	if n := a.store.State().Snapshot().NodeByID("n1"); n == nil || n.RPCAddr != "10.0.0.1:7001" {
		t.Fatalf("registered %+v", n)
	}
}
