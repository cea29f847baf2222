package placement

import "fmt"

// Policy says how a region's nodes are filled.
type Policy string

// Policies.
const (
	// Binpack fills the fullest node that fits, so that large sandboxes
	// still find empty nodes and idle nodes can be scaled away.
	Binpack Policy = "binpack"
	// Spread fills the emptiest node, for the least noisy neighbours.
	Spread Policy = "spread"
)

// Weights weigh the scorers; a zero weight turns a scorer off.
type Weights struct {
	Latency  float64 // estimated client round trip
	Fit      float64 // binpack or spread
	Warm     float64 // a warm sandbox of the template is ready
	InFlight float64 // fewer starts in progress on the node
	Affinity float64 // fewer sandboxes of the same team on the node
	// Region step only: the free share of the region, and whether it has
	// a warm sandbox of the template. Small beside Latency, so that they
	// choose between regions about as near, not a farther one: a warm
	// start saves once, a farther region costs on every call.
	Capacity   float64
	RegionWarm float64
}

// Overcommit multiplies a node's capacity: 2 on CPU lets twice the
// node's vCPUs be allocated. Below 1 counts as 1.
type Overcommit struct {
	CPU, Memory, Disk float64
}

// Config tunes placement. The zero value is DefaultConfig.
type Config struct {
	Policy     Policy
	Weights    Weights
	Overcommit Overcommit
	// MaxInFlight caps starts in progress on one node; a node at the cap
	// takes no new cold start (a warm claim is not a start).
	MaxInFlight int
	// MinK and MaxK bound K, the feasible nodes compared inside a region:
	// K = log2(nodes)+1, within [MinK, MaxK].
	MinK, MaxK int
	// LatencyScaleMs is the round trip that halves the latency score.
	LatencyScaleMs float64
}

// DefaultConfig is the configuration servers start with.
func DefaultConfig() Config {
	return Config{
		Policy:         Binpack,
		Weights:        Weights{Latency: 4, Fit: 1, Warm: 1.5, InFlight: 0.5, Affinity: 0.5, Capacity: 0.5, RegionWarm: 0.25},
		Overcommit:     Overcommit{CPU: 1, Memory: 1, Disk: 1},
		MaxInFlight:    8,
		MinK:           2,
		MaxK:           16,
		LatencyScaleMs: 40,
	}
}

// withDefaults fills what is unset from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Policy == "" {
		c.Policy = d.Policy
	}
	if c.Weights == (Weights{}) {
		c.Weights = d.Weights
	}
	c.Overcommit.CPU = max(c.Overcommit.CPU, 1)
	c.Overcommit.Memory = max(c.Overcommit.Memory, 1)
	c.Overcommit.Disk = max(c.Overcommit.Disk, 1)
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = d.MaxInFlight
	}
	if c.MinK <= 0 {
		c.MinK = d.MinK
	}
	if c.MaxK < c.MinK {
		c.MaxK = max(d.MaxK, c.MinK)
	}
	if c.LatencyScaleMs <= 0 {
		c.LatencyScaleMs = d.LatencyScaleMs
	}
	return c
}

// Validate checks a configuration given by an operator.
func (c Config) Validate() error {
	switch c.Policy {
	case "", Binpack, Spread:
	default:
		return fmt.Errorf("placement policy %q: want %s or %s", c.Policy, Binpack, Spread)
	}
	w := c.Weights
	for name, v := range map[string]float64{"latency": w.Latency, "fit": w.Fit, "warm": w.Warm,
		"in-flight": w.InFlight, "affinity": w.Affinity, "capacity": w.Capacity, "region warm": w.RegionWarm} {
		if v < 0 {
			return fmt.Errorf("placement weight %s is %g: weights are 0 or more", name, v)
		}
	}
	return nil
}
