package sim

import "math"

// oneRegion is a scenario of one region "r" with the given nodes, one
// population next to it that names it, and one request shape, at a
// constant rate unless the caller changes the ramp.
func oneRegion(nodes []NodeGroup, shape Shape, rate float64) Scenario {
	sc := DefaultScenario()
	sc.Name = "one region"
	sc.DurationSeconds = 300
	sc.MeanLifetimeSeconds = 30
	sc.Ramp = Ramp{From: 1, To: 1}
	sc.Regions = []RegionSpec{{Name: "r", Nodes: nodes}}
	sc.DefaultRegion = ""
	sc.Populations = []Population{{Name: "clients", X: 3, Y: 4, Home: "r", RatePerSecond: rate}}
	shape.Weight = 1
	sc.Shapes = []Shape{shape}
	sc.Network.VivaldiRounds = 50
	return sc
}

// byPolicy indexes results by policy name.
func byPolicy(rs []Result) map[string]Result {
	m := map[string]Result{}
	for _, r := range rs {
		m[r.Policy] = r
	}
	return m
}

func allPolicies() []Policy { return []Policy{Ours{}, Random{}, E2BLike{}} }

func dist(x1, y1, x2, y2 float64) float64 {
	return math.Hypot(x1-x2, y1-y2) // as buildNetwork computes it
}
