package structs

import (
	"fmt"
	"strings"
)

// Placement explains where a sandbox was placed and why: the region step
// (every region considered, with its estimated latency and score or the
// reason it could not take the sandbox) and the node step (the chosen
// node's score breakdown and the runners-up).
type Placement struct {
	Region    string               `json:"region"`
	NodeID    string               `json:"nodeId,omitempty"`
	Score     float64              `json:"score"`
	Scores    []PlacementScore     `json:"scores,omitempty"`
	RunnersUp []PlacementCandidate `json:"runnersUp,omitempty"`
	Regions   []PlacementRegion    `json:"regions,omitempty"`
	// Examined and Feasible count the nodes the node step looked at and
	// compared; Attempts counts nodes tried (a node that refused because
	// capacity raced is excluded and the next one tried).
	Examined int `json:"examined,omitempty"`
	Feasible int `json:"feasible,omitempty"`
	Attempts int `json:"attempts,omitempty"`
	// Excluded are nodes that refused the start, with why.
	Excluded []string `json:"excluded,omitempty"`
}

// PlacementScore is one scorer's verdict in [0, 1] and its weight.
type PlacementScore struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Weight float64 `json:"weight"`
}

// PlacementCandidate is a node that was compared and not chosen.
type PlacementCandidate struct {
	NodeID string  `json:"nodeId"`
	Score  float64 `json:"score"`
}

// PlacementRegion is one region of the region step.
type PlacementRegion struct {
	Region    string   `json:"region"`
	LatencyMs *float64 `json:"latencyMs,omitempty"` // estimated client round trip; nil when unknown
	Score     float64  `json:"score"`
	Reason    string   `json:"reason,omitempty"` // why it could not take the sandbox
	Chosen    bool     `json:"chosen,omitempty"`
}

// Explain renders the placement in a few lines.
func (p *Placement) Explain() string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "region %s", p.Region)
	if p.NodeID != "" {
		parts := make([]string, len(p.Scores))
		for i, s := range p.Scores {
			parts[i] = fmt.Sprintf("%s %.2f×%g", s.Name, s.Value, s.Weight)
		}
		fmt.Fprintf(&b, ", node %s: %s → %.3f (%d feasible of %d examined)", p.NodeID, strings.Join(parts, ", "), p.Score, p.Feasible, p.Examined)
	}
	for _, c := range p.RunnersUp {
		fmt.Fprintf(&b, "\n  runner-up node %s → %.3f", c.NodeID, c.Score)
	}
	for _, e := range p.Excluded {
		fmt.Fprintf(&b, "\n  excluded %s", e)
	}
	for _, r := range p.Regions {
		lat := "latency unknown"
		if r.LatencyMs != nil {
			lat = fmt.Sprintf("~%.0f ms", *r.LatencyMs)
		}
		switch {
		case r.Reason != "":
			fmt.Fprintf(&b, "\n  region %s (%s): %s", r.Region, lat, r.Reason)
		default:
			fmt.Fprintf(&b, "\n  region %s (%s): score %.3f", r.Region, lat, r.Score)
		}
	}
	return b.String()
}
