// Package sim is the placement simulator: it runs placement policies over
// the same synthetic cluster and workload and measures them side by side
// (codeint placement simulate prints the table).
//
// # What is simulated
//
// A Scenario (JSON; DefaultScenario is five regions and 260 nodes) gives:
//
//   - Regions, each at a point of a plane measured in milliseconds, with
//     heterogeneous nodes (counts of shapes: vCPUs, memory, disk). Every
//     node has the one template and runtime, starts empty and ready.
//   - Client populations, each at a point of the plane, with a home region
//     (or none) and an arrival rate.
//   - The true round trip between two places: their distance, plus a
//     jitter drawn once per pair in [0, JitterMs), at least MinRTTMs.
//   - Network coordinates learnt the way production learns them: a
//     serf coordinate.Client (Vivaldi, DefaultConfig) per region and per
//     population, fed Update with pings before the run. Each round every
//     region pings a random other region and every population a random
//     region; a ping measures the true round trip times a factor drawn
//     uniformly in [1−NoiseFraction, 1+NoiseFraction]. Placement is given
//     only these coordinates (Region.Coord, and Location.Coord = the
//     population's coordinate), never the truth. Report.Vivaldi says how
//     close they came.
//   - Arrivals: a Poisson process per population whose rate is the
//     population's rate times a ramp, linear from Ramp.From at the start
//     to Ramp.To at the end, so that load grows until requests are
//     rejected. Each request has a shape drawn by weight, a team drawn
//     uniformly, and an exponential lifetime. The arrivals are drawn once
//     from the seed: every policy gets the same requests at the same times.
//   - Starts and lifetimes: a placed sandbox is in flight on its node
//     (Node.InFlight, which placement caps) for Start.WarmSeconds if it
//     claimed a warm sandbox, else Start.ColdSeconds; then it runs for its
//     lifetime, then its resources are free.
//   - Warm pools: every node starts with Warm.SlotsPerNode warm sandboxes
//     of the template. A placement on a node with one takes it (a warm
//     hit); the slot is ready again Warm.RefillSeconds later. Warm
//     sandboxes are not counted against the node's resources.
//
// The run is a discrete-event simulation: the arrivals in order and,
// between them, a min-heap of events (end of a start, departure, warm
// refill) by simulated time, ties in the order they were scheduled. One
// placement.Snapshot is built with NewSnapshot at the start and kept
// current: Reserve on every placement, Release(started) at the end of the
// start, Release(gone) at the departure; every policy reads the same
// kind of state through a Cluster. Resources fit under the overcommit of
// the scenario's placement configuration (none by default).
//
// A run is deterministic: the same Scenario, seed included, gives the
// same Result, except DecisionsPerSecond, which is wall time.
//
// # Policies
//
//   - ours: placement.Place with the scenario's placement configuration
//     (placement.DefaultConfig unless the scenario says otherwise) and no
//     latency budget, so every region is ranked and Place falls back
//     along the ranking until one has a node with room. A
//     *placement.NoCapacityError is a rejection.
//   - random: a node drawn uniformly among every node of every region
//     that has room for the request (CPU, memory and disk). It knows
//     capacity and nothing of latency or warm pools.
//   - e2b: a model of E2B's scheduler, which has one region per cluster and
//     no latency estimate. The request goes to the region the client
//     names: its population's home, else the scenario's DefaultRegion.
//     There it draws 3 distinct ready nodes at random and takes the one
//     with the most free CPU, without looking at memory or disk. The node
//     checks the sandbox against its own free resources and refuses it
//     when anything is short; the scheduler draws again, at most 3
//     attempts in all, and then rejects the request.
//
// Policy is an interface: other policies can be compared the same way.
//
// # Measures (Result)
//
//   - Requests, Accepted, Rejected; RejectionRate = Rejected / Requests.
//   - Latency regret, over the accepted requests. The oracle's round trip
//     for a request is the least true round trip from its population to a
//     region that had a node with room for it (fitting as above) when it
//     arrived; the regret is the true round trip to the region the policy
//     chose minus the oracle's, so it is 0 or more. RegretMeanMs is its
//     mean, RegretP99Ms its nearest-rank 99th percentile. RTTMeanMs is the
//     mean true round trip to the region chosen (lower for a policy that
//     rejects what it would have had to send far).
//   - FirstRejection: the time of the first rejected request, its shape,
//     and the utilisation of the cluster just then (the request not
//     placed): allocated over capacity, summed over the ready nodes of
//     every region, for CPU and for memory (above 1 only under
//     overcommit). nil ("none" in the table) when nothing was rejected.
//   - Fragmentation, for the most requested shape (Common) and for the
//     one with the most memory (Largest): 1 − (requests of the shape that
//     fit in the nodes' free resources node by node) / (requests of it
//     that would fit in the same free resources pooled into one node),
//     0 when not one would fit even pooled; so the share of free capacity
//     lost to being split among nodes, not free capacity of one kind
//     stranded because another kind ran out. It is the mean of samples
//     taken once a simulated second over the whole run, the same moments
//     for every policy.
//   - WarmHitRate = WarmHits / Accepted: the share of placements on a node
//     that had a warm sandbox of the template ready.
//   - DecisionsPerSecond = Requests / the wall time spent inside the
//     policy's Place, the simulator's own work left out.
package sim
