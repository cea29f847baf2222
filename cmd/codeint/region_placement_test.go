package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/tlsutil"
	"github.com/codeint/codeint/sdk/go/codeint"
)

func scoreOf(p *codeint.Placement, name string) (float64, bool) {
	if p == nil {
		return 0, false
	}
	for _, s := range p.Scores {
		if s.Name == name {
			return s.Value, true
		}
	}
	return 0, false
}

func regionOf(p *codeint.Placement, name string) *codeint.PlacementRegion {
	for i := range p.Regions {
		if p.Regions[i].Region == name {
			return &p.Regions[i]
		}
	}
	return nil
}

// TestPlacementAcrossRegions runs two federated regions of real processes:
// pa (three servers, an agent with a warm pool and 2 vCPUs to offer) and
// pb (one server, one agent). It checks the two steps of placement end to
// end: the region step on the server a request enters, the node step on
// the region's leader, forwarding to another region, and the fallback when
// a region is full.
func TestPlacementAcrossRegions(t *testing.T) {
	caDir := filepath.Join(newDataDir(t), "ca")
	if _, _, _, err := tlsutil.CreateCA(caDir, "", 0); err != nil {
		t.Fatal(err)
	}
	a := startRegionOpts(t, regionOpts{name: "pa", servers: 3, agent: true, caDir: caDir,
		agentArgs: []string{"--pool-size", "1", "--node-vcpus", "2"}})
	var rpcsA []string
	for _, s := range a.servers {
		rpcsA = append(rpcsA, s.rpc)
	}
	b := startRegionOpts(t, regionOpts{name: "pb", servers: 1, agent: true, caDir: caDir, agentArgs: []string{"--label", "disk=ssd"},
		serverArgs: []string{"--authoritative-region", "pa", "--federate", strings.Join(rpcsA, ",")}})
	ctx := ctxT(t, 4*time.Minute)
	leader := a.waitLeader(t, 30*time.Second)
	follower := a.followersOf(leader)[0].client()
	cb := b.servers[0].client()
	eventually(t, 20*time.Second, "both regions healthy in pa", func() error {
		rs, err := regionsOf(ctx, follower)
		if err == nil && (len(rs) != 2 || !rs["pb"].Healthy) {
			err = fmt.Errorf("regions %+v", rs)
		}
		return err
	})
	// pa hears pb's capacity in pb's answers to its probes.
	eventually(t, 20*time.Second, "pb's capacity known in pa", func() error {
		_, err := follower.PlacementPreview(ctx, codeint.CreateSandboxInput{Regions: []string{"pb"}})
		return err
	})

	t.Run("a follower sends creates to the leader, which places on its live view", func(t *testing.T) {
		// Only the leader hears the agents' heartbeats, so only a placement
		// made there sees the warm sandbox the agent reports.
		eventually(t, 30*time.Second, "a warm slot in the leader's view", func() error {
			p, err := follower.PlacementPreview(ctx, codeint.CreateSandboxInput{Region: "pa"})
			if err != nil {
				return err
			}
			if w, _ := scoreOf(p, "warm"); w != 1 || p.NodeID != "pa-a1" {
				return fmt.Errorf("preview through a follower: %s", p.Explanation)
			}
			return nil
		})
		sb, err := follower.CreateSandbox(ctx, codeint.CreateSandboxInput{Region: "pa"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { follower.TerminateSandbox(ctxT(t, time.Minute), sb.ID) })
		if w, _ := scoreOf(sb.Placement, "warm"); sb.Region != "pa" || sb.NodeID != "pa-a1" || w != 1 || sb.State != "RUNNING" {
			t.Fatalf("sandbox %s in %s on %s (%s), placement:\n%s", sb.ID, sb.Region, sb.NodeID, sb.State, sb.Placement.Explanation)
		}
		res, err := follower.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python, Code: "print(6*7)"})
		if err != nil || res.Stdout != "42\n" {
			t.Fatalf("execute: %+v, %v", res, err)
		}
	})

	t.Run("a preferred region of another region's entry server", func(t *testing.T) {
		sb, err := follower.CreateSandbox(ctx, codeint.CreateSandboxInput{Regions: []string{"pb"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { follower.TerminateSandbox(ctxT(t, time.Minute), sb.ID) })
		if sb.Region != "pb" || sb.NodeID != "pb-a1" || sb.Placement == nil || sb.Placement.NodeID != "pb-a1" {
			t.Fatalf("sandbox in %s on %s, want pb-a1", sb.Region, sb.NodeID)
		}
		if r := regionOf(sb.Placement, "pb"); r == nil || !r.Chosen {
			t.Fatalf("the region step kept on the sandbox: %+v", sb.Placement.Regions)
		}
		res, err := follower.Execute(ctx, sb.ID, codeint.ExecuteInput{Language: codeint.Python, Code: "print('from pb')"})
		if err != nil || res.Stdout != "from pb\n" {
			t.Fatalf("execute through pa: %+v, %v", res, err)
		}
		p, err := follower.PlacementPreview(ctx, codeint.CreateSandboxInput{Regions: []string{"pb"}})
		if err != nil || p.Region != "pb" || p.NodeID != "pb-a1" {
			t.Fatalf("preview of pb through pa: %+v, %v", p, err)
		}
	})

	t.Run("without a location, the region the request came in through", func(t *testing.T) {
		p, err := cb.PlacementPreview(ctx, codeint.CreateSandboxInput{})
		if err != nil || p.Region != "pb" {
			t.Fatalf("preview through pb: %+v, %v", p, err)
		}
		if r := regionOf(p, "pb"); r == nil || r.LatencyMs == nil || *r.LatencyMs != 0 {
			t.Fatalf("pb's own latency: %+v", p.Regions)
		}
	})

	t.Run("a full region hands the request to the next", func(t *testing.T) {
		// pa's node offers 2 vCPUs: two sandboxes of 1 fill it.
		for range 2 {
			sb, err := follower.CreateSandbox(ctx, codeint.CreateSandboxInput{Region: "pa", VCPUs: 1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { follower.TerminateSandbox(ctxT(t, time.Minute), sb.ID) })
		}
		_, err := follower.CreateSandbox(ctx, codeint.CreateSandboxInput{Region: "pa", VCPUs: 1})
		if codeint.CodeOf(err) != codeint.CodeResourceExhausted || !strings.Contains(err.Error(), "short of vCPUs") {
			t.Fatalf("a third vCPU in pa: %v, want RESOURCE_EXHAUSTED short of vCPUs", err)
		}
		next, err := follower.CreateSandbox(ctx, codeint.CreateSandboxInput{VCPUs: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { follower.TerminateSandbox(ctxT(t, time.Minute), next.ID) })
		if next.Region != "pb" {
			t.Fatalf("with pa full the sandbox went to %s:\n%s", next.Region, next.Placement.Explanation)
		}
		if r := regionOf(next.Placement, "pa"); r == nil || !strings.Contains(r.Reason, "short of vCPUs") {
			t.Fatalf("the placement does not say why pa was passed over: %+v", next.Placement.Regions)
		}
	})

	t.Run("a node selector only pb's node matches", func(t *testing.T) {
		sb, err := follower.CreateSandbox(ctx, codeint.CreateSandboxInput{NodeSelector: []codeint.Label{{Key: "disk", Value: "ssd"}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { follower.TerminateSandbox(ctxT(t, time.Minute), sb.ID) })
		if sb.NodeID != "pb-a1" {
			t.Fatalf("a sandbox for disk=ssd went to %s:\n%s", sb.NodeID, sb.Placement.Explanation)
		}
		if r := regionOf(sb.Placement, "pa"); r == nil || !strings.Contains(r.Reason, "without the labels asked for") {
			t.Fatalf("pa's node lacks the label; the placement should say so: %+v", sb.Placement.Regions)
		}
		_, err = follower.CreateSandbox(ctx, codeint.CreateSandboxInput{NodeSelector: []codeint.Label{{Key: "disk", Value: "nvme"}}})
		if codeint.CodeOf(err) != codeint.CodeResourceExhausted || !strings.Contains(err.Error(), "without the labels asked for") {
			t.Fatalf("no node has disk=nvme: %v", err)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for name, in := range map[string]codeint.CreateSandboxInput{
			"unknown region":     {Regions: []string{"mars"}},
			"region and regions": {Region: "pa", Regions: []string{"pb"}},
			"negative budget":    {MaxLatencyMs: -1},
		} {
			_, err := follower.CreateSandbox(ctx, in)
			if codeint.CodeOf(err) != codeint.CodeInvalidArgument {
				t.Errorf("%s: %v, want INVALID_ARGUMENT", name, err)
			}
		}
		// A budget no preferred region meets contradicts the list, once the
		// coordinates put pb farther than 0.001 ms.
		eventually(t, 30*time.Second, "the contradiction refused", func() error {
			_, err := follower.PlacementPreview(ctx, codeint.CreateSandboxInput{Regions: []string{"pb"}, MaxLatencyMs: 0.001})
			if codeint.CodeOf(err) != codeint.CodeInvalidArgument || !strings.Contains(err.Error(), "no preferred region is within maxLatencyMs") {
				return fmt.Errorf("got %v", err)
			}
			return nil
		})
	})

	t.Run("codeint placement explain", func(t *testing.T) {
		t.Setenv("CODEINT_URL", "http://"+a.servers[0].http)
		t.Setenv("CODEINT_API_KEY", testBootstrapKey)
		var out, errOut bytes.Buffer
		if err := run(ctx, []string{"placement", "explain", "--regions", "pb"}, nil, &out, &errOut); err != nil {
			t.Fatalf("%v: %s", err, errOut.String())
		}
		if !strings.Contains(out.String(), "region pb, node pb-a1:") {
			t.Fatalf("explain printed:\n%s", out.String())
		}
	})
}
