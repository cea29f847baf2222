// Package sandboxes is the control plane's sandbox service: it validates
// requests, places sandboxes on nodes, commits every change through Raft
// before it tells the caller, drives the node agents, runs executions, and
// enforces sandbox lifetimes.
//
// The order of a create is the platform's invariant: validate → place →
// commit CREATING → start on the agent → commit RUNNING (or FAILED, with the
// runtime cleaned up). When the node has a warm sandbox ready, the create
// claims it (microseconds) and commits it RUNNING in one entry instead; a
// failed commit stops it, and a claim no entry records is an orphan the
// node's reconcile kills. Either way a sandbox the API acknowledged is in
// the Raft log.
//
// Placement has two steps (package placement). The server a create comes
// in through ranks the regions (create.go: the client's estimated latency
// from coordinates, the regions' capacity summaries, the client's
// preference list and latency budget) and tries them in order: this
// region's own (createHere) or another's (RemoteSandboxes.Create); a
// region that turns out full hands the create to the next. Inside a region
// the leader places (a follower forwards the create through Leader), on
// its live view (place.go): the Raft state, the warm slots and coordinates
// its agents' heartbeats report (Live), and the reservations of creates
// placed but not yet committed. A node that refuses the start for
// capacity is excluded and the next one placed. Every sandbox keeps its
// explanation (structs.Placement); Preview is a dry run.
//
// Every method is scoped by team; another team's sandbox is NOT_FOUND.
//
// A Service is safe for concurrent use. EXECUTING is not written to Raft:
// it is derived from the executions this server is running, so an execute
// costs no consensus round trip.
package sandboxes
