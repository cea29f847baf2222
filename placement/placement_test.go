package placement

import (
	"errors"
	"strings"
	"testing"
)

func node(id string, allocMem int) Node {
	return Node{ID: id, Region: "local", Ready: true, Templates: []string{"base"}, Runtimes: []string{"RUNC"},
		VCPUs: 4, MemoryMB: 4096, DiskMB: 10000, AllocMemoryMB: allocMem}
}

func TestPlace(t *testing.T) {
	req := Request{Region: "local", Template: "base", Runtime: "RUNC", VCPUs: 1, MemoryMB: 512, DiskMB: 512}
	tests := []struct {
		name     string
		nodes    []Node
		want     string
		wantErr  string
		runnerUp int
	}{
		{name: "binpack prefers the fuller node", nodes: []Node{node("a", 0), node("b", 2048)}, want: "b", runnerUp: 1},
		{name: "skips a node without room", nodes: []Node{node("a", 0), node("b", 4000)}, want: "a"},
		{name: "skips a down node", nodes: []Node{func() Node { n := node("a", 3000); n.Ready = false; return n }(), node("b", 0)}, want: "b"},
		{name: "skips other regions", nodes: []Node{func() Node { n := node("a", 3000); n.Region = "eu"; return n }(), node("b", 0)}, want: "b"},
		{name: "ties break by id", nodes: []Node{node("b", 0), node("a", 0)}, want: "a", runnerUp: 1},
		{name: "skips a node without the runtime", nodes: []Node{func() Node { n := node("a", 3000); n.Runtimes = nil; return n }(), node("b", 0)}, want: "b"},
		{name: "nothing fits", nodes: []Node{node("a", 4000)}, wantErr: "1 short of memory"},
		{name: "no nodes", nodes: nil, wantErr: "no node in region local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Place(req, tt.nodes)
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
				t.Fatalf("chose %s, want %s (%s)", d.NodeID, tt.want, d.Explain())
			}
			if len(d.RunnersUp) != tt.runnerUp {
				t.Fatalf("runners-up = %d, want %d", len(d.RunnersUp), tt.runnerUp)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	d, err := Place(Request{Template: "base", VCPUs: 2, MemoryMB: 2048}, []Node{node("n1", 0)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Explain(), "node n1: binpack 0.50 → 0.50"; got != want {
		t.Fatalf("Explain = %q, want %q", got, want)
	}
}
