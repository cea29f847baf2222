// Package nodes keeps track of the region's node agents on the leader:
// their heartbeats, which of them are alive, and whether what each one
// runs agrees with the replicated state.
//
// A Tracker records every heartbeat (Heartbeat), registers a node or
// brings it back READY with one Raft write when it first beats or returns
// (a steady node costs no write), and answers with the sandbox ids the
// agent must kill: those the state has as terminal (STOPPED, FAILED, LOST)
// and those the state has not known for longer than a grace period. What
// the state believes alive on the node but the agent no longer runs is
// committed as STOPPED. Run, on the leader only, commits NodeDown for a
// READY node that has not beaten for a TTL, which marks its sandboxes LOST.
//
// No orphan: an agent reports its actual sandboxes in every heartbeat; the
// leader kills what it does not know and marks as lost what the agent no
// longer has.
//
// A Tracker is safe for concurrent use. Heartbeats of one node are
// handled one at a time, and never at the same time as that node is being
// marked DOWN.
package nodes
