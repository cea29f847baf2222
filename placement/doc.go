// Package placement chooses where a sandbox runs. It is pure: it takes a
// request and a read-only Snapshot of regions and nodes as plain values
// and returns a Decision with the score breakdown that explains it, or a
// typed error (*NoCapacityError, *InvalidError) that says what was missing
// where. It does no I/O and never touches the store, so it is tested,
// simulated (package sim) and benchmarked without a cluster.
//
// A decision has two steps, as in DESIGN.md:
//
//  1. ChooseRegion ranks the regions. The client's location (an ordered
//     list of preferred regions, the region of the server the request came
//     in through, or the client's network coordinate) gives each region an
//     estimated latency from Vivaldi coordinates; a region's Summary says
//     whether it could take the request at all. A preference list is
//     honoured in its order; other regions are a fallback only within the
//     request's latency budget.
//  2. PlaceInRegion chooses the node, in the style of Nomad's scheduler: a
//     chain of feasibility checks (health, drain, runtime, template,
//     labels, in-flight starts, resources under the configured
//     overcommit), then scorers (latency, binpack or spread, warm-pool hit,
//     in-flight starts, team anti-affinity), each normalised to [0, 1] and
//     combined with the configured weights. It looks at nodes from a
//     seeded random start and stops after the best of K feasible ones, K
//     growing with the region's size (log2), so a decision costs the same
//     at 10 nodes or 10,000.
//
// Place runs both. Everything here is safe for concurrent use except
// Snapshot.Reserve and Release, which change the snapshot they are called on.
package placement
