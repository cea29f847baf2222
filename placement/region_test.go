package placement

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func threeRegionSnapshot(mods ...func(*Node)) *Snapshot {
	nodes := []Node{testNode("n-near", "near", 0), testNode("n-mid", "mid", 0), testNode("n-far", "far", 0)}
	for i, m := range mods {
		if m != nil {
			m(&nodes[i])
		}
	}
	return NewSnapshot(Config{}, threeRegions(), nodes)
}

func full(n *Node) { n.Allocated.MemoryMB = n.Capacity.MemoryMB }

func TestRegionStep(t *testing.T) {
	client := coordAt(0)
	tests := []struct {
		name    string
		loc     Location
		budget  float64
		mods    []func(*Node)
		want    string
		wantErr string
		invalid bool
	}{
		{name: "nearest by client coordinate", loc: Location{Coord: client}, want: "near"},
		{name: "a client near far", loc: Location{Coord: coordAt(125)}, want: "far"},
		{name: "the origin region", loc: Location{Origin: "mid"}, want: "mid"},
		{name: "the next nearest when the nearest is full", loc: Location{Coord: client}, mods: []func(*Node){full}, want: "mid"},
		{name: "the preference order beats latency", loc: Location{Coord: client, Regions: []string{"far", "near"}}, want: "far"},
		{name: "the next preferred when the first is full", loc: Location{Regions: []string{"far", "mid"}},
			mods: []func(*Node){nil, nil, full}, want: "mid"},
		{name: "preferred only, without a budget", loc: Location{Regions: []string{"far"}},
			mods: []func(*Node){nil, nil, full}, wantErr: "far: short of memory"},
		{name: "fallback outside the list within the budget", loc: Location{Coord: client, Regions: []string{"mid"}}, budget: 50,
			mods: []func(*Node){nil, full, nil}, want: "near"},
		{name: "no fallback past the budget", loc: Location{Coord: client}, budget: 50,
			mods: []func(*Node){full, full, nil}, wantErr: "far: over the latency budget (120 ms > 50 ms)"},
		{name: "every region short says what each lacked", loc: Location{Coord: client},
			mods:    []func(*Node){full, func(n *Node) { n.Draining = true }, func(n *Node) { n.Runtimes = []string{"GVISOR"} }},
			wantErr: "far: no node with runtime RUNC; mid: every ready node is draining (1); near: short of memory (at most 0 MB free on a node)"},
		{name: "unknown region", loc: Location{Regions: []string{"mars"}}, invalid: true,
			wantErr: `unknown region "mars"; the regions are far, mid, near`},
		{name: "a list no region of which meets the budget", loc: Location{Coord: client, Regions: []string{"far"}}, budget: 50,
			invalid: true, wantErr: "no preferred region is within maxLatencyMs 50 of the client (far 120 ms)"},
		{name: "negative budget", loc: Location{Coord: client}, budget: -1, invalid: true, wantErr: "maxLatencyMs is -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := baseRequest()
			req.Location, req.MaxLatencyMs = tt.loc, tt.budget
			d, err := Place(req, threeRegionSnapshot(tt.mods...))
			if tt.wantErr != "" {
				var inv *InvalidError
				var nc *NoCapacityError
				if tt.invalid && !errors.As(err, &inv) || !tt.invalid && !errors.As(err, &nc) {
					t.Fatalf("err = %#v, want invalid=%v", err, tt.invalid)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Region != tt.want {
				t.Fatalf("chose %s, want %s:\n%s", d.Region, tt.want, d.Explain())
			}
		})
	}
}

func TestRegionLatencyFromOrigin(t *testing.T) {
	s := threeRegionSnapshot()
	req := baseRequest()
	req.Location.Origin = "mid"
	c, err := ChooseRegion(req, s)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, r := range c.Ranked {
		if !r.LatencyKnown {
			t.Fatalf("%s: latency unknown", r.Region)
		}
		got[r.Region] = r.LatencyMs
	}
	if got["mid"] != 0 || got["near"] < 29.9 || got["near"] > 30.1 || got["far"] < 89.9 || got["far"] > 90.1 {
		t.Fatalf("latencies from mid = %v, want mid 0, near 30, far 90", got)
	}
	if c.Ranked[0].Region != "mid" || c.Ranked[1].Region != "near" || c.Ranked[2].Region != "far" {
		t.Fatalf("ranking %v, want mid, near, far", c.Ranked)
	}
}

// A region whose nodes are elsewhere (another region's leader holds them)
// is chosen from its summary and returned without a node, for forwarding.
func TestRemoteRegionIsForwarded(t *testing.T) {
	remote := Region{Name: "eu", Coord: coordAt(5), Summary: Summary{Nodes: 10, Templates: []string{"base"},
		Capacity: Resources{VCPUs: 40, MemoryMB: 40960}, Free: Resources{VCPUs: 40, MemoryMB: 40960},
		MaxFree: map[string]Resources{"RUNC": {VCPUs: 4, MemoryMB: 4096, DiskMB: 10000}}}}
	local := testNode("a", "us", 0)
	local.Allocated.MemoryMB = 4000 // full
	s := NewSnapshot(Config{}, []Region{{Name: "us", Coord: coordAt(0)}, remote}, []Node{local})
	req := baseRequest()
	req.Location.Origin = "us"
	d, err := Place(req, s)
	if err != nil {
		t.Fatal(err)
	}
	if d.Region != "eu" || d.NodeID != "" || len(d.Rejected) != 1 || d.Rejected[0].Region != "us" {
		t.Fatalf("decision %+v, want eu without a node, us rejected", d)
	}
	if !strings.Contains(d.Explain(), "region eu (forwarded") {
		t.Fatalf("explain = %q", d.Explain())
	}
}

func TestWarmRegionWinsATie(t *testing.T) {
	a, b := testNode("a", "ra", 0), testNode("b", "rb", 0)
	b.Warm = map[PoolKey]int{{Template: "base", Runtime: "RUNC"}: 2}
	s := NewSnapshot(Config{}, []Region{{Name: "ra", Coord: coordAt(10)}, {Name: "rb", Coord: coordAt(10)}}, []Node{a, b})
	req := baseRequest()
	req.Location.Coord = coordAt(0)
	d, err := Place(req, s)
	if err != nil || d.Region != "rb" {
		t.Fatalf("chose %q, %v; want rb, the region with warm sandboxes", d.Region, err)
	}
}

func TestReserveAndRelease(t *testing.T) {
	n := testNode("a", "r", 0)
	pool := PoolKey{Template: "base", Runtime: "RUNC"}
	n.Warm = map[PoolKey]int{pool: 1}
	s := NewSnapshot(Config{}, []Region{{Name: "r"}}, []Node{n})
	res := Resources{VCPUs: 1, MemoryMB: 1024, DiskMB: 100}
	s.Reserve("a", res, pool, "t1")
	r, _ := s.Region("r")
	node, _ := s.Node("a")
	if node.InFlight != 1 || node.Allocated != res || node.Teams["t1"] != 1 || node.Warm[pool] != 0 ||
		r.Summary.Free.MemoryMB != 4096-1024 || r.Summary.Warm[pool] != 0 {
		t.Fatalf("after Reserve: node %+v, summary %+v", node, r.Summary)
	}
	if !s.Refill("a", pool) || node.Warm[pool] != 1 {
		t.Fatalf("after Refill: node %+v", node)
	}
	if r, _ := s.Region("r"); r.Summary.Warm[pool] != 1 {
		t.Fatalf("after Refill: summary %+v", r.Summary)
	}
	s.Release("a", res, "t1", true, false)
	if node.InFlight != 0 || node.Allocated != res {
		t.Fatalf("after the start: node %+v", node)
	}
	s.Release("a", res, "t1", false, true)
	r, _ = s.Region("r")
	if node.Allocated != (Resources{}) || node.Teams["t1"] != 0 || r.Summary.Free.MemoryMB != 4096 {
		t.Fatalf("after the stop: node %+v, summary %+v", node, r.Summary)
	}
}

func TestExplain(t *testing.T) {
	req := baseRequest()
	req.Location.Coord = coordAt(0)
	d, err := Place(req, threeRegionSnapshot(full))
	if err != nil {
		t.Fatal(err)
	}
	got := d.Explain()
	for _, want := range []string{"region mid, node n-mid: latency 0.57×4, binpack 0.19×1, warm 0.00×1.5, in-flight 1.00×0.5, anti-affinity 1.00×0.5 → 0.463 (1 feasible of 1 examined, K 2)",
		"region near rejected: short of memory", "region mid: ~30 ms; ", "region far: ~120 ms; "} {
		if !strings.Contains(got, want) {
			t.Fatalf("Explain() =\n%s\nwant it to contain %q", got, want)
		}
	}
}

func TestDistanceMatchesSerf(t *testing.T) {
	a, b := coordAt(12), coordAt(40)
	a.Vec[3], b.Vec[5], a.Height, b.Height, a.Adjustment, b.Adjustment = 0.004, -0.002, 0.0005, 0.001, -0.0003, 0.0002
	got, ok := distanceMs(a, b)
	want := a.DistanceTo(b).Seconds() * 1000
	if !ok || got < want-1e-6 || got > want+1e-6 {
		t.Fatalf("distanceMs = %v, serf says %v", got, want)
	}
}

func TestSummaryTravelsAsJSON(t *testing.T) {
	n := testNode("a", "r", 1024)
	n.Warm = map[PoolKey]int{{Template: "base", Runtime: "RUNC"}: 2}
	r, _ := NewSnapshot(Config{}, []Region{{Name: "r"}}, []Node{n}).Region("r")
	b, err := json.Marshal(r.Summary)
	if err != nil {
		t.Fatal(err)
	}
	var back Summary
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r.Summary) {
		t.Fatalf("summary %+v came back as %+v (%s)", r.Summary, back, b)
	}
	if err := json.Unmarshal([]byte(`{"Warm":{"nokey":1}}`), &back); err == nil {
		t.Fatal("a pool key without a runtime must not decode")
	}
}
