package cluster

import (
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/codeint/codeint/controlplane/serverrpc"
	"github.com/codeint/codeint/controlplane/store"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/internal/testwait"
)

// waitTimeout bounds every wait for the cluster to converge.
const waitTimeout = 20 * time.Second

// node is one server: a real store on loopback TCP, its Cluster, and the
// Cluster served over real gRPC.
type node struct {
	id      string
	store   *store.Store
	cluster *Cluster
	rpcAddr string

	stopOnce sync.Once
	grpc     *grpc.Server
}

// newNode opens a server of region that neither bootstraps nor joins;
// tune adjusts its Cluster's config (Join, BootstrapExpect, …) before the
// Cluster is made. It is stopped when the test ends.
func newNode(t *testing.T, id, region string, tune func(*Config)) *node {
	t.Helper()
	st, err := store.New(store.Config{NodeID: id, Dir: t.TempDir(), BindAddr: "127.0.0.1:0",
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, ApplyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Open(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pool := serverrpc.NewPool(grpc.WithTransportCredentials(insecure.NewCredentials()))
	cfg := Config{
		Self:          structs.Server{ID: id, Region: region, RaftAddr: st.Addr(), RPCAddr: ln.Addr().String(), HTTPAddr: "http-" + id},
		ClusterID:     "cl_test",
		Authoritative: "r1",
		Store:         st,
		Dial:          pool,
		ProbeInterval: 50 * time.Millisecond,
	}
	if tune != nil {
		tune(&cfg)
	}
	n := &node{id: id, store: st, cluster: New(cfg), rpcAddr: cfg.Self.RPCAddr, grpc: grpc.NewServer()}
	serverrpc.NewServer(n.cluster, n.cluster.Forwarder(), nil).Register(n.grpc)
	go func() { _ = n.grpc.Serve(ln) }()
	t.Cleanup(func() {
		n.stop()
		_ = pool.Close()
	})
	return n
}

// stop stops the server's RPC service and its store.
func (n *node) stop() {
	n.stopOnce.Do(func() {
		n.grpc.Stop()
		_ = n.store.Close()
	})
}

// run runs the Cluster until the test ends.
func (n *node) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.cluster.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// formThree starts s1, s2, s3 of region r1 with BootstrapExpect 3, each
// knowing the others' RPC addresses, and forms them concurrently.
func formThree(t *testing.T, tune func(*Config)) []*node {
	t.Helper()
	nodes := make([]*node, 3)
	addrs := make([]string, 3)
	for i, id := range []string{"s1", "s2", "s3"} {
		nodes[i] = newNode(t, id, "r1", func(c *Config) {
			c.BootstrapExpect = 3
			if tune != nil {
				tune(c)
			}
		})
		addrs[i] = nodes[i].rpcAddr
	}
	for _, n := range nodes {
		n.cluster.cfg.Join = addrs
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	errs := make(chan error, 3)
	for _, n := range nodes {
		go func() { errs <- n.cluster.Form(ctx) }()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Fatalf("Form: %v", err)
		}
	}
	return nodes
}

// leaderOf waits until exactly one of nodes leads and every one of them
// names it, and returns it and the others.
func leaderOf(t *testing.T, nodes []*node) (*node, []*node) {
	t.Helper()
	var leader *node
	waitFor(t, "one leader that every server names", func() bool {
		leader = nil
		for _, n := range nodes {
			if n.store.IsLeader() {
				if leader != nil {
					return false
				}
				leader = n
			}
		}
		if leader == nil {
			return false
		}
		for _, n := range nodes {
			if n.store.LeaderID() != leader.id {
				return false
			}
		}
		return true
	})
	var others []*node
	for _, n := range nodes {
		if n != leader {
			others = append(others, n)
		}
	}
	return leader, others
}

// peerIDs lists the voters of n's Raft configuration.
func peerIDs(t *testing.T, n *node) []string {
	t.Helper()
	peers, err := n.store.Peers()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range peers {
		if p.Voter {
			ids = append(ids, p.ID)
		}
	}
	return ids
}

// recorded lists the servers n's state records, as "id=rpcAddr".
func recorded(n *node) []string {
	var out []string
	for _, s := range n.store.State().Snapshot().Servers() {
		out = append(out, s.ID+"="+s.RPCAddr)
	}
	slices.Sort(out)
	return out
}

// records is what recorded returns once every one of nodes is recorded.
func records(nodes ...*node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.id+"="+n.rpcAddr)
	}
	slices.Sort(out)
	return out
}

// waitFor polls cond until it holds, or fails the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.For(t, waitTimeout, what, cond)
}

func testCtx(t *testing.T) context.Context { return testwait.Context(t, waitTimeout) }

// contains reports whether err's message contains s.
func contains(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }
