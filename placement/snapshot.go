package placement

import (
	"slices"
	"sort"

	"github.com/hashicorp/serf/coordinate"
)

// Node is what placement knows of one node.
type Node struct {
	ID        string
	Region    string
	Ready     bool // heartbeating and registered
	Draining  bool // no new sandboxes (drain, ineligible in Nomad)
	Templates []string
	Runtimes  []string // OCI runtimes installed, e.g. RUNC, GVISOR
	Labels    map[string]string
	Capacity  Resources
	// Allocated is what the sandboxes running or starting there, and the
	// reservations not yet committed, take.
	Allocated Resources
	InFlight  int                    // sandbox starts in progress
	Warm      map[PoolKey]int        // ready warm sandboxes per pool
	Teams     map[string]int         // sandboxes per team
	Coord     *coordinate.Coordinate // nil when not measured
}

// Free is what is left under the overcommit factors of cfg.
func (n *Node) Free(oc Overcommit) Resources {
	return Resources{
		VCPUs:    n.Capacity.VCPUs*oc.CPU - n.Allocated.VCPUs,
		MemoryMB: int(float64(n.Capacity.MemoryMB)*oc.Memory) - n.Allocated.MemoryMB,
		DiskMB:   int(float64(n.Capacity.DiskMB)*oc.Disk) - n.Allocated.DiskMB,
	}
}

// Summary is a region's capacity as other regions see it: what its
// regional leader reports, or what NewSnapshot computes from its nodes.
type Summary struct {
	Nodes     int       // ready and not draining
	Draining  int       // ready but draining
	Capacity  Resources // of those nodes
	Free      Resources // their free resources, summed
	Templates []string
	// MaxFree is, per runtime, the most free of any one node, dimension by
	// dimension (optimistic: the biggest CPU and the biggest memory may be
	// on different nodes; the node step finds out).
	MaxFree map[string]Resources
	Warm    map[PoolKey]int
}

// Region is one region: its network coordinate and its capacity.
type Region struct {
	Name  string
	Coord *coordinate.Coordinate // the region's servers' coordinate; nil when not measured
	// Summary is what the region reported. NewSnapshot fills it from the
	// nodes when the snapshot holds them.
	Summary Summary
}

// Snapshot is the read-only view placement decides on: regions and, for
// the regions whose nodes are known here, the nodes grouped by region.
type Snapshot struct {
	cfg     Config
	regions []Region
	byName  map[string]int
	nodes   [][]Node // per region, in the order of regions
	index   map[string][2]int
}

// NewSnapshot indexes regions and nodes. A node's region must be among
// regions; a region with nodes gets its Summary from them, one without
// keeps the Summary given (a remote region's report).
func NewSnapshot(cfg Config, regions []Region, nodes []Node) *Snapshot {
	cfg = cfg.withDefaults()
	s := &Snapshot{cfg: cfg, regions: slices.Clone(regions), byName: make(map[string]int, len(regions)),
		index: make(map[string][2]int, len(nodes))}
	sort.SliceStable(s.regions, func(i, j int) bool { return s.regions[i].Name < s.regions[j].Name })
	for i, r := range s.regions {
		s.byName[r.Name] = i
	}
	s.nodes = make([][]Node, len(s.regions))
	for _, n := range nodes {
		ri, ok := s.byName[n.Region]
		if !ok {
			ri = len(s.regions)
			s.regions = append(s.regions, Region{Name: n.Region})
			s.byName[n.Region] = ri
			s.nodes = append(s.nodes, nil)
		}
		s.nodes[ri] = append(s.nodes[ri], n)
	}
	for ri := range s.nodes {
		sort.Slice(s.nodes[ri], func(i, j int) bool { return s.nodes[ri][i].ID < s.nodes[ri][j].ID })
		for ni, n := range s.nodes[ri] {
			s.index[n.ID] = [2]int{ri, ni}
		}
	}
	for ri := range s.regions {
		if len(s.nodes[ri]) > 0 {
			s.regions[ri].Summary = summarise(cfg.Overcommit, s.nodes[ri])
		}
	}
	return s
}

// Config returns the configuration the snapshot decides with.
func (s *Snapshot) Config() Config { return s.cfg }

// Regions returns the regions, by name. The caller must not change them.
func (s *Snapshot) Regions() []Region { return s.regions }

// Region returns one region.
func (s *Snapshot) Region(name string) (Region, bool) {
	ri, ok := s.byName[name]
	if !ok {
		return Region{}, false
	}
	return s.regions[ri], true
}

