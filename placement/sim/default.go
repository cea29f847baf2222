package sim

// Node shapes of the default scenario: 4 vCPUs with 8 GiB, 8 with 32 GiB,
// 16 with 64 GiB.
func nodeMix(small, medium, large int) []NodeGroup {
	return []NodeGroup{
		{Count: small, VCPUs: 4, MemoryMB: 8 << 10, DiskMB: 50 << 10},
		{Count: medium, VCPUs: 8, MemoryMB: 32 << 10, DiskMB: 100 << 10},
		{Count: large, VCPUs: 16, MemoryMB: 64 << 10, DiskMB: 200 << 10},
	}
}

// DefaultScenario is five regions of 20 to 80 nodes (260 in all, about
// 2,100 vCPUs), seven client populations and a ramp that takes the
// arrival rate from 0.2 to 1.4 times the populations' rates over 15
// simulated minutes. At a mean lifetime of a minute the cluster's CPU is
// full at about 0.74 times the rates, a little before half-way; some
// regions (ap-northeast first) fill earlier than others, so a policy that
// falls back between regions has something to show. Every node keeps 2
// warm sandboxes refilled in 5 s, so each region's pool refills faster
// than the peak demand of the clients nearest it: the warm hit rate
// measures how well a policy finds the warm nodes, not a pool too small
// for anyone. The coordinates get 2,000 rounds of pings (what half an hour
// of one probe a second teaches). It runs in well under a second per policy.
//
// The plane is in milliseconds: us-east to eu-west is about 79 ms,
// us-east to us-west 63, us-west to ap-northeast 94.
func DefaultScenario() Scenario {
	return Scenario{
		Name:                "default",
		Seed:                1,
		DurationSeconds:     900,
		MeanLifetimeSeconds: 60,
		Ramp:                Ramp{From: 0.2, To: 1.4},
		Template:            "base",
		Runtime:             "RUNC",
		Teams:               40,
		Regions: []RegionSpec{
			{Name: "us-east", X: 0, Y: 0, Nodes: nodeMix(28, 36, 16)},
			{Name: "us-west", X: 62, Y: 8, Nodes: nodeMix(18, 22, 10)},
			{Name: "eu-west", X: -78, Y: 12, Nodes: nodeMix(24, 32, 14)},
			{Name: "ap-northeast", X: 150, Y: 40, Nodes: nodeMix(14, 18, 8)},
			{Name: "sa-east", X: 15, Y: -110, Nodes: nodeMix(8, 8, 4)},
		},
		DefaultRegion: "us-east",
		Populations: []Population{
			{Name: "us-east-clients", X: 5, Y: 4, Home: "us-east", RatePerSecond: 12},
			{Name: "us-west-clients", X: 58, Y: 14, Home: "us-west", RatePerSecond: 8},
			{Name: "eu-clients", X: -84, Y: 6, Home: "eu-west", RatePerSecond: 10},
			{Name: "ap-clients", X: 156, Y: 34, Home: "ap-northeast", RatePerSecond: 8},
			{Name: "sa-clients", X: 18, Y: -104, Home: "sa-east", RatePerSecond: 2},
			// Far from every region: they name no region of their own.
			{Name: "central-us", X: 30, Y: -4, RatePerSecond: 2},
			{Name: "middle-east", X: -40, Y: 90, RatePerSecond: 1},
		},
		Shapes: []Shape{
			{Name: "small", VCPUs: 0.5, MemoryMB: 1 << 10, DiskMB: 2 << 10, Weight: 70},
			{Name: "medium", VCPUs: 2, MemoryMB: 4 << 10, DiskMB: 8 << 10, Weight: 22},
			{Name: "large", VCPUs: 4, MemoryMB: 16 << 10, DiskMB: 20 << 10, Weight: 8},
		},
		Warm:    Warm{SlotsPerNode: 2, RefillSeconds: 5},
		Start:   Start{ColdSeconds: 0.5, WarmSeconds: 0.05},
		Network: Network{JitterMs: 6, MinRTTMs: 2, VivaldiRounds: 2000, NoiseFraction: 0.1},
	}
}
