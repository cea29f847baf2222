package placement

import (
	"errors"
	"fmt"
	"strings"
)

// Decision is where a sandbox goes and why.
type Decision struct {
	// Region is the region chosen. NodeID is empty when the snapshot does
	// not hold that region's nodes: the request is forwarded there and
	// its leader chooses the node.
	Region string
	NodeChoice
	// Regions are the regions that could take the request, chosen first:
	// the order in which to fall back. Rejected are the others, with why.
	Regions  []RegionCandidate
	Rejected []RegionCandidate
	// Skipped are the regions ranked before Region whose nodes turned out
	// short, with what they lacked.
	Skipped []Shortfall
}

// Place runs both steps: it ranks the regions, then chooses a node in the
// first one that has room, falling back along the ranking. A region whose
// nodes the snapshot does not hold is returned as it is, for forwarding.
func Place(req Request, s *Snapshot) (Decision, error) {
	choice, err := ChooseRegion(req, s)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Regions: choice.Ranked, Rejected: choice.Rejected}
	for _, rc := range choice.Ranked {
		if !s.HasNodes(rc.Region) {
			d.Region = rc.Region
			return d, nil
		}
		nc, err := PlaceInRegion(req, s, rc.Region, rc.Scores[0])
		var short *NoCapacityError
		if errors.As(err, &short) {
			d.Skipped = append(d.Skipped, short.Shortfalls...)
			continue
		}
		if err != nil {
			return Decision{}, err
		}
		d.Region, d.NodeChoice = rc.Region, nc
		return d, nil
	}
	e := noCapacity(choice.Rejected)
	e.Shortfalls = append(d.Skipped, e.Shortfalls...)
	return Decision{}, e
}

// Explain renders the decision in a few lines, for logs and the CLI.
func (d Decision) Explain() string {
	var b strings.Builder
	if d.NodeID == "" {
		fmt.Fprintf(&b, "region %s (forwarded: its leader chooses the node)", d.Region)
	} else {
		fmt.Fprintf(&b, "region %s, %s (%d feasible of %d examined, K %d)", d.Region, d.Candidate.Explain(), d.Feasible, d.Examined, d.K)
	}
	for _, c := range d.RunnersUp {
		fmt.Fprintf(&b, "\n  runner-up %s", c.Explain())
	}
	for _, s := range d.Skipped {
		fmt.Fprintf(&b, "\n  skipped %s", s)
	}
	for _, r := range d.Regions {
		fmt.Fprintf(&b, "\n  region %s: %s%s", r.Region, latencyText(r), explainScores(r.Scores, r.Final))
	}
	for _, r := range d.Rejected {
		fmt.Fprintf(&b, "\n  region %s rejected: %s", r.Region, r.Reason)
	}
	return b.String()
}

func latencyText(r RegionCandidate) string {
	if !r.LatencyKnown {
		return "latency unknown; "
	}
	return fmt.Sprintf("~%.0f ms; ", r.LatencyMs)
}
