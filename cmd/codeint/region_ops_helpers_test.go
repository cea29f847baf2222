package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/tlsutil"
)

// Helpers of the membership, Consul, failover and snapshot tests. They
// sit beside region_harness_test.go rather than in it.

// regionCert signs a certificate for a party of r with the CA that
// startRegion made in r.dir/tls.
func (r *testRegion) regionCert(t testing.TB, role tlsutil.Role, name string) tlsutil.Files {
	t.Helper()
	dir := filepath.Join(r.dir, "tls")
	f, err := tlsutil.CreateCert(tlsutil.CertRequest{CADir: dir, OutDir: dir, Role: role, Region: r.name, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// addServer starts one more server of r, with id and flags (e.g. --join
// or --bootstrap-expect), and adds it to r.servers. It does not wait for
// it to join; it is stopped when the test ends.
func (r *testRegion) addServer(t testing.TB, id string, flags ...string) *testServer {
	t.Helper()
	s := &testServer{id: id, raft: freeAddr(t), rpc: freeAddr(t), http: freeAddr(t)}
	s.dataDir = filepath.Join(r.dir, id)
	f := r.regionCert(t, tlsutil.RoleServer, id)
	args := []string{"server", "--node-id", id, "--region", r.name, "--data-dir", s.dataDir,
		"--raft-addr", s.raft, "--rpc-addr", s.rpc, "--http-addr", s.http,
		"--ca-file", f.CA, "--cert-file", f.Cert, "--key-file", f.Key, "--heartbeat-ttl", "3s"}
	s.proc = &proc{name: id, args: append(args, flags...)}
	s.proc.start(t)
	r.servers = append(r.servers, s)
	t.Cleanup(func() { s.proc.stop(t, syscall.SIGTERM) })
	return s
}

// dropServer stops a server and forgets it, so that the region's waits no
// longer count it.
func (r *testRegion) dropServer(t testing.TB, s *testServer) {
	t.Helper()
	s.proc.stop(t, syscall.SIGTERM)
	r.servers = slices.DeleteFunc(r.servers, func(x *testServer) bool { return x == s })
}

// startAgent starts the region's agent with --servers servers (an address
// list or consul://…) and waits until it takes a sandbox.
func (r *testRegion) startAgent(t testing.TB, servers string) {
	t.Helper()
	name := r.name + "-a1"
	f := r.regionCert(t, tlsutil.RoleAgent, name)
	r.agent = &proc{name: name, args: []string{"agent", "--node-id", name, "--region", r.name,
		"--data-dir", filepath.Join(r.dir, "agent"), "--servers", servers, "--rpc-addr", freeAddr(t),
		"--cgroup-parent", cgroupParent() + "-" + r.name, "--pool-size", "0",
		"--ca-file", f.CA, "--cert-file", f.Cert, "--key-file", f.Key}}
	r.agent.start(t)
	r.waitNode(t, 60*time.Second)
}

// followersOf returns the servers of r other than leader.
func (r *testRegion) followersOf(leader *testServer) []*testServer {
	var out []*testServer
	for _, s := range r.servers {
		if s != leader {
			out = append(out, s)
		}
	}
	return out
}

// rpcClients keeps one RPC client per server for polling loops: the
// harness's rpcClient dials a new connection on every call, which a loop
// polling every few milliseconds piles up until the test ends. Not safe
// for concurrent use.
type rpcClients struct {
	r      *testRegion
	t      testing.TB
	bundle *tlsutil.Bundle

	mu      sync.Mutex
	clients map[string]serverpb.ServerClient
}

func newRPCClients(t testing.TB, r *testRegion) *rpcClients {
	t.Helper()
	b, err := tlsutil.Load(r.client)
	if err != nil {
		t.Fatal(err)
	}
	return &rpcClients{r: r, t: t, bundle: b, clients: map[string]serverpb.ServerClient{}}
}

// of returns the client of server s, dialled once.
func (c *rpcClients) of(s *testServer) serverpb.ServerClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[s.rpc]; ok {
		return cl
	}
	conn, err := grpc.NewClient(s.rpc, grpc.WithTransportCredentials(credentials.NewTLS(c.bundle.ClientConfig(nil, nil))))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close() })
	cl := serverpb.NewServerClient(conn)
	c.clients[s.rpc] = cl
	return cl
}

// status asks server s for its status.
func (c *rpcClients) status(s *testServer, hash bool) (*serverpb.StatusReply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return c.of(s).Status(ctx, &serverpb.StatusRequest{WithStateHash: hash})
}

// agreedLeader returns the leader every live server names, or nil (as
// testRegion.agreedLeader, over the kept connections).
func (c *rpcClients) agreedLeader() *testServer {
	leader := ""
	for _, s := range c.r.live() {
		st, err := c.status(s, false)
		if err != nil || st.GetLeaderId() == "" || (leader != "" && st.GetLeaderId() != leader) {
			return nil
		}
		leader = st.GetLeaderId()
	}
	for _, s := range c.r.live() {
		if s.id == leader {
			return s
		}
	}
	return nil
}

// peers lists the Raft peers server s knows, sorted, with the voters
// marked "id" and the non-voters "id(nonvoter)".
func (c *rpcClients) peers(s *testServer) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	r, err := c.of(s).ListPeers(ctx, &serverpb.ListPeersRequest{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range r.GetPeers() {
		id := p.GetNodeId()
		if !p.GetVoter() {
			id += "(nonvoter)"
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return out, nil
}

// waitPeers waits until server s lists exactly the voters want and
// returns how long that took.
func (c *rpcClients) waitPeers(s *testServer, want []string, timeout time.Duration) time.Duration {
	c.t.Helper()
	want = slices.Sorted(slices.Values(want))
	start := time.Now()
	var got []string
	var err error
	for time.Since(start) < timeout {
		if got, err = c.peers(s); err == nil && slices.Equal(got, want) {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.r.dumpLogs(c.t)
	c.t.Fatalf("%s lists peers %v (%v) after %v, want %v", s.id, got, err, timeout, want)
	return 0
}

// waitLiveSameState waits until every live server reports the same state
// index and hash, and returns "index/hash".
func (c *rpcClients) waitLiveSameState(timeout time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var seen []string
	for time.Now().Before(deadline) {
		seen = seen[:0]
		for _, s := range c.r.live() {
			st, err := c.status(s, true)
			if err != nil {
				seen = append(seen, s.id+": "+err.Error())
				continue
			}
			seen = append(seen, fmt.Sprintf("%d/%s", st.GetStateIndex(), st.GetStateHash()))
		}
		if len(seen) > 0 && !slices.ContainsFunc(seen, func(v string) bool { return v != seen[0] }) {
			return seen[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("live servers never agreed on the state: %v", seen)
	return ""
}

// serverIDs returns the ids of servers.
func serverIDs(servers []*testServer) []string {
	out := make([]string, 0, len(servers))
	for _, s := range servers {
		out = append(out, s.id)
	}
	return out
}

// logEvents returns the JSON log records of a process whose "event" is
// event, oldest first.
func logEvents(logs, event string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `"event":"`+event+`"`) {
			continue
		}
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["event"] == event {
			out = append(out, rec)
		}
	}
	return out
}
