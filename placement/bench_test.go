package placement

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/serf/coordinate"
)

// benchCluster is 20 regions spread along a line 300 ms long and 500
// heterogeneous nodes in each, filled to about half.
func benchCluster(rng *rand.Rand) ([]Region, []Node) {
	shapes := []Resources{{VCPUs: 4, MemoryMB: 8192, DiskMB: 50_000}, {VCPUs: 8, MemoryMB: 32768, DiskMB: 100_000},
		{VCPUs: 16, MemoryMB: 65536, DiskMB: 200_000}}
	pools := []PoolKey{{Template: "base", Runtime: "RUNC"}, {Template: "base", Runtime: "GVISOR"}}
	var regions []Region
	var nodes []Node
	for r := range 20 {
		name := fmt.Sprintf("region-%02d", r)
		regions = append(regions, Region{Name: name, Coord: coordAt(float64(r) * 15)})
		for i := range 500 {
			shape := shapes[i%len(shapes)]
			n := Node{ID: fmt.Sprintf("%s-node-%03d", name, i), Region: name, Ready: i%50 != 0, Draining: i%97 == 0,
				Templates: []string{"base", "data"}, Runtimes: []string{"RUNC", "GVISOR"}, Capacity: shape,
				Labels: map[string]string{"zone": fmt.Sprintf("%s-%c", name, 'a'+i%3)},
				Warm:   map[PoolKey]int{pools[i%2]: rng.IntN(3)}, Teams: map[string]int{}}
			used := rng.Float64() * 0.9
			n.Allocated = Resources{VCPUs: shape.VCPUs * used, MemoryMB: int(float64(shape.MemoryMB) * used), DiskMB: shape.DiskMB / 4}
			nodes = append(nodes, n)
		}
	}
	return regions, nodes
}

// BenchmarkPlace10kNodes20Regions measures whole decisions (both steps)
// on 10,000 nodes in 20 regions: each request comes from a client at a
// random point of the line, through the region nearest to it, and is
// reserved on the node chosen; the oldest of the last 20,000 placements is
// released, so the cluster stays near its starting fill. Run it with
// -cpu 1 for the one-core figure.
func BenchmarkPlace10kNodes20Regions(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	regions, nodes := benchCluster(rng)
	s := NewSnapshot(Config{}, regions, nodes)
	shapes := []Resources{{VCPUs: 0.5, MemoryMB: 512, DiskMB: 1024}, {VCPUs: 1, MemoryMB: 1024, DiskMB: 2048},
		{VCPUs: 2, MemoryMB: 4096, DiskMB: 4096}}
	type placed struct {
		node, team string
		res        Resources
	}
	ring := make([]placed, 20_000)
	teams := make([]string, 100)
	for i := range teams {
		teams[i] = fmt.Sprintf("team-%d", i)
	}
	clients := make([]*coordinate.Coordinate, 3000) // a client every 0.1 ms of the line
	for i := range clients {
		clients[i] = coordAt(float64(i) / 10)
	}
	lat := make([]time.Duration, 0, b.N)
	failed := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		x := rng.IntN(len(clients))
		req := Request{Team: teams[i%len(teams)], Template: "base", Runtime: "RUNC",
			Resources: shapes[i%len(shapes)], Location: Location{Coord: clients[x], Origin: regions[min((x+75)/150, 19)].Name},
			Seed: uint64(i)}
		if i%10 == 0 {
			req.MaxLatencyMs = 50
		}
		start := time.Now()
		d, err := Place(req, s)
		lat = append(lat, time.Since(start))
		if err != nil {
			failed++
			continue
		}
		old := &ring[i%len(ring)]
		if old.node != "" {
			s.Release(old.node, old.res, old.team, true, true)
		}
		s.Reserve(d.NodeID, req.Resources, req.pool(), req.Team)
		*old = placed{node: d.NodeID, team: req.Team, res: req.Resources}
	}
	elapsed := b.Elapsed()
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "decisions/s")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1000, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1000, "p99-µs")
	b.ReportMetric(float64(failed)/float64(b.N), "rejected")
}
