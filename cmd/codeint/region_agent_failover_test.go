package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestRegionAgentFailsOverToAnotherServer kills -9 the server an agent
// heartbeats to, once the leader and once a follower (the agent's
// --servers lists all three, that one first). The agent moves to another
// server before its node's TTL runs out: the node never goes DOWN, its
// sandboxes stay RUNNING for two TTLs and more, and the region creates a
// new sandbox on it and runs code there.
func TestRegionAgentFailsOverToAnotherServer(t *testing.T) {
	t.Run("the leader", func(t *testing.T) { testAgentFailover(t, "rh", true) })
	t.Run("a follower", func(t *testing.T) { testAgentFailover(t, "rf", false) })
}

func testAgentFailover(t *testing.T, name string, killLeader bool) {
	const ttl = 3 * time.Second // the harness's --heartbeat-ttl
	r := startRegion(t, name, 3, false)
	leader := r.waitLeader(t, 10*time.Second)
	first := leader
	if !killLeader {
		first = r.followersOf(leader)[0]
	}
	servers := []string{first.rpc}
	for _, s := range r.followersOf(first) {
		servers = append(servers, s.rpc)
	}
	r.startAgent(t, strings.Join(servers, ","))
	ctx := ctxT(t, 2*time.Minute)
	before, err := r.servers[0].client().CreateSandbox(ctx, codeint.CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}

	beats := logEvents(r.agent.logs.String(), "heartbeat_server")
	if len(beats) == 0 {
		t.Fatalf("the agent logged no heartbeat_server event:\n%s", r.agent.logs.String())
	}
	target := fmt.Sprint(beats[len(beats)-1]["server"])
	var victim *testServer
	for _, s := range r.servers {
		if s.rpc == target {
			victim = s
		}
	}
	if victim != first {
		t.Fatalf("the agent heartbeats to %s, want %s, the first of its --servers", target, first.rpc)
	}
	t.Logf("the agent heartbeats to %s (leader: %v); killing it", victim.id, victim == leader)
	killed := time.Now()
	victim.proc.stop(t, syscall.SIGKILL)

	// The agent names another server.
	var moved string
	for moved == "" {
		beats := logEvents(r.agent.logs.String(), "heartbeat_server")
		if s := fmt.Sprint(beats[len(beats)-1]["server"]); s != target {
			moved = s
			break
		}
		if time.Since(killed) > 2*ttl {
			t.Fatalf("the agent still heartbeats to the killed %s %v after the kill", victim.id, 2*ttl)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the agent moved to %s %v after the kill", moved, time.Since(killed).Round(time.Millisecond))

	// For two TTLs after the kill the sandbox stays RUNNING; reads may
	// fail while a new leader is elected, but none may see another state,
	// and the last one succeeds more than two TTLs after the kill.
	live := r.live()
	var lastOK time.Time
	for i := 0; lastOK.Sub(killed) < 2*ttl; i++ {
		s := live[i%len(live)]
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		sb, err := s.client().SandboxAt(rctx, before.ID, "LINEARIZABLE")
		cancel()
		switch {
		case err == nil && sb.State != "RUNNING":
			t.Fatalf("%s reads %s as %s (%s) %v after the kill", s.id, before.ID, sb.State, sb.StopReason, time.Since(killed))
		case err == nil:
			lastOK = time.Now()
		case time.Since(killed) > 2*ttl+10*time.Second:
			t.Fatalf("%s still cannot read %s: %v", s.id, before.ID, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, s := range live {
		if logs := s.proc.logs.String(); strings.Contains(logs, `"event":"node_down"`) {
			t.Fatalf("%s logged node_down: the node was marked DOWN during the failover", s.id)
		}
	}

	after, err := live[0].client().CreateSandbox(ctx, codeint.CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	if after.NodeID != name+"-a1" || after.State != "RUNNING" {
		t.Fatalf("new sandbox %+v, want RUNNING on %s-a1", after, name)
	}
	for _, id := range []string{before.ID, after.ID} {
		// live[1]'s replica may not have applied the start yet.
		if got, err := live[1].client().SandboxAt(ctx, id, "LINEARIZABLE"); err != nil || got.State != "RUNNING" {
			t.Fatalf("%s reads %s as %+v, %v", live[1].id, id, got, err)
		}
		res, err := live[1].client().Execute(ctx, id, codeint.ExecuteInput{Language: "PYTHON", Code: "print('still here')"})
		if err != nil || res.ExitCode != 0 || res.Stdout != "still here\n" {
			t.Fatalf("execute in %s: %+v, %v", id, res, err)
		}
	}
}