// HasNodes reports whether the snapshot holds the nodes of region.
func (s *Snapshot) HasNodes(region string) bool {
	ri, ok := s.byName[region]
	return ok && len(s.nodes[ri]) > 0
}

// Node returns a node by id.
func (s *Snapshot) Node(id string) (*Node, bool) {
	at, ok := s.index[id]
	if !ok {
		return nil, false
	}
	return &s.nodes[at[0]][at[1]], true
}

// Reserve records that res was placed on node id and is starting there,
// as a leader does between its decision and the commit. The region's
// Summary follows, except MaxFree, which stays an upper bound until the
// next NewSnapshot. It is not safe for concurrent use.
func (s *Snapshot) Reserve(id string, res Resources, pool PoolKey, team string) bool {
	at, ok := s.index[id]
	if !ok {
		return false
	}
	n := &s.nodes[at[0]][at[1]]
	sum := &s.regions[at[0]].Summary
	n.Allocated = n.Allocated.Add(res)
	n.InFlight++
	if n.Ready && !n.Draining {
		sum.Free = sum.Free.Sub(res)
	}
	if n.Warm[pool] > 0 {
		n.Warm[pool]--
		if n.Ready && !n.Draining {
			sum.Warm[pool]--
		}
	}
	if team != "" {
		if n.Teams == nil {
			n.Teams = map[string]int{}
		}
		n.Teams[team]++
	}
	return true
}

// Refill records that a node's warm pool has one more ready sandbox,
// keeping the region's Summary in step. It is not safe for concurrent use.
func (s *Snapshot) Refill(id string, pool PoolKey) bool {
	at, ok := s.index[id]
	if !ok {
		return false
	}
	n := &s.nodes[at[0]][at[1]]
	if n.Warm == nil {
		n.Warm = map[PoolKey]int{}
	}
	n.Warm[pool]++
	if n.Ready && !n.Draining {
		s.regions[at[0]].Summary.Warm[pool]++
	}
	return true
}

// Nodes returns the nodes of a region the snapshot holds, by id. The
// caller must not change them but through Reserve, Release and Refill.
func (s *Snapshot) Nodes(region string) []Node {
	ri, ok := s.byName[region]
	if !ok {
		return nil
	}
	return s.nodes[ri]
}

// Release undoes what Reserve recorded, for a start that ended (in-flight)
// and, when gone, a sandbox that no longer takes its resources.
func (s *Snapshot) Release(id string, res Resources, team string, started, gone bool) {
	at, ok := s.index[id]
	if !ok {
		return
	}
	n := &s.nodes[at[0]][at[1]]
	if started && n.InFlight > 0 {
		n.InFlight--
	}
	if !gone {
		return
	}
	n.Allocated = n.Allocated.Sub(res)
	if n.Teams[team] > 0 {
		n.Teams[team]--
	}
	if n.Ready && !n.Draining {
		sum := &s.regions[at[0]].Summary
		sum.Free = sum.Free.Add(res)
		free := n.Free(s.cfg.Overcommit)
		for _, rt := range n.Runtimes {
			sum.MaxFree[rt] = maxEach(sum.MaxFree[rt], free)
		}
	}
}

// maxEach is the larger of a and b in each dimension.
func maxEach(a, b Resources) Resources {
	return Resources{VCPUs: max(a.VCPUs, b.VCPUs), MemoryMB: max(a.MemoryMB, b.MemoryMB), DiskMB: max(a.DiskMB, b.DiskMB)}
}

// summarise computes a region's Summary from its nodes.
func summarise(oc Overcommit, nodes []Node) Summary {
	sum := Summary{MaxFree: map[string]Resources{}, Warm: map[PoolKey]int{}}
	templates := map[string]bool{}
	for i := range nodes {
		n := &nodes[i]
		if n.Ready && n.Draining {
			sum.Draining++
		}
		if !n.Ready || n.Draining {
			continue
		}
		sum.Nodes++
		sum.Capacity = sum.Capacity.Add(n.Capacity)
		free := n.Free(oc)
		sum.Free = sum.Free.Add(free)
		for _, rt := range n.Runtimes {
			sum.MaxFree[rt] = maxEach(sum.MaxFree[rt], free)
		}
		for _, t := range n.Templates {
			templates[t] = true
		}
		for k, v := range n.Warm {
			sum.Warm[k] += v
		}
	}
	for t := range templates {
		sum.Templates = append(sum.Templates, t)
	}
	sort.Strings(sum.Templates)
	return sum
}
