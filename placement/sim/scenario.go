package sim

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/codeint/codeint/placement"
)

// Scenario is everything a run depends on; with the same Scenario (seed
// included) a run gives the same Result. It is plain JSON: ParseScenario
// reads one, and a Report carries the one it ran.
type Scenario struct {
	Name string `json:"name,omitempty"`
	// Seed drives the network, the Vivaldi training, the arrivals and the
	// baselines' random choices.
	Seed uint64 `json:"seed"`
	// DurationSeconds is the simulated time over which requests arrive.
	DurationSeconds float64 `json:"durationSeconds"`
	// MeanLifetimeSeconds is the mean of a sandbox's exponential lifetime,
	// counted from the end of its start.
	MeanLifetimeSeconds float64 `json:"meanLifetimeSeconds"`
	// Ramp scales every population's arrival rate, linearly over the run,
	// so that load grows until requests are rejected.
	Ramp Ramp `json:"ramp"`
	// Template and Runtime are those of every request, and of the warm
	// pools every node keeps.
	Template string `json:"template"`
	Runtime  string `json:"runtime"`
	// Teams is the number of teams requests are spread over (uniformly),
	// for placement's anti-affinity scorer.
	Teams int `json:"teams"`
	// Regions and their nodes; DefaultRegion is the region a client with
	// no home region names (E2B-like); "" means the first region listed.
	Regions       []RegionSpec `json:"regions"`
	DefaultRegion string       `json:"defaultRegion,omitempty"`
	Populations   []Population `json:"populations"`
	Shapes        []Shape      `json:"shapes"`
	Warm          Warm         `json:"warm"`
	Start         Start        `json:"start"`
	Network       Network      `json:"network"`
	// Placement configures placement.Place for the "ours" policy and the
	// overcommit every policy fits under; the zero value is
	// placement.DefaultConfig. Its JSON names are the Go field names.
	Placement placement.Config `json:"placement"`
}

// Ramp is the arrival-rate multiplier: From at the start of the run, To
// at its end, linear in between.
type Ramp struct {
	From float64 `json:"from"`
	To   float64 `json:"to"`
}

// At is the multiplier at time t of a run of d seconds.
func (r Ramp) At(t, d float64) float64 { return r.From + (r.To-r.From)*t/d }

// RegionSpec is one region: its true position and its nodes.
type RegionSpec struct {
	Name string `json:"name"`
	// X and Y place the region on a plane measured in milliseconds: the
	// true round trip between two places is their distance (plus jitter).
	X     float64     `json:"x"`
	Y     float64     `json:"y"`
	Nodes []NodeGroup `json:"nodes"`
}

// NodeGroup is Count nodes of one shape.
type NodeGroup struct {
	Count    int     `json:"count"`
	VCPUs    float64 `json:"vcpus"`
	MemoryMB int     `json:"memoryMB"`
	DiskMB   int     `json:"diskMB"`
}

// Population is a group of clients at one place, sending requests as a
// Poisson process of RatePerSecond (times the ramp).
type Population struct {
	Name string  `json:"name"`
	X    float64 `json:"x"`
	Y    float64 `json:"y"`
	// Home is the region these clients name when asked for one (what an
	// E2B user configures); "" for clients far from every region, who
	// get the scenario's DefaultRegion.
	Home          string  `json:"home,omitempty"`
	RatePerSecond float64 `json:"ratePerSecond"`
}

// Shape is a request size and how often it is asked for (Weight, relative
// to the other shapes).
type Shape struct {
	Name     string  `json:"name"`
	VCPUs    float64 `json:"vcpus"`
	MemoryMB int     `json:"memoryMB"`
	DiskMB   int     `json:"diskMB"`
	Weight   float64 `json:"weight"`
}

// Resources is the shape as placement counts it.
func (s Shape) Resources() placement.Resources {
	return placement.Resources{VCPUs: s.VCPUs, MemoryMB: s.MemoryMB, DiskMB: s.DiskMB}
}

// Warm describes the warm pools: every node starts with SlotsPerNode warm
// sandboxes of the template, and a slot taken by a placement is ready
// again RefillSeconds later.
type Warm struct {
	SlotsPerNode  int     `json:"slotsPerNode"`
	RefillSeconds float64 `json:"refillSeconds"`
}

// Start is how long a start is in flight on its node: a cold start, or
// the claim of a warm sandbox.
type Start struct {
	ColdSeconds float64 `json:"coldSeconds"`
	WarmSeconds float64 `json:"warmSeconds"`
}

// Network describes the true round trips and how Vivaldi learns them.
type Network struct {
	// JitterMs is the most a pair's true round trip exceeds the distance
	// of its two places (drawn once per pair, uniformly): a little of
	// what no plane embeds. MinRTTMs is the least round trip of any pair.
	JitterMs float64 `json:"jitterMs"`
	MinRTTMs float64 `json:"minRTTMs"`
	// VivaldiRounds is how many rounds of pings train the coordinates
	// before the run; in each, every region pings one other region and
	// every population one region. A ping measures the true round trip
	// times a uniform factor in [1-NoiseFraction, 1+NoiseFraction].
	VivaldiRounds int     `json:"vivaldiRounds"`
	NoiseFraction float64 `json:"noiseFraction"`
}

// maxExpectedArrivals bounds a run, so that a typo in a scenario does not
// exhaust memory.
const maxExpectedArrivals = 5_000_000

// ParseScenario reads a scenario in JSON over DefaultScenario: fields the
// document leaves out keep the default's values, and a list it gives
// (regions, populations, shapes) replaces the default's list as a whole;
// a document that gives regions but no defaultRegion gets the first of
// its regions. Unknown fields are an error.
func ParseScenario(data []byte) (Scenario, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return Scenario{}, fmt.Errorf("scenario: %w", err)
	}
	sc := DefaultScenario()
	if _, ok := keys["regions"]; ok {
		sc.Regions, sc.DefaultRegion = nil, ""
	}
	if _, ok := keys["populations"]; ok {
		sc.Populations = nil
	}
	if _, ok := keys["shapes"]; ok {
		sc.Shapes = nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return Scenario{}, fmt.Errorf("scenario: %w", err)
	}
	if err := sc.Validate(); err != nil {
		return Scenario{}, err
	}
	return sc, nil
}

// defaultRegion is the region clients without a home name.
func (sc *Scenario) defaultRegion() string {
	if sc.DefaultRegion != "" || len(sc.Regions) == 0 {
		return sc.DefaultRegion
	}
	return sc.Regions[0].Name
}

// Nodes is the number of nodes over all regions.
func (sc *Scenario) Nodes() int {
	n := 0
	for _, r := range sc.Regions {
		for _, g := range r.Nodes {
			n += g.Count
		}
	}
	return n
}
