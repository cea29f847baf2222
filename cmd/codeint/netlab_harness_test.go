package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/codeint/codeint/controlplane/serverrpc/serverpb"
	"github.com/codeint/codeint/controlplane/tlsutil"
	"github.com/codeint/codeint/internal/netlab"
)

// labRegion is a test region whose servers each run in a network
// namespace of their own with two links: one to the cluster bridge (Raft
// and RPC between the servers, the agent, the test's Status calls) and one
// to the client bridge (the HTTP API, for the test's clients). The agent
// runs in a namespace of its own on the cluster bridge (entered with
// nsenter, so that /sys and its cgroup mounts stay the host's for runc).
type labRegion struct {
	*testRegion
	lab      *netlab.Lab
	caDir    string
	rpcs     []string // the servers' RPC addresses
	cluster  *netlab.Bridge
	clients  *netlab.Bridge
	nss      map[*testServer]*netlab.NS
	clusterL map[*testServer]*netlab.Link // a server's link to the cluster bridge
	poolSize int                          // the agent's warm pool
}

// Fixed ports: every server has addresses of its own.
const (
	labRaftPort = "7100"
	labRPCPort  = "7101"
	labHTTPPort = "8080"
)

// startLabRegion starts n servers bootstrapping together, each in its own
// namespace, and one agent, and waits until every server names the same
// leader and a sandbox can be created. labName is the netlab prefix (at
// most 4 characters); the region is named the same.
func startLabRegion(t testing.TB, labName string, n int) *labRegion {
	t.Helper()
	requireRoot(t)
	// The lab first: its cleanup (registered first) runs after the
	// processes' (registered later) have stopped them.
	lab := netlab.New(t, labName)
	caDir := filepath.Join(newDataDir(t), "ca")
	if _, _, _, err := tlsutil.CreateCA(caDir, "", 0); err != nil {
		t.Fatal(err)
	}
	r := planLabRegion(t, lab, caDir, labName, n)
	r.start(t)
	return r
}

// planLabRegion lays out a region of n servers in lab — namespaces, links,
// addresses, certificates from the CA in caDir — without starting it, so
// that other regions can be told its addresses first.
func planLabRegion(t testing.TB, lab *netlab.Lab, caDir, name string, n int) *labRegion {
	t.Helper()
	labName := name
	r := &labRegion{
		testRegion: &testRegion{t: t, name: labName, dir: newDataDir(t)},
		lab:        lab,
		caDir:      caDir,
		cluster:    lab.Bridge(name+"c", lab.Subnet()),
		clients:    lab.Bridge(name+"k", lab.Subnet()),
		nss:        map[*testServer]*netlab.NS{},
		clusterL:   map[*testServer]*netlab.Link{},
	}
	r.client = r.cert(t, tlsutil.RoleClient, "operator")
	for i := range n {
		s := &testServer{id: fmt.Sprintf("%s-s%d", labName, i+1)}
		ns := lab.Namespace(fmt.Sprintf("%s%d", name, i+1))
		clusterIP, link := ns.Attach(r.cluster, i+2)
		clientIP, _ := ns.Attach(r.clients, i+2)
		s.raft = net.JoinHostPort(clusterIP, labRaftPort)
		s.rpc = net.JoinHostPort(clusterIP, labRPCPort)
		s.http = net.JoinHostPort(clientIP, labHTTPPort)
		s.dataDir = filepath.Join(r.dir, s.id)
		r.servers = append(r.servers, s)
		r.nss[s], r.clusterL[s] = ns, link
		r.rpcs = append(r.rpcs, s.rpc)
	}
	return r
}

