package placement

import (
	"fmt"
	"sort"
	"strings"
)

// Node is what placement knows of one node: its capacity and what is already
// allocated on it.
type Node struct {
	ID        string
	Region    string
	Ready     bool
	Templates []string
	Runtimes  []string // OCI runtimes installed, e.g. RUNC, GVISOR
	VCPUs     float64
	MemoryMB  int
	DiskMB    int
	// Allocated resources of the sandboxes that run or start there.
	AllocVCPUs    float64
	AllocMemoryMB int
	AllocDiskMB   int
}

// Request is one sandbox to place.
type Request struct {
	Region   string // "" = any
	Template string
	Runtime  string // "" = any
	VCPUs    float64
	MemoryMB int
	DiskMB   int
}

// Score is one scorer's verdict on one node, in [0, 1].
type Score struct {
	Name  string
	Value float64
}

// Candidate is a feasible node with its scores and final score.
type Candidate struct {
	NodeID string
	Region string
	Scores []Score
	Final  float64
}

// Explain renders the candidate as "node X: binpack 0.71 → 0.71".
func (c Candidate) Explain() string {
	parts := make([]string, 0, len(c.Scores))
	for _, s := range c.Scores {
		parts = append(parts, fmt.Sprintf("%s %.2f", s.Name, s.Value))
	}
	return fmt.Sprintf("node %s: %s → %.2f", c.NodeID, strings.Join(parts, ", "), c.Final)
}

// Decision is the chosen node and the runners-up, best first.
type Decision struct {
	Candidate
	RunnersUp []Candidate
}

// NoCapacityError says that no node could take the request, and why each
// was filtered out (reason → number of nodes).
type NoCapacityError struct {
	Region   string
	Filtered map[string]int
}

func (e *NoCapacityError) Error() string {
	reasons := make([]string, 0, len(e.Filtered))
	for r, n := range e.Filtered {
		reasons = append(reasons, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(reasons)
	where := "any region"
	if e.Region != "" {
		where = "region " + e.Region
	}
	if len(reasons) == 0 {
		return fmt.Sprintf("no node in %s", where)
	}
	return fmt.Sprintf("no node in %s can take the sandbox: %s", where, strings.Join(reasons, ", "))
}

// maxRunnersUp bounds the runners-up kept in a decision.
const maxRunnersUp = 3

// Place chooses a node for req among nodes.
func Place(req Request, nodes []Node) (Decision, error) {
	filtered := map[string]int{}
	var cands []Candidate
	for i := range nodes {
		n := &nodes[i]
		if reason := infeasible(req, n); reason != "" {
			filtered[reason]++
			continue
		}
		bp := binpack(req, n)
		cands = append(cands, Candidate{NodeID: n.ID, Region: n.Region,
			Scores: []Score{{Name: "binpack", Value: bp}}, Final: bp})
	}
	if len(cands) == 0 {
		return Decision{}, &NoCapacityError{Region: req.Region, Filtered: filtered}
	}
	// Highest score first; node id breaks ties so decisions are repeatable.
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].Final != cands[j].Final {
			return cands[i].Final > cands[j].Final
		}
		return cands[i].NodeID < cands[j].NodeID
	})
	d := Decision{Candidate: cands[0]}
	if rest := cands[1:]; len(rest) > 0 {
		d.RunnersUp = rest[:min(len(rest), maxRunnersUp)]
	}
	return d, nil
}

// infeasible returns why n cannot take req, or "" when it can.
func infeasible(req Request, n *Node) string {
	switch {
	case !n.Ready:
		return "not ready"
	case req.Region != "" && n.Region != req.Region:
		return "in another region"
	case !contains(n.Templates, req.Template):
		return "without template " + req.Template
	case req.Runtime != "" && !contains(n.Runtimes, req.Runtime):
		return "without runtime " + req.Runtime
	case n.AllocVCPUs+req.VCPUs > n.VCPUs:
		return "short of vCPUs"
	case n.AllocMemoryMB+req.MemoryMB > n.MemoryMB:
		return "short of memory"
	case n.AllocDiskMB+req.DiskMB > n.DiskMB:
		return "short of disk"
	}
	return ""
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// binpack prefers fuller nodes, so that large sandboxes still find empty
// ones: the mean of CPU and memory utilisation after placing req.
func binpack(req Request, n *Node) float64 {
	cpu := (n.AllocVCPUs + req.VCPUs) / n.VCPUs
	mem := float64(n.AllocMemoryMB+req.MemoryMB) / float64(n.MemoryMB)
	return (cpu + mem) / 2
}
