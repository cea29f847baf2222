package placement

import (
	"cmp"
	"math/bits"
	"slices"
	"strings"
)

// Candidate is a feasible node with its scores and final score.
type Candidate struct {
	NodeID string
	Region string
	Scores []Score
	Final  float64
}

// Explain renders the candidate as "node X: fit 0.71×1, … → 0.62".
func (c Candidate) Explain() string {
	return "node " + c.NodeID + ": " + explainScores(c.Scores, c.Final)
}

// NodeChoice is the outcome of the second step.
type NodeChoice struct {
	Candidate
	RunnersUp []Candidate // best first
	K         int         // at most this many feasible nodes are compared
	Feasible  int         // feasible nodes compared
	Examined  int         // nodes looked at

	filtered          [numReasons]int
	template, runtime string
}

// Filtered says why the nodes examined and not compared were filtered
// out: reason → number of nodes.
func (c NodeChoice) Filtered() map[string]int {
	return filteredMap(c.template, c.runtime, &c.filtered)
}

// reason is why a node is not feasible; they are counted in an array so
// that a decision allocates nothing for the nodes it skips.
type reason int

const (
	notReady reason = iota
	excluded
	draining
	noRuntime
	noTemplate
	labelsDiffer
	inFlightCap
	shortCPU
	shortMemory
	shortDisk
	numReasons
)

func (r reason) text(template, runtime string) string {
	switch r {
	case notReady:
		return "not ready"
	case excluded:
		return "refused this sandbox already"
	case draining:
		return "draining"
	case noRuntime:
		return "without runtime " + runtime
	case noTemplate:
		return "without template " + template
	case labelsDiffer:
		return "without the labels asked for"
	case inFlightCap:
		return "at the cap on starts in progress"
	case shortCPU:
		return "short of vCPUs"
	case shortMemory:
		return "short of memory"
	}
	return "short of disk"
}

const maxRunnersUp = 3

// scorers per node: latency, fit, warm, in-flight, affinity.
const nodeScorers = 5

// PlaceInRegion chooses the node in region for req: from a start and a
// stride drawn from req.Seed it walks the region's nodes, filters the
// infeasible and scores the feasible, and stops after K of them (all of
// them in a region smaller than K). regionLatency is the score the region
// got for latency, used when the nodes have no coordinates.
func PlaceInRegion(req Request, s *Snapshot, region string, regionLatency Score) (NodeChoice, error) {
	ri, ok := s.byName[region]
	if !ok {
		return NodeChoice{}, &InvalidError{Reason: "unknown region " + region}
	}
	nodes := s.nodes[ri]
	n := len(nodes)
	if n == 0 {
		return NodeChoice{}, &NoCapacityError{Shortfalls: []Shortfall{{Region: region, Reason: "no node"}}}
	}
	cfg := &s.cfg
	k := min(max(bits.Len(uint(n)), cfg.MinK), cfg.MaxK)
	start, stride := walk(req.Seed, n)
	var filtered [numReasons]int
	cands := make([]Candidate, 0, k)
	scores := make([]Score, k*nodeScorers)
	examined := 0
	for i, at := 0, start; i < n && len(cands) < k; i, at = i+1, (at+stride)%n {
		examined++
		node := &nodes[at]
		if r, bad := infeasible(&req, cfg, node); bad {
			filtered[r]++
			continue
		}
		sc := scores[len(cands)*nodeScorers : len(cands)*nodeScorers : (len(cands)+1)*nodeScorers]
		sc = scoreNode(&req, cfg, node, regionLatency, sc)
		cands = append(cands, Candidate{NodeID: node.ID, Region: region, Scores: sc, Final: combine(sc)})
	}
	if len(cands) == 0 {
		return NodeChoice{}, &NoCapacityError{Shortfalls: []Shortfall{{Region: region,
			Filtered: filteredMap(req.Template, req.Runtime, &filtered)}}}
	}
	// Highest score first; node id breaks ties so decisions are repeatable.
	slices.SortFunc(cands, func(a, b Candidate) int {
		if a.Final != b.Final {
			return -cmp.Compare(a.Final, b.Final)
		}
		return strings.Compare(a.NodeID, b.NodeID)
	})
	c := NodeChoice{Candidate: cands[0], K: k, Feasible: len(cands), Examined: examined,
		filtered: filtered, template: req.Template, runtime: req.Runtime}
	if rest := cands[1:]; len(rest) > 0 {
		c.RunnersUp = rest[:min(len(rest), maxRunnersUp):min(len(rest), maxRunnersUp)]
	}
	return c, nil
}

// walk draws a start and a stride coprime with n from seed, so the walk
// visits every node once in an order that differs from seed to seed.
func walk(seed uint64, n int) (start, stride int) {
	seed = mix(seed)
	start = int(seed % uint64(n))
	if n <= 2 {
		return start, 1
	}
	stride = 1 + int((seed>>32)%uint64(n-1))
	for gcd(stride, n) != 1 {
		stride = stride%(n-1) + 1
	}
	return start, stride
}

// mix is SplitMix64's finaliser: nearby seeds give unrelated walks.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// infeasible is the feasibility chain: the first check a node fails.
func infeasible(req *Request, cfg *Config, n *Node) (reason, bool) {
	switch {
	case !n.Ready:
		return notReady, true
	case len(req.Exclude) > 0 && slices.Contains(req.Exclude, n.ID):
		return excluded, true
	case n.Draining:
		return draining, true
	case req.Runtime != "" && !slices.Contains(n.Runtimes, req.Runtime):
		return noRuntime, true
	case req.Template != "" && !slices.Contains(n.Templates, req.Template):
		return noTemplate, true
	case !labelsMatch(req.Labels, n.Labels):
		return labelsDiffer, true
	case n.InFlight >= cfg.MaxInFlight && n.Warm[req.pool()] == 0:
		return inFlightCap, true
	}
	free := n.Free(cfg.Overcommit)
	switch {
	case req.Resources.VCPUs > free.VCPUs+1e-9:
		return shortCPU, true
	case req.Resources.MemoryMB > free.MemoryMB:
		return shortMemory, true
	case req.Resources.DiskMB > free.DiskMB:
		return shortDisk, true
	}
	return 0, false
}

func labelsMatch(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// scoreNode appends the node's scores to sc.
func scoreNode(req *Request, cfg *Config, n *Node, regionLatency Score, sc []Score) []Score {
	lat := regionLatency
	if req.Location.Coord != nil && n.Coord != nil {
		if ms, ok := distanceMs(req.Location.Coord, n.Coord); ok {
			lat.Value = latencyScore(ms, true, cfg.LatencyScaleMs)
		}
	}
	lat.Name, lat.Weight = "latency", cfg.Weights.Latency
	return append(sc, lat,
		Score{Name: string(cfg.Policy), Value: fitScore(cfg.Policy, cfg.Overcommit, n, req.Resources), Weight: cfg.Weights.Fit},
		Score{Name: "warm", Value: boolScore(n.Warm[req.pool()] > 0), Weight: cfg.Weights.Warm},
		Score{Name: "in-flight", Value: clamp01(1 - float64(n.InFlight)/float64(cfg.MaxInFlight)), Weight: cfg.Weights.InFlight},
		Score{Name: "anti-affinity", Value: 1 / float64(1+n.Teams[req.Team]), Weight: cfg.Weights.Affinity})
}

func filteredMap(template, runtime string, f *[numReasons]int) map[string]int {
	m := map[string]int{}
	for r, n := range f {
		if n > 0 {
			m[reason(r).text(template, runtime)] = n
		}
	}
	return m
}
