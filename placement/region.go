package placement

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/hashicorp/serf/coordinate"
)

// RegionCandidate is one region as the first step saw it.
type RegionCandidate struct {
	Region string
	// LatencyMs is the estimated client round trip; LatencyKnown is false
	// when neither the client nor the region has a coordinate to tell.
	LatencyMs    float64
	LatencyKnown bool
	Preferred    int     // 1-based position in the client's list; 0 if not listed
	Scores       []Score // latency, capacity, warm
	Final        float64
	Reason       string // why the region cannot take the request; "" when it can
}

// RegionChoice is the outcome of the first step.
type RegionChoice struct {
	// Ranked are the regions that could take the request, in the order
	// to try them: the chosen one first, the fallbacks after.
	Ranked []RegionCandidate
	// Rejected are the others, with their reasons.
	Rejected []RegionCandidate
}

// ChooseRegion ranks the regions for req. A preference list is honoured
// in its order; regions not on it are considered only within
// MaxLatencyMs. Without a list every region within the budget (all of
// them without one) is ranked by latency, free capacity and warm pools.
func ChooseRegion(req Request, s *Snapshot) (RegionChoice, error) {
	if err := checkLocation(req, s); err != nil {
		return RegionChoice{}, err
	}
	cfg := s.cfg
	regions := s.Regions()
	// The candidates are built in the back half of one array and copied,
	// ranked then rejected, into its front half: a decision allocates
	// twice, not per region, and sorts small indices, not candidates.
	n := len(regions)
	buf := make([]RegionCandidate, 2*n)
	all := buf[n:]
	scores := make([]Score, 3*n)
	order := make([]int, 0, 32)[:0]
	if n > 32 {
		order = make([]int, 0, n)
	}
	for i := range regions {
		c := &all[i]
		c.Region = regions[i].Name
		c.Preferred = slices.Index(req.Location.Regions, c.Region) + 1
		c.LatencyMs, c.LatencyKnown = estimateLatency(req.Location, s, &regions[i])
		c.Reason = regionReason(req, &regions[i], c)
		c.Scores = scores[3*i : 3*i : 3*i+3]
		sum := &regions[i].Summary
		c.Scores = append(c.Scores,
			Score{Name: "latency", Value: latencyScore(c.LatencyMs, c.LatencyKnown, cfg.LatencyScaleMs), Weight: cfg.Weights.Latency},
			Score{Name: "capacity", Value: freeShare(sum), Weight: cfg.Weights.Capacity},
			Score{Name: "warm", Value: boolScore(sum.Warm[req.pool()] > 0), Weight: cfg.Weights.RegionWarm})
		c.Final = combine(c.Scores)
		if len(req.Location.Regions) > 0 && c.Preferred == 0 && req.MaxLatencyMs <= 0 && c.Reason == "" {
			c.Reason = "not in the preferred regions"
		}
		if c.Reason == "" {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return rankRegions(&all[a], &all[b]) })
	out := buf[:0:n]
	for _, i := range order {
		out = append(out, all[i])
	}
	ranked := len(out)
	for i := range all {
		if all[i].Reason != "" {
			out = append(out, all[i])
		}
	}
	choice := RegionChoice{Ranked: out[:ranked:ranked], Rejected: out[ranked:]}
	if len(choice.Ranked) == 0 {
		return choice, noCapacity(choice.Rejected)
	}
	return choice, nil
}

// rankRegions orders regions to try: the preferred in the client's order,
// then the others by score, then by name.
func rankRegions(a, b *RegionCandidate) int {
	switch {
	case (a.Preferred > 0) != (b.Preferred > 0):
		if a.Preferred > 0 {
			return -1
		}
		return 1
	case a.Preferred != b.Preferred:
		return cmp.Compare(a.Preferred, b.Preferred)
	case a.Final != b.Final:
		return -cmp.Compare(a.Final, b.Final)
	}
	return strings.Compare(a.Region, b.Region)
}

// checkLocation refuses requests no state of the cluster could satisfy:
// unknown regions, and a preference list of which no region meets the
// latency budget.
func checkLocation(req Request, s *Snapshot) error {
	if req.MaxLatencyMs < 0 {
		return &InvalidError{Reason: fmt.Sprintf("maxLatencyMs is %g: it must be 0 (no bound) or more", req.MaxLatencyMs)}
	}
	for _, name := range req.Location.Regions {
		if _, ok := s.Region(name); !ok {
			return &InvalidError{Reason: fmt.Sprintf("unknown region %q; the regions are %s", name, strings.Join(regionNames(s), ", "))}
		}
	}
	if req.MaxLatencyMs <= 0 || len(req.Location.Regions) == 0 {
		return nil
	}
	var over []string
	for _, name := range req.Location.Regions {
		r, _ := s.Region(name)
		ms, known := estimateLatency(req.Location, s, &r)
		if !known || ms <= req.MaxLatencyMs {
			return nil
		}
		over = append(over, fmt.Sprintf("%s %.0f ms", name, ms))
	}
	return &InvalidError{Reason: fmt.Sprintf("no preferred region is within maxLatencyMs %g of the client (%s): raise the budget or name a nearer region",
		req.MaxLatencyMs, strings.Join(over, ", "))}
}

