package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/nomad"
	"github.com/codeint/codeint/controlplane/nomad/nomadtest"
	"github.com/codeint/codeint/controlplane/tlsutil"
	"github.com/codeint/codeint/sdk/go/codeint"
)

// TestNomadDrainsNodes runs a region of one server and two agents under a
// fake Nomad (nomadtest) whose two nodes run them: a1 named by its client
// meta codeint_node_id, a2 by its Nomad Name; a1 keeps one warm sandbox.
// The server follows Nomad (--nomad-addr, --nomad-region). When Nomad
// drains a1 (an event on its stream), the region records the drain
// (nodeEvents DRAIN, "nomad: draining"), places on a2 only, and a1's agent
// empties its warm pool (told by the heartbeat reply). With a2 drained
// too, createSandbox is RESOURCE_EXHAUSTED. When Nomad ends a1's drain,
// a1 is ELIGIBLE again, refills its pool and takes sandboxes.
func TestNomadDrainsNodes(t *testing.T) {
	const region = "nm"
	a1, a2 := region+"-a1", region+"-a2"
	fake := nomadtest.New(t, nomadtest.Region)
	idA1 := fake.AddNode(nomadtest.NodeMetaFile, nomadtest.SetMeta(nomad.MetaNodeID, a1))
	idA2 := fake.AddNode(nomadtest.NodeNameFile, nomadtest.SetName(a2))

	r := startRegionOpts(t, regionOpts{name: region, servers: 1, agent: true,
		serverArgs: []string{"--nomad-addr", fake.URL(), "--nomad-region", nomadtest.Region},
		agentArgs:  []string{"--pool-size", "1"}})
	c := r.servers[0].client()
	ctx := ctxT(t, 2*time.Minute)
	a1Dir := filepath.Join(r.dir, "agent")

	// The leader lists Nomad's nodes, reads each, and follows the Node
	// topic of the event stream, in the region asked for (the fake fails
	// the test on a request for another).
	eventually(t, 15*time.Second, "the leader follows Nomad's node events", func() error {
		streams := fake.OpenStreams()
		if len(streams) != 1 || !slices.Equal(streams[0].Topics, []string{"Node:*"}) {
			return fmt.Errorf("%d open event streams", len(streams))
		}
		for _, id := range []string{idA1, idA2} {
			if len(fake.RequestsTo("GET", "/v1/node/"+id)) == 0 {
				return fmt.Errorf("node %s never read", id)
			}
		}
		return nil
	})

	// An admin follows the region's nodes (the server sets the
	// subscription up after the handshake: a moment), and sees a2 come.
	events := subscribeNodeEvents(t, ctx, c)
	time.Sleep(300 * time.Millisecond)
	r.startNamedAgent(t, a2)
	wantNodeEvent(t, events, a2, "REGISTERED", false, "")

	// Before any drain, a1 wins: its warm sandbox outweighs the rest.
	eventually(t, 30*time.Second, "a1 chosen, warm", func() error {
		if got := runcList(t, a1Dir); len(got) != 1 {
			return fmt.Errorf("a1 runs %v, want its one warm sandbox", got)
		}
		return previewOn(ctx, c, a1, 2, 2, true)
	})

	// Nomad drains a1.
	fake.DrainNode(idA1)
	wantNodeEvent(t, events, a1, "DRAIN", true, "nomad: draining")
	if err := previewOn(ctx, c, a2, 2, 1, false); err != nil {
		t.Fatalf("after a1's drain: %v", err)
	}
	sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	if sb.NodeID != a2 {
		t.Fatalf("sandbox created on %s while a1 drains, want %s", sb.NodeID, a2)
	}
	// a1's agent hears of the drain in its heartbeat reply and stops its
	// warm sandbox.
	eventually(t, 15*time.Second, "a1's warm pool empty", func() error {
		if got := runcList(t, a1Dir); len(got) != 0 {
			return fmt.Errorf("a1 still runs %v", got)
		}
		if n := len(logEvents(r.agent.logs.String(), "node_draining")); n != 1 {
			return fmt.Errorf("%d node_draining events in a1's log, want 1", n)
		}
		return nil
	})

	// Nomad drains a2 too: no node takes a sandbox, and the error says
	// why.
	fake.DrainNode(idA2)
	wantNodeEvent(t, events, a2, "DRAIN", true, "nomad: draining")
	_, err = c.CreateSandbox(ctx, codeint.CreateSandboxInput{})
	wantCode(t, err, "RESOURCE_EXHAUSTED")
	if msg := err.Error(); !strings.Contains(msg, region+": every ready node is draining (2)") {
		t.Fatalf("error %q does not say that region %s's nodes are draining", msg, region)
	}
	if _, err := c.PlacementPreview(ctx, codeint.CreateSandboxInput{}); codeint.CodeOf(err) != "RESOURCE_EXHAUSTED" {
		t.Fatalf("preview with every node drained: %v, want RESOURCE_EXHAUSTED", err)
	}

	// Nomad ends a1's drain: a1 takes sandboxes again, and refills its
	// warm pool.
	fake.UndrainNode(idA1)
	wantNodeEvent(t, events, a1, "ELIGIBLE", false, "")
	if err := previewOn(ctx, c, a1, 2, 1, false); err != nil {
		t.Fatalf("after a1's drain ended: %v", err)
	}
	eventually(t, 30*time.Second, "a1's warm pool refilled", func() error {
		if n := len(logEvents(r.agent.logs.String(), "node_eligible")); n != 1 {
			return fmt.Errorf("%d node_eligible events in a1's log, want 1", n)
		}
		if got := runcList(t, a1Dir); len(got) != 1 {
			return fmt.Errorf("a1 runs %v, want its one warm sandbox", got)
		}
		return previewOn(ctx, c, a1, 2, 1, true)
	})
	sb2, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	if sb2.NodeID != a1 {
		t.Fatalf("sandbox created on %s, want %s (the only node open)", sb2.NodeID, a1)
	}
	for _, id := range []string{sb.ID, sb2.ID} {
		if _, err := c.TerminateSandbox(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// Each drain and its end was one event, nothing else happened to the
	// nodes.
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the nodeEvents subscription ended")
		}
		t.Fatalf("unexpected node event %+v", ev)
	case <-time.After(500 * time.Millisecond):
	}
}

