// Package federation joins a region to the others, as Nomad's regions are
// joined: each region keeps its own Raft, and the global state — teams and
// API keys — is owned by one authoritative region.
//
//   - Writes of global state (Federation.Apply) commit in the authoritative
//     region: locally when this is it, otherwise through the ApplyGlobal
//     RPC of a server there, which forwards to its leader. While the
//     authoritative region cannot be reached they fail UNAVAILABLE.
//   - The leader of every other region replicates: it long-polls
//     ListGlobal on a server of the authoritative region and commits to
//     its own Raft the teams and keys that differ (revocations are
//     changes like any other), so a change reaches every region within a
//     poll.
//   - Every server probes the federated servers' Status once a second:
//     its answer names the region's leader and the region it holds
//     authoritative. A region that names another authoritative region is
//     refused — logged, and never replicated from or written to — as are
//     its calls here.
//   - Latency: with Config.Coordinates set, a probe's answer carries the
//     server's network coordinate (package vivaldi), which this server
//     observes with the probe's round trip and records; a region's
//     coordinate is the median of its servers' and its latency the
//     distance from this server's coordinate to it, once both have
//     settled. Until then, and with coordinates off, the latency is the
//     smallest of the last probes' round trips. Region.LatencySource says
//     which. The answer also carries the region's capacity summary; the
//     newest is kept (Region.Summary).
//   - Usage: every UsageInterval each region's leader reports its teams'
//     monthly usage totals that changed (reportLoop): the authoritative
//     region's leader commits its own to its Raft; any other sends them
//     to the authoritative region (ReportUsage), which commits them and
//     answers with the other regions' totals the caller does not hold
//     yet, which the caller commits in turn (command RegionUsage, stale
//     below a region's mark, so a replay changes nothing). Every region
//     then charges a team for all regions' usage (package usage).
package federation
