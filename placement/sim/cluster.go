package sim

import (
	"fmt"
	"math"

	"github.com/codeint/codeint/placement"
)

// Cluster is the state of the nodes during a run, as a policy sees it:
// the placement.Snapshot every policy decides on (kept current by the
// run with Reserve and Release) and the nodes grouped by region. A policy
// reads it and must not change it; the run records its decisions.
type Cluster struct {
	snap    *placement.Snapshot
	oc      placement.Overcommit
	regions []string
	byName  map[string][]*placement.Node
	all     []*placement.Node
	pool    placement.PoolKey
}

// newCluster builds the nodes of the scenario, each with its warm slots,
// and the snapshot over them. Node ids are "<region>-<nnn>".
func newCluster(sc *Scenario, net *network) (*Cluster, error) {
	pool := placement.PoolKey{Template: sc.Template, Runtime: sc.Runtime}
	regions := make([]placement.Region, len(sc.Regions))
	var nodes []placement.Node
	for i, r := range sc.Regions {
		regions[i] = placement.Region{Name: r.Name, Coord: net.regionCoord[i].Clone()}
		k := 0
		for _, g := range r.Nodes {
			for range g.Count {
				n := placement.Node{ID: fmt.Sprintf("%s-%03d", r.Name, k), Region: r.Name, Ready: true,
					Templates: []string{sc.Template}, Capacity: placement.Resources{VCPUs: g.VCPUs, MemoryMB: g.MemoryMB, DiskMB: g.DiskMB},
					Warm: map[placement.PoolKey]int{pool: sc.Warm.SlotsPerNode}}
				if sc.Runtime != "" {
					n.Runtimes = []string{sc.Runtime}
				}
				nodes = append(nodes, n)
				k++
			}
		}
	}
	snap := placement.NewSnapshot(sc.Placement, regions, nodes)
	c := &Cluster{snap: snap, oc: snap.Config().Overcommit, byName: map[string][]*placement.Node{}, pool: pool}
	for _, r := range snap.Regions() {
		c.regions = append(c.regions, r.Name)
	}
	for _, n := range nodes {
		p, ok := snap.Node(n.ID)
		if !ok {
			return nil, fmt.Errorf("node %s is missing from the snapshot", n.ID)
		}
		c.byName[n.Region] = append(c.byName[n.Region], p)
		c.all = append(c.all, p)
	}
	return c, nil
}

// Snapshot is what placement.Place decides on.
func (c *Cluster) Snapshot() *placement.Snapshot { return c.snap }

// Regions are the region names, sorted.
func (c *Cluster) Regions() []string { return c.regions }

// Nodes are the nodes of region, or of every region when region is "".
// The caller must not change them.
func (c *Cluster) Nodes(region string) []*placement.Node {
	if region == "" {
		return c.all
	}
	return c.byName[region]
}

// Fits reports whether n is ready, not draining and has room for res in
// CPU, memory and disk under the snapshot's overcommit: whether the node
// would accept the sandbox.
func (c *Cluster) Fits(n *placement.Node, res placement.Resources) bool {
	return n.Ready && !n.Draining && n.Free(c.oc).Covers(res)
}

// FreeVCPUs is n's free CPU under the overcommit.
func (c *Cluster) FreeVCPUs(n *placement.Node) float64 { return n.Free(c.oc).VCPUs }

// utilisation is allocated over capacity, CPU and memory, summed over the
// ready nodes.
func (c *Cluster) utilisation() (cpu, mem float64) {
	var alloc, capa placement.Resources
	for _, n := range c.all {
		if n.Ready {
			alloc, capa = alloc.Add(n.Allocated), capa.Add(n.Capacity)
		}
	}
	if capa.VCPUs > 0 {
		cpu = alloc.VCPUs / capa.VCPUs
	}
	if capa.MemoryMB > 0 {
		mem = float64(alloc.MemoryMB) / float64(capa.MemoryMB)
	}
	return cpu, mem
}

// fragmentation is how much of the free capacity of the ready nodes is
// lost to being split among them, for requests of shape s:
// 1 − (requests of shape s that fit node by node) / (requests of shape s
// that would fit in the free resources pooled into one node); 0 when not
// one would fit even pooled.
func (c *Cluster) fragmentation(s placement.Resources) float64 {
	var pooled placement.Resources
	nodewise := 0
	for _, n := range c.all {
		if !n.Ready || n.Draining {
			continue
		}
		f := n.Free(c.oc)
		f = placement.Resources{VCPUs: max(f.VCPUs, 0), MemoryMB: max(f.MemoryMB, 0), DiskMB: max(f.DiskMB, 0)}
		pooled = pooled.Add(f)
		nodewise += fitCount(f, s)
	}
	p := fitCount(pooled, s)
	if p == 0 {
		return 0
	}
	return 1 - float64(nodewise)/float64(p)
}

// fitCount is how many requests of shape s fit in free.
func fitCount(free, s placement.Resources) int {
	k := math.Floor(free.VCPUs/s.VCPUs + 1e-9)
	k = min(k, float64(free.MemoryMB/s.MemoryMB))
	if s.DiskMB > 0 {
		k = min(k, float64(free.DiskMB/s.DiskMB))
	}
	return max(int(k), 0)
}

// refill returns one warm slot to n, up to slots. Snapshot.Reserve takes
// a slot from the node and from its region's Summary.Warm, but the
// snapshot has no call to give one back; the Region that Snapshot.Region
// returns is a copy whose Summary.Warm is the snapshot's own map, so the
// count is restored through it.
func (c *Cluster) refill(n *placement.Node, slots int) {
	if n.Warm[c.pool] < slots {
		c.snap.Refill(n.ID, c.pool)
	}
}
