package placement

import (
	"errors"
	"strings"
	"testing"
)

func placeOne(t *testing.T, req Request, nodes ...Node) (Decision, error) {
	t.Helper()
	req.Location.Regions = []string{"r"}
	return Place(req, NewSnapshot(Config{}, []Region{{Name: "r"}}, nodes))
}

func TestNodeStep(t *testing.T) {
	mod := func(n Node, f func(*Node)) Node { f(&n); return n }
	warm := map[PoolKey]int{{Template: "base", Runtime: "RUNC"}: 1}
	tests := []struct {
		name    string
		cfg     Config
		nodes   []Node
		want    string
		wantErr string
	}{
		{name: "binpack prefers the fuller node", nodes: []Node{testNode("a", "r", 0), testNode("b", "r", 2048)}, want: "b"},
		{name: "spread prefers the emptier node", cfg: Config{Policy: Spread},
			nodes: []Node{testNode("a", "r", 0), testNode("b", "r", 2048)}, want: "a"},
		{name: "binpack counts memory, not only CPU", nodes: []Node{
			mod(testNode("a", "r", 0), func(n *Node) { n.Allocated.VCPUs = 2 }),
			mod(testNode("b", "r", 3000), func(n *Node) {})}, want: "b"},
		{name: "a warm slot beats a fuller node", nodes: []Node{
			mod(testNode("a", "r", 0), func(n *Node) { n.Warm = warm }), testNode("b", "r", 2048)}, want: "a"},
		{name: "team anti-affinity", cfg: Config{Weights: Weights{Affinity: 1}}, nodes: []Node{
			mod(testNode("a", "r", 0), func(n *Node) { n.Teams = map[string]int{"t1": 3} }), testNode("b", "r", 0)}, want: "b"},
		{name: "fewer starts in progress", cfg: Config{Weights: Weights{InFlight: 1}}, nodes: []Node{
			mod(testNode("a", "r", 0), func(n *Node) { n.InFlight = 4 }), testNode("b", "r", 0)}, want: "b"},
		{name: "in-flight cap filters cold starts", cfg: Config{MaxInFlight: 2}, nodes: []Node{
			mod(testNode("a", "r", 3000), func(n *Node) { n.InFlight = 2 }), testNode("b", "r", 0)}, want: "b"},
		{name: "in-flight cap spares a warm claim", cfg: Config{MaxInFlight: 2}, nodes: []Node{
			mod(testNode("a", "r", 0), func(n *Node) { n.InFlight = 2; n.Warm = warm }), testNode("b", "r", 0)}, want: "a"},
		{name: "skips a node without room", nodes: []Node{testNode("a", "r", 0), testNode("b", "r", 4000)}, want: "a"},
		{name: "skips a down node", nodes: []Node{mod(testNode("a", "r", 3000), func(n *Node) { n.Ready = false }), testNode("b", "r", 0)}, want: "b"},
		{name: "skips a draining node", nodes: []Node{mod(testNode("a", "r", 3000), func(n *Node) { n.Draining = true }), testNode("b", "r", 0)}, want: "b"},
		{name: "skips a node without the runtime", nodes: []Node{mod(testNode("a", "r", 3000), func(n *Node) { n.Runtimes = []string{"GVISOR"} }), testNode("b", "r", 0)}, want: "b"},
		{name: "overcommit lets more in", cfg: Config{Overcommit: Overcommit{Memory: 2}}, nodes: []Node{testNode("a", "r", 4000)}, want: "a"},
		{name: "nothing fits", nodes: []Node{testNode("a", "r", 4000), mod(testNode("b", "r", 0), func(n *Node) { n.Draining = true })},
			wantErr: "r: short of memory (at most 96 MB free on a node)"},
		{name: "no one node has both", nodes: []Node{testNode("a", "r", 4000), mod(testNode("b", "r", 0), func(n *Node) { n.Allocated.VCPUs = 3.5 })},
			wantErr: "r: 1 short of memory, 1 short of vCPUs"},
		{name: "no nodes", wantErr: "r: no ready node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := baseRequest()
			req.Location.Regions = []string{"r"}
			d, err := Place(req, NewSnapshot(tt.cfg, []Region{{Name: "r"}}, tt.nodes))
			if tt.wantErr != "" {
				var nc *NoCapacityError
				if !errors.As(err, &nc) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want NoCapacityError containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.NodeID != tt.want {
				t.Fatalf("chose %s, want %s:\n%s", d.NodeID, tt.want, d.Explain())
			}
		})
	}
}