// cert makes a certificate of the region, valid for ips.
func (r *labRegion) cert(t testing.TB, role tlsutil.Role, node string, ips ...string) tlsutil.Files {
	t.Helper()
	req := tlsutil.CertRequest{CADir: r.caDir, OutDir: filepath.Join(r.dir, "tls"), Role: role, Region: r.name, Name: node}
	for _, ip := range ips {
		req.IPs = append(req.IPs, net.ParseIP(ip))
	}
	f, err := tlsutil.CreateCert(req)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// start starts the planned servers (with extra flags), waits until every
// server names the same leader, then starts the agent and waits until a
// sandbox can be created.
func (r *labRegion) start(t testing.TB, extraServerArgs ...string) {
	t.Helper()
	labName, rpcs := r.name, r.rpcs
	for _, s := range r.servers {
		clusterIP, _, _ := net.SplitHostPort(s.rpc)
		clientIP, _, _ := net.SplitHostPort(s.http)
		f := r.cert(t, tlsutil.RoleServer, s.id, clusterIP, clientIP)
		s.proc = &proc{name: s.id, args: serverArgs(s, labName, rpcs, f, extraServerArgs)}
		s.proc.startIn(t, r.nss[s])
	}
	r.stopOnCleanup(t)
	r.waitLeader(t, 60*time.Second)

	// The agent has a namespace of its own on the cluster bridge: the
	// region's network is all it reaches.
	agentID := labName + "-a1"
	agentNS := r.lab.Namespace(labName + "a")
	agentIP, _ := agentNS.Attach(r.cluster, 100)
	f := r.cert(t, tlsutil.RoleAgent, agentID, agentIP)
	r.agent = &proc{name: agentID, args: []string{"agent", "--node-id", agentID, "--region", labName,
		"--data-dir", filepath.Join(r.dir, "agent"), "--servers", strings.Join(rpcs, ","),
		"--rpc-addr", net.JoinHostPort(agentIP, "7200"),
		"--cgroup-parent", cgroupParent() + "-" + labName, "--pool-size", fmt.Sprint(r.poolSize),
		"--ca-file", f.CA, "--cert-file", f.Cert, "--key-file", f.Key}}
	r.agent.startIn(t, agentNS)
	r.waitNode(t, 60*time.Second)
}

// startIn starts the process inside a network namespace (p.start would
// start it in the root namespace).
func (p *proc) startIn(t testing.TB, ns *netlab.NS) {
	t.Helper()
	if p.logs == nil {
		p.logs = &lockedBuffer{}
	}
	fmt.Fprintf(p.logs, "--- start in %s %s\n", ns.Name(), time.Now().Format(time.RFC3339Nano))
	p.cmd = ns.Command(filepath.Join(binDir, "codeint"), p.args...)
	p.cmd.Env = append(os.Environ(), "CODEINT_BOOTSTRAP_KEY="+testBootstrapKey)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s in %s: %v", p.name, ns.Name(), err)
	}
	done := make(chan error, 1)
	p.done = done
	cmd := p.cmd
	go func() { done <- cmd.Wait() }()
}

// partition cuts a server off the cluster bridge (its client link stays
// up) and returns when it did.
func (r *labRegion) partition(t testing.TB, s *testServer) time.Time {
	t.Helper()
	if err := r.clusterL[s].Down(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s cut off the cluster bridge (%v)", s.id, r.clusterL[s])
	return time.Now()
}

// heal joins a server to the cluster bridge again.
func (r *labRegion) heal(t testing.TB, s *testServer) {
	t.Helper()
	if err := r.clusterL[s].Up(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s back on the cluster bridge", s.id)
}

// statusOnce asks one server for its status over a connection of its own,
// closed after the call (a partitioned server would leave a shared
// connection in gRPC's reconnect backoff after the heal).
func (r *labRegion) statusOnce(t testing.TB, s *testServer, timeout time.Duration) (*serverpb.StatusReply, error) {
	t.Helper()
	b, err := tlsutil.Load(r.client)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(s.rpc, grpc.WithTransportCredentials(credentials.NewTLS(b.ClientConfig(nil, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return serverpb.NewServerClient(conn).Status(ctx, &serverpb.StatusRequest{})
}

// leaderAmong returns the leader every one of servers names, when it is
// one of them, or nil.
func (r *labRegion) leaderAmong(t testing.TB, servers []*testServer) *testServer {
	t.Helper()
	leader := ""
	for _, s := range servers {
		st, err := r.statusOnce(t, s, time.Second)
		if err != nil || st.GetLeaderId() == "" || (leader != "" && st.GetLeaderId() != leader) {
			return nil
		}
		leader = st.GetLeaderId()
	}
	for _, s := range servers {
		if s.id == leader {
			return s
		}
	}
	return nil
}

// others returns the region's servers but s.
func (r *labRegion) others(s *testServer) []*testServer {
	var out []*testServer
	for _, o := range r.servers {
		if o != s {
			out = append(out, o)
		}
	}
	return out
}
