package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/codeint/codeint/placement"
)

// Request is one request as a policy gets it: what placement.Place takes
// (Location.Coord is the population's Vivaldi coordinate, MaxLatencyMs 0)
// and what a simpler scheduler knows instead.
type Request struct {
	placement.Request
	// Population is the name of the client population it came from.
	Population string
	// Region is the region the client names: its population's home, else
	// the scenario's default region.
	Region string
}

// Policy chooses a node for a request. It reads the cluster and returns
// the node's region and id; the run records the placement. It returns a
// *RejectedError when it finds no node, any other error to stop the run.
// rng is the run's own, seeded from the scenario.
type Policy interface {
	Name() string
	Place(req Request, c *Cluster, rng *rand.Rand) (region, node string, err error)
}

// RejectedError is a request a policy could not place.
type RejectedError struct {
	Reason string
	Err    error // what the policy got, when it says more
}

func (e *RejectedError) Error() string {
	if e.Err != nil {
		return "rejected: " + e.Err.Error()
	}
	return "rejected: " + e.Reason
}

func (e *RejectedError) Unwrap() error { return e.Err }

// Ours is placement.Place on the run's snapshot, with the scenario's
// placement configuration (DefaultConfig unless it says otherwise) and no
// latency budget: every region is ranked, and Place falls back along the
// ranking until a region's nodes have room.
type Ours struct{}

// Name is "ours".
func (Ours) Name() string { return "ours" }

// Place calls placement.Place.
func (Ours) Place(req Request, c *Cluster, _ *rand.Rand) (string, string, error) {
	d, err := placement.Place(req.Request, c.Snapshot())
	var short *placement.NoCapacityError
	if errors.As(err, &short) {
		return "", "", &RejectedError{Err: err}
	}
	if err != nil {
		return "", "", fmt.Errorf("ours: %w", err)
	}
	if d.NodeID == "" {
		return "", "", fmt.Errorf("ours: region %s was chosen without a node, though the snapshot holds every region's nodes", d.Region)
	}
	return d.Region, d.NodeID, nil
}

// Random is a node drawn uniformly from every node of every region that
// has room for the request (CPU, memory and disk): capacity-aware and
// blind to latency and warm pools.
type Random struct{}

// Name is "random".
func (Random) Name() string { return "random" }

// Place draws one fitting node by reservoir sampling.
func (Random) Place(req Request, c *Cluster, rng *rand.Rand) (string, string, error) {
	var chosen *placement.Node
	seen := 0
	for _, n := range c.Nodes("") {
		if !c.Fits(n, req.Resources) {
			continue
		}
		seen++
		if rng.IntN(seen) == 0 {
			chosen = n
		}
	}
	if chosen == nil {
		return "", "", &RejectedError{Reason: "no node of any region has room"}
	}
	return chosen.Region, chosen.ID, nil
}

// E2BLike models an E2B-style scheduler: one region, the one the client
// names (there is no latency estimate); in it, Samples nodes drawn at
// random, and the one with the most free CPU taken, memory and disk
// unseen. The chosen node then checks the sandbox against its own free
// resources and refuses it if memory or disk (or CPU) is short; the
// scheduler draws again, up to Attempts times, then rejects.
type E2BLike struct {
	Samples, Attempts int // 3 and 3 when 0
}

// Name is "e2b".
func (E2BLike) Name() string { return "e2b" }

// Place runs the attempts.
func (p E2BLike) Place(req Request, c *Cluster, rng *rand.Rand) (string, string, error) {
	k, attempts := p.Samples, p.Attempts
	if k <= 0 {
		k = 3
	}
	if attempts <= 0 {
		attempts = 3
	}
	var ready []*placement.Node
	for _, n := range c.Nodes(req.Region) {
		if n.Ready && !n.Draining {
			ready = append(ready, n)
		}
	}
	if len(ready) == 0 {
		return "", "", &RejectedError{Reason: "no ready node in " + req.Region}
	}
	k = min(k, len(ready))
	for range attempts {
		// A partial Fisher–Yates shuffle draws k distinct nodes.
		var best *placement.Node
		for i := range k {
			j := i + rng.IntN(len(ready)-i)
			ready[i], ready[j] = ready[j], ready[i]
			if best == nil || c.FreeVCPUs(ready[i]) > c.FreeVCPUs(best) {
				best = ready[i]
			}
		}
		if c.Fits(best, req.Resources) {
			return best.Region, best.ID, nil
		}
	}
	return "", "", &RejectedError{Reason: fmt.Sprintf("%d attempts in %s: each node chosen for its free CPU refused", attempts, req.Region)}
}

// PolicyNames are the policies PolicyByName knows, in table order.
func PolicyNames() []string { return []string{"ours", "random", "e2b"} }

// PolicyByName returns the policy called name.
func PolicyByName(name string) (Policy, error) {
	switch name {
	case "ours":
		return Ours{}, nil
	case "random":
		return Random{}, nil
	case "e2b":
		return E2BLike{}, nil
	}
	return nil, fmt.Errorf("unknown policy %q: the policies are %s", name, strings.Join(PolicyNames(), ", "))
}

// ParsePolicies reads a comma-separated list of policy names.
func ParsePolicies(list string) ([]Policy, error) {
	var ps []Policy
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		p, err := PolicyByName(name)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("no policy in %q: the policies are %s", list, strings.Join(PolicyNames(), ", "))
	}
	return ps, nil
}
