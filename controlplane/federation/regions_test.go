package federation

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/command"
	"github.com/codeint/codeint/controlplane/structs"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// TestRegionsAggregation: a region is healthy when one of its servers
// answered a probe within the last few seconds and it is not refused;
// its latency is the smallest round trip of its fresh servers' windows;
// its leader is what a fresh server named.
func TestRegionsAggregation(t *testing.T) {
	f := New(Config{Region: "eu", Authoritative: "eu", Local: newLocal(t, "raft-eu")})
	now := time.Now()
	stale := now.Add(-healthyWithin - time.Second)
	for _, p := range []peerState{
		{addr: "ap1", region: "ap", leader: "raft-ap", claims: "eu", rtts: []time.Duration{ms(30), ms(10), ms(20)}, lastOK: now},
		{addr: "ap2", region: "ap", leader: "", claims: "eu", rtts: []time.Duration{ms(15), ms(12)}, lastOK: now},
		{addr: "ap3", region: "ap", leader: "raft-ap-old", claims: "eu", rtts: []time.Duration{ms(1)}, lastOK: stale},
		{addr: "us1", region: "us", leader: "raft-us", claims: "eu", rtts: []time.Duration{ms(5)}, lastOK: stale},
		{addr: "sa1", region: "sa", leader: "raft-sa", claims: "sa", rtts: []time.Duration{ms(2)}, lastOK: now, refused: true},
		{addr: "never", region: ""}, // learned, never answered
	} {
		f.inject(p)
	}
	lat := ms(10)
	want := []Region{
		{Name: "ap", Leader: "raft-ap", Latency: &lat, Healthy: true},
		{Name: "eu", Authoritative: true, Leader: "raft-eu", Healthy: true},
		{Name: "sa", Refused: true},
		{Name: "us"},
	}
	got := f.Regions()
	if len(got) != len(want) {
		t.Fatalf("regions %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Authoritative != w.Authoritative || g.Leader != w.Leader || g.Healthy != w.Healthy || g.Refused != w.Refused ||
			(g.Latency == nil) != (w.Latency == nil) || g.Latency != nil && *g.Latency != *w.Latency {
			t.Errorf("region %d: %s, want %s", i, show(g), show(w))
		}
	}

	// The own region is unhealthy when it knows no leader.
	lone := New(Config{Region: "us", Authoritative: "eu", Local: newLocal(t, "")})
	if r := lone.Regions(); len(r) != 1 || r[0].Name != "us" || r[0].Healthy || r[0].Authoritative {
		t.Errorf("a region without a leader: %+v", r)
	}
}

func show(r Region) string {
	lat := "nil"
	if r.Latency != nil {
		lat = r.Latency.String()
	}
	return fmt.Sprintf("%s leader=%q latency=%s healthy=%v refused=%v authoritative=%v",
		r.Name, r.Leader, lat, r.Healthy, r.Refused, r.Authoritative)
}

// TestProbe: a probe over gRPC records the region, its leader and the
// round trip; the window keeps the last rttWindow round trips; a server
// of this region is dropped; an unreachable one stays unknown.
func TestProbe(t *testing.T) {
	eu := startServer(t, "eu", "eu")
	us := startServer(t, "us", "eu")
	eu.probe(t, us.addr)
	p, ok := eu.fed.peer(us.addr)
	if !ok || p.region != "us" || p.leader != "raft-us" || p.claims != "eu" || p.refused || len(p.rtts) != 1 || time.Since(p.lastOK) > time.Minute {
		t.Fatalf("after a probe: %+v", p)
	}
	for range rttWindow + 2 {
		eu.probe(t, us.addr)
	}
	p, _ = eu.fed.peer(us.addr)
	if len(p.rtts) != rttWindow {
		t.Fatalf("window of %d round trips, want %d", len(p.rtts), rttWindow)
	}
	regions := eu.fed.Regions()
	i := slices.IndexFunc(regions, func(r Region) bool { return r.Name == "us" })
	if i < 0 || !regions[i].Healthy || regions[i].Leader != "raft-us" || regions[i].Latency == nil || *regions[i].Latency != slices.Min(p.rtts) ||
		regions[i].LatencySource != LatencyProbe {
		t.Fatalf("us as a region: %+v (round trips %v)", regions, p.rtts)
	}

	// A server of this region, listed by mistake, is forgotten.
	own := startServer(t, "eu", "eu")
	eu.probe(t, own.addr)
	if _, ok := eu.fed.peer(own.addr); ok {
		t.Fatal("a server of this region is kept as a federated one")
	}

	// An unreachable server is remembered as unknown: no region.
	dead := deadAddr(t)
	eu.probe(t, dead)
	if p, ok := eu.fed.peer(dead); !ok || p.region != "" || !p.lastOK.IsZero() {
		t.Fatalf("unreachable: %+v, %v", p, ok)
	}

	// A region that stops answering becomes unhealthy once its last
	// answer is older than healthyWithin.
	eu.fed.mu.Lock()
	eu.fed.servers[us.addr].lastOK = time.Now().Add(-healthyWithin - time.Second)
	eu.fed.mu.Unlock()
	regions = eu.fed.Regions()
	i = slices.IndexFunc(regions, func(r Region) bool { return r.Name == "us" })
	if regions[i].Healthy || regions[i].Latency != nil {
		t.Fatalf("us after silence: %s", show(regions[i]))
	}
}

// TestProbeRefusesARegionThatDisagrees: a region whose servers name
// another authoritative region is refused: unhealthy, never written to.
func TestProbeRefusesARegionThatDisagrees(t *testing.T) {
	us := startServer(t, "us", "eu")
	rogue := startServer(t, "eu", "eu", regionOpts{claims: "ap"})
	us.probe(t, rogue.addr)
	p, _ := us.fed.peer(rogue.addr)
	if !p.refused || p.refusedAt.IsZero() || p.claims != "ap" {
		t.Fatalf("after the probe: %+v", p)
	}
	regions := us.fed.Regions()
	i := slices.IndexFunc(regions, func(r Region) bool { return r.Name == "eu" })
	if i < 0 || !regions[i].Refused || regions[i].Healthy || regions[i].Latency != nil {
		t.Fatalf("regions %+v", regions)
	}
	if s := us.fed.serversOf("eu"); len(s) != 0 {
		t.Fatalf("a refused server is a target: %v", s)
	}
	if _, err := us.fed.Apply(testCtx(t), command.TeamUpsert, command.TeamUpsertRequest{Team: structs.Team{ID: "t1"}}); err == nil {
		t.Fatal("a global write went to a refused region")
	}
	if got := rogue.local.recorded(); len(got) != 0 {
		t.Fatalf("the refused region applied %v", got)
	}
}
