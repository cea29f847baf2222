package placement

import (
	"fmt"
	"sort"
	"strings"
)

// Shortfall says why one region could not take a request: a reason of the
// region as a whole, or how many of its nodes were filtered out, and why.
type Shortfall struct {
	Region   string
	Reason   string         // "" when the nodes say it
	Filtered map[string]int // node reason → number of nodes
}

func (s Shortfall) String() string {
	if s.Reason != "" {
		return s.Region + ": " + s.Reason
	}
	if len(s.Filtered) == 0 {
		return s.Region + ": no node"
	}
	reasons := make([]string, 0, len(s.Filtered))
	for r, n := range s.Filtered {
		reasons = append(reasons, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(reasons)
	return s.Region + ": " + strings.Join(reasons, ", ")
}

// NoCapacityError says that nowhere within the request's bounds could take
// it, and what was short in each region that was considered.
type NoCapacityError struct {
	Shortfalls []Shortfall
}

func (e *NoCapacityError) Error() string {
	if len(e.Shortfalls) == 0 {
		return "no region can take the sandbox: there are no regions"
	}
	parts := make([]string, len(e.Shortfalls))
	for i, s := range e.Shortfalls {
		parts[i] = s.String()
	}
	return "no region can take the sandbox: " + strings.Join(parts, "; ")
}

// InvalidError is a request placement can never satisfy as asked: an
// unknown region, or options that contradict each other.
type InvalidError struct {
	Reason string
}

func (e *InvalidError) Error() string { return e.Reason }
