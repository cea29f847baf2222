package main

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/consul"
	"github.com/codeint/codeint/controlplane/consul/consultest"
	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestRegionFormsThroughConsul starts three servers that know each other
// only through a (fake) Consul agent: each registers codeint-server with
// its region tag, RPC address and a /healthz check, and they bootstrap one
// region from what Consul lists. An agent finds them through Consul too
// and takes a sandbox. A server killed -9 fails its check; one stopped
// cleanly deregisters.
func TestRegionFormsThroughConsul(t *testing.T) {
	fake := consultest.New(t)
	// The later --join wins over the harness's static list: the servers
	// have nothing but Consul to find each other.
	r := startRegion(t, "rc", 3, false, "--join", fake.Addr())
	ctx := ctxT(t, 2*time.Minute)
	cc, err := consul.New(consul.Config{Address: fake.HostPort()})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("every server registers codeint-server with a passing /healthz check", func(t *testing.T) {
		for _, s := range r.servers {
			reg, ok := fake.Registration("codeint-server-" + s.id)
			if !ok {
				t.Fatalf("%s is not registered; registered: %v", s.id, fake.ServiceIDs())
			}
			if reg.Name != consul.ServiceServer || !slices.Contains(reg.Tags, "region=rc") || reg.Meta["rpc_addr"] != s.rpc ||
				reg.Meta["node_id"] != s.id || reg.Check == nil || reg.Check.HTTP != "http://"+s.http+"/healthz" {
				t.Fatalf("%s registered %+v (check %+v)", s.id, reg, reg.Check)
			}
		}
		insts, err := cc.Instances(ctx, consul.ServiceServer, "rc")
		if err != nil {
			t.Fatal(err)
		}
		var rpcs []string
		for _, in := range insts {
			rpcs = append(rpcs, in.Meta["rpc_addr"])
		}
		var want []string
		for _, s := range r.servers {
			want = append(want, s.rpc)
		}
		if !slices.Equal(rpcs, want) {
			t.Fatalf("passing instances of region rc have rpc_addr %v, want %v", rpcs, want)
		}
		if other, err := cc.Instances(ctx, consul.ServiceServer, "elsewhere"); err != nil || len(other) != 0 {
			t.Fatalf("instances of another region: %v, %v", other, err)
		}
		if !slices.ContainsFunc(fake.Requests(), func(q consultest.Request) bool {
			return q.Method == "GET" && q.Path == "/v1/health/service/"+consul.ServiceServer && slices.Contains(q.Query["tag"], "region=rc")
		}) {
			t.Fatal("no server looked its region up in Consul")
		}
	})

	t.Run("one region of three voters formed from Consul", func(t *testing.T) {
		leader := r.waitLeader(t, 30*time.Second)
		for _, s := range r.servers {
			if ev := logEvents(s.proc.logs.String(), "cluster_bootstrap"); len(ev) != 1 || ev[0]["servers"] != float64(3) {
				t.Fatalf("%s logged cluster_bootstrap %v, want once with 3 servers", s.id, ev)
			}
			c := waitClusterOf(t, s, 3) // a follower's API opens a little after the leader's
			if got := clusterIDs(c); !slices.Equal(got, serverIDs(r.servers)) || c.Leader == nil || c.Leader.NodeID != leader.id {
				t.Fatalf("%s sees %v led by %+v, want %v led by %s", s.id, got, c.Leader, serverIDs(r.servers), leader.id)
			}
		}
	})

	t.Run("an agent finds the servers through Consul", func(t *testing.T) {
		r.startAgent(t, fake.Addr())
		sb, err := r.servers[1].client().CreateSandbox(ctx, codeint.CreateSandboxInput{})
		if err != nil {
			t.Fatal(err)
		}
		if sb.State != "RUNNING" || sb.NodeID != "rc-a1" {
			t.Fatalf("sandbox %+v, want RUNNING on rc-a1", sb)
		}
		// Another server's replica may not have applied the start yet: a
		// LINEARIZABLE read waits for it (see TestRegionOfThreeServers).
		if got, err := r.servers[2].client().SandboxAt(ctx, sb.ID, "LINEARIZABLE"); err != nil || got.State != "RUNNING" {
			t.Fatalf("rc-s3 reads %s as %+v, %v", sb.ID, got, err)
		}
		res, err := r.servers[2].client().Execute(ctx, sb.ID, codeint.ExecuteInput{Language: "PYTHON", Code: "print(6*7)"})
		if err != nil || res.ExitCode != 0 || res.Stdout != "42\n" {
			t.Fatalf("execute: %+v, %v", res, err)
		}
		ev := logEvents(r.agent.logs.String(), "heartbeat_server")
		if len(ev) == 0 || !slices.Contains([]string{r.servers[0].rpc, r.servers[1].rpc, r.servers[2].rpc}, fmt.Sprint(ev[0]["server"])) {
			t.Fatalf("agent heartbeat_server events %v, want one naming a server's RPC address", ev)
		}
	})

	t.Run("a dead server fails its check, a stopped one deregisters", func(t *testing.T) {
		leader := r.waitLeader(t, 10*time.Second)
		dead, stopped := r.followersOf(leader)[0], r.followersOf(leader)[1]
		dead.proc.stop(t, syscall.SIGKILL)
		insts, err := cc.Instances(ctx, consul.ServiceServer, "rc")
		if err != nil {
			t.Fatal(err)
		}
		if len(insts) != 2 || slices.ContainsFunc(insts, func(s consul.Service) bool { return s.NodeID == dead.id }) {
			t.Fatalf("passing instances after kill -9 of %s: %+v", dead.id, insts)
		}
		if _, ok := fake.Registration("codeint-server-" + dead.id); !ok {
			t.Fatalf("%s vanished from Consul though it could not deregister", dead.id)
		}
		stopped.proc.stop(t, syscall.SIGTERM)
		if ids := fake.ServiceIDs(); slices.Contains(ids, "codeint-server-"+stopped.id) || !slices.Contains(ids, "codeint-server-"+leader.id) {
			t.Fatalf("registered after %s stopped: %v", stopped.id, ids)
		}
		if !strings.Contains(stopped.proc.logs.String(), `"event":"shutdown"`) {
			t.Fatalf("%s did not shut down cleanly", stopped.id)
		}
	})
}
