// Package store replicates the control plane's state with Raft. It owns the
// hashicorp/raft instance of a region: its log and stable store (raft-wal),
// its snapshots (files), its transport, and the state machine that applies
// committed commands (package command) to the in-memory state (package
// state).
//
// Writes go through Store.Apply, on the leader: the command is encoded,
// committed to a quorum, applied by every server's state machine, and the
// state machine's result comes back to the caller. A business error (a
// sandbox that does not exist, a stopped sandbox that cannot change) is
// returned as an apperr error; a server that is not the leader answers
// UNAVAILABLE wrapping ErrNotLeader. Reads go to State(), which every
// server keeps up to date.
//
// The state machine is deterministic: it reads nothing but the log entry
// (time comes from the command). A committed entry that does not decode, or
// whose type is unknown without command.IgnoreUnknownTypeFlag, is a bug and
// panics.
//
// A Store is safe for concurrent use once Open has returned. Open,
// Bootstrap and Close are called by the owner, not concurrently.
package store