func TestExclude(t *testing.T) {
	req := baseRequest()
	req.Exclude = []string{"b"}
	d, err := placeOne(t, req, testNode("a", "r", 0), testNode("b", "r", 2048))
	if err != nil || d.NodeID != "a" {
		t.Fatalf("chose %q, %v; want a, b being excluded", d.NodeID, err)
	}
	req.Exclude = []string{"a", "b"}
	if _, err := placeOne(t, req, testNode("a", "r", 0), testNode("b", "r", 2048)); err == nil ||
		!strings.Contains(err.Error(), "2 refused this sandbox already") {
		t.Fatalf("err = %v, want both excluded", err)
	}
}

func TestLabels(t *testing.T) {
	gpu := testNode("a", "r", 3000)
	gpu.Labels = map[string]string{"gpu": "yes"}
	req := baseRequest()
	req.Labels = map[string]string{"gpu": "yes"}
	d, err := placeOne(t, req, gpu, testNode("b", "r", 0))
	if err != nil || d.NodeID != "a" {
		t.Fatalf("chose %q, %v; want a", d.NodeID, err)
	}
	req.Labels = map[string]string{"gpu": "no"}
	if _, err := placeOne(t, req, gpu); err == nil || !strings.Contains(err.Error(), "without the labels") {
		t.Fatalf("err = %v, want labels refusal", err)
	}
}

func TestBestOfK(t *testing.T) {
	var nodes []Node
	for i := range 1000 {
		nodes = append(nodes, testNode(nodeID(i), "r", (i%8)*256))
	}
	s := NewSnapshot(Config{}, []Region{{Name: "r"}}, nodes)
	req := baseRequest()
	req.Location.Regions = []string{"r"}
	seen := map[string]bool{}
	for seed := range uint64(50) {
		req.Seed = seed
		d, err := Place(req, s)
		if err != nil {
			t.Fatal(err)
		}
		if d.K != 10 || d.Examined != 10 {
			t.Fatalf("K = %d, examined %d; want log2(1000)+1 = 10 of each", d.K, d.Examined)
		}
		again, _ := Place(req, s)
		if again.NodeID != d.NodeID {
			t.Fatalf("seed %d chose %s then %s: a seed must repeat its decision", seed, d.NodeID, again.NodeID)
		}
		if len(d.RunnersUp) != maxRunnersUp || d.RunnersUp[0].Final > d.Final {
			t.Fatalf("runners-up %v are not the next best after %v", d.RunnersUp, d.Final)
		}
		seen[d.NodeID] = true
	}
	if len(seen) < 25 {
		t.Fatalf("50 seeds chose only %d nodes: the walk does not spread", len(seen))
	}
}

func TestWalkVisitsEveryNodeOnce(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 10, 97, 500, 1024} {
		for seed := range uint64(20) {
			start, stride := walk(seed, n)
			seen := make([]bool, n)
			for i, at := 0, start; i < n; i, at = i+1, (at+stride)%n {
				if seen[at] {
					t.Fatalf("n %d seed %d: node %d visited twice", n, seed, at)
				}
				seen[at] = true
			}
		}
	}
}

// A full region is searched to the end: the last node with room is found.
func TestFindsTheLastFreeNode(t *testing.T) {
	var nodes []Node
	for i := range 500 {
		nodes = append(nodes, testNode(nodeID(i), "r", 4096))
	}
	nodes[321].Allocated.MemoryMB = 0
	d, err := placeOne(t, baseRequest(), nodes...)
	if err != nil || d.NodeID != nodeID(321) {
		t.Fatalf("chose %q, %v; want %s", d.NodeID, err, nodeID(321))
	}
	if d.Filtered()["short of memory"] == 0 {
		t.Fatalf("filtered = %v, want the full nodes counted", d.Filtered())
	}
}

func nodeID(i int) string {
	return "n" + string(rune('a'+i/676%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i%26))
}