func regionNames(s *Snapshot) []string {
	names := make([]string, 0, len(s.regions))
	for _, r := range s.regions {
		names = append(names, r.Name)
	}
	return names
}

// regionReason says why region r cannot take req, from its summary and
// the latency budget; "" when it may.
func regionReason(req Request, r *Region, c *RegionCandidate) string {
	sum := &r.Summary
	switch {
	case req.MaxLatencyMs > 0 && !c.LatencyKnown:
		return "latency unknown, and the request has a latency budget"
	case req.MaxLatencyMs > 0 && c.LatencyMs > req.MaxLatencyMs:
		return fmt.Sprintf("over the latency budget (%.0f ms > %g ms)", c.LatencyMs, req.MaxLatencyMs)
	case sum.Nodes == 0 && sum.Draining > 0:
		return fmt.Sprintf("every ready node is draining (%d)", sum.Draining)
	case sum.Nodes == 0:
		return "no ready node"
	case req.Template != "" && !slices.Contains(sum.Templates, req.Template):
		return "no node with template " + req.Template
	}
	free, ok := sum.MaxFree[req.Runtime]
	if req.Runtime == "" {
		ok = len(sum.MaxFree) > 0
		for _, f := range sum.MaxFree {
			free = maxEach(free, f)
		}
	}
	switch {
	case !ok:
		return "no node with runtime " + req.Runtime
	case req.Resources.VCPUs > free.VCPUs+1e-9:
		return fmt.Sprintf("short of vCPUs (at most %.2g free on a node)", free.VCPUs)
	case req.Resources.MemoryMB > free.MemoryMB:
		return fmt.Sprintf("short of memory (at most %d MB free on a node)", free.MemoryMB)
	case req.Resources.DiskMB > free.DiskMB:
		return fmt.Sprintf("short of disk (at most %d MB free on a node)", free.DiskMB)
	}
	return ""
}

// estimateLatency is the client's estimated round trip to region r, in
// milliseconds: from the client's coordinate when it has one, else from
// the region it came in through (or its first preferred region), whose
// own distance counts as 0.
func estimateLatency(loc Location, s *Snapshot, r *Region) (float64, bool) {
	if loc.Coord != nil && r.Coord != nil {
		return distanceMs(loc.Coord, r.Coord)
	}
	from := loc.Origin
	if from == "" && len(loc.Regions) > 0 {
		from = loc.Regions[0]
	}
	if from == "" {
		return 0, false
	}
	if from == r.Name {
		return 0, true
	}
	o, ok := s.Region(from)
	if !ok || o.Coord == nil || r.Coord == nil {
		return 0, false
	}
	return distanceMs(o.Coord, r.Coord)
}

// distanceMs is the round trip Vivaldi estimates between a and b, as
// coordinate.DistanceTo computes it (Euclidean distance plus heights, plus
// the adjustments when that stays positive) but without its allocation of
// a difference vector, since a decision measures every region.
func distanceMs(a, b *coordinate.Coordinate) (float64, bool) {
	if !a.IsCompatibleWith(b) {
		return 0, false
	}
	var sq float64
	for i := range a.Vec {
		d := a.Vec[i] - b.Vec[i]
		sq += d * d
	}
	dist := math.Sqrt(sq) + a.Height + b.Height
	if adjusted := dist + a.Adjustment + b.Adjustment; adjusted > 0 {
		dist = adjusted
	}
	return dist * 1000, true
}

// latencyScore maps a round trip to (0, 1]: 1 at 0 ms, ½ at scale.
func latencyScore(ms float64, known bool, scale float64) float64 {
	if !known {
		return 0
	}
	return 1 / (1 + ms/scale)
}

// freeShare is the smaller of a region's free CPU and memory shares.
func freeShare(sum *Summary) float64 {
	if sum.Capacity.VCPUs <= 0 || sum.Capacity.MemoryMB <= 0 {
		return 0
	}
	return clamp01(min(sum.Free.VCPUs/sum.Capacity.VCPUs, float64(sum.Free.MemoryMB)/float64(sum.Capacity.MemoryMB)))
}

func noCapacity(rejected []RegionCandidate) *NoCapacityError {
	e := &NoCapacityError{}
	for _, c := range rejected {
		e.Shortfalls = append(e.Shortfalls, Shortfall{Region: c.Region, Reason: c.Reason})
	}
	return e
}
