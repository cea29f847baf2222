package placement

import (
	"fmt"
	"strings"
)

// Score is one scorer's verdict, in [0, 1], and the weight it counts with.
type Score struct {
	Name   string
	Value  float64
	Weight float64
}

// combine is the weighted mean of scores; 0 when every weight is 0.
func combine(scores []Score) float64 {
	var sum, weights float64
	for _, s := range scores {
		sum += s.Value * s.Weight
		weights += s.Weight
	}
	if weights == 0 {
		return 0
	}
	return sum / weights
}

func explainScores(scores []Score, final float64) string {
	parts := make([]string, 0, len(scores))
	for _, s := range scores {
		parts = append(parts, fmt.Sprintf("%s %.2f×%g", s.Name, s.Value, s.Weight))
	}
	return fmt.Sprintf("%s → %.3f", strings.Join(parts, ", "), final)
}

func clamp01(v float64) float64 { return min(max(v, 0), 1) }

func boolScore(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// fitScore scores how full n is after placing res: binpack prefers full
// nodes, spread empty ones. CPU and memory count alike.
func fitScore(p Policy, oc Overcommit, n *Node, res Resources) float64 {
	var cpu, mem float64
	if c := n.Capacity.VCPUs * oc.CPU; c > 0 {
		cpu = (n.Allocated.VCPUs + res.VCPUs) / c
	}
	if m := float64(n.Capacity.MemoryMB) * oc.Memory; m > 0 {
		mem = float64(n.Allocated.MemoryMB+res.MemoryMB) / m
	}
	used := clamp01((cpu + mem) / 2)
	if p == Spread {
		return 1 - used
	}
	return used
}
