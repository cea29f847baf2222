// Package cluster runs one server's part in its region's Raft cluster.
//
// Formation: a server with state of its own (a restart) just starts. A new
// server either joins an existing cluster (it asks any known server's Join
// RPC, which the leader serves) or, with BootstrapExpect N, waits until it
// has heard from N servers of its region (static --join addresses or
// Consul) that know of no leader yet, and bootstraps Raft with exactly
// those N voters, as every one of them does with the same list.
//
// Membership is published in the state: the leader records itself
// (ServerUpsert) as soon as it wins, and every follower records itself
// through the leader's Join, so every server can map a Raft node id to the
// RPC address that forwarding dials.
//
// While it leads, a server also runs the node heartbeat tracker, probes
// the other servers' Status, and removes servers that have been
// unreachable longer than DeadServerCleanup (only when the rest still form
// a majority), as Consul's autopilot does.
//
// Reads: Barrier gives the STALE, DEFAULT and LINEARIZABLE consistency
// levels of the API.
package cluster