// drainNodeEvent is a nodeEvents event with the node's drain.
type drainNodeEvent struct {
	Type  string `json:"type"`
	Index int64  `json:"index"`
	Node  struct {
		ID          string  `json:"id"`
		Status      string  `json:"status"`
		Draining    bool    `json:"draining"`
		DrainReason *string `json:"drainReason"`
	} `json:"node"`
}

// subscribeNodeEvents follows the region's node events (admin key) until
// the test ends.
func subscribeNodeEvents(t *testing.T, ctx context.Context, c *codeint.Client) <-chan drainNodeEvent {
	t.Helper()
	sub, err := c.Subscribe(ctx, `subscription { nodeEvents { type index node { id status draining drainReason } } }`, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	out := make(chan drainNodeEvent, 64)
	go func() {
		defer close(out)
		for {
			raw, err := sub.Next(ctx)
			if err != nil {
				return
			}
			var data struct {
				NodeEvents drainNodeEvent `json:"nodeEvents"`
			}
			if err := json.Unmarshal(raw, &data); err != nil {
				t.Errorf("node event %s: %v", raw, err)
				return
			}
			select {
			case out <- data.NodeEvents:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// wantNodeEvent waits up to 15 s for the next node event and checks it.
func wantNodeEvent(t *testing.T, events <-chan drainNodeEvent, node, typ string, draining bool, reason string) {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatalf("the nodeEvents subscription ended before %s of %s", typ, node)
		}
		got := ""
		if ev.Node.DrainReason != nil {
			got = *ev.Node.DrainReason
		}
		if ev.Type != typ || ev.Node.ID != node || ev.Node.Draining != draining || got != reason || ev.Node.Status != "READY" {
			t.Fatalf("node event %s of %s (status %s, draining %v, reason %q), want %s of %s (draining %v, reason %q)",
				ev.Type, ev.Node.ID, ev.Node.Status, ev.Node.Draining, got, typ, node, draining, reason)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no %s event of %s within 15s", typ, node)
	}
}

// previewOn checks that a sandbox would go to node, with examined and
// feasible nodes, and (when warm) that node's warm sandbox counted.
func previewOn(ctx context.Context, c *codeint.Client, node string, examined, feasible int, warm bool) error {
	p, err := c.PlacementPreview(ctx, codeint.CreateSandboxInput{})
	if err != nil {
		return err
	}
	if p.NodeID != node || p.Examined != examined || p.Feasible != feasible {
		return fmt.Errorf("preview: node %q, %d feasible of %d examined; want %s, %d of %d\n%s",
			p.NodeID, p.Feasible, p.Examined, node, feasible, examined, p.Explanation)
	}
	if !warm {
		return nil
	}
	i := slices.IndexFunc(p.Scores, func(s codeint.PlacementScore) bool { return s.Name == "warm" })
	if i < 0 || p.Scores[i].Value != 1 {
		return errors.New("preview: the chosen node has no warm sandbox: " + p.Explanation)
	}
	return nil
}

// startNamedAgent starts one more agent of r, named name, with no warm
// pool, beside the harness's r.agent. It is stopped when the test ends,
// and its log printed if the test failed.
func (r *testRegion) startNamedAgent(t testing.TB, name string) *proc {
	t.Helper()
	var rpcs []string
	for _, s := range r.servers {
		rpcs = append(rpcs, s.rpc)
	}
	f := r.regionCert(t, tlsutil.RoleAgent, name)
	p := &proc{name: name, args: []string{"agent", "--node-id", name, "--region", r.name,
		"--data-dir", filepath.Join(r.dir, name), "--servers", strings.Join(rpcs, ","), "--rpc-addr", freeAddr(t),
		"--cgroup-parent", cgroupParent() + "-" + name, "--pool-size", "0",
		"--ca-file", f.CA, "--cert-file", f.Cert, "--key-file", f.Key}}
	p.start(t)
	t.Cleanup(func() {
		p.stop(t, syscall.SIGTERM)
		if t.Failed() {
			t.Logf("=== %s logs:\n%s", name, tail(p.logs.String(), 200))
		}
	})
	return p
}
