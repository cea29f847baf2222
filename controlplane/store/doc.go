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
// UNAVAILABLE wrapping ErrNotLeader.
//
// Reads go to State(), which every server keeps up to date, at one of three
// consistencies. A stale read reads State() as it is. A default read is
// served by the leader. A linearizable read asks the leader for
// ReadIndex (its commit index, once a quorum has confirmed it still leads)
// and, on any server, waits for WaitApplied(index) before reading: it then
// sees every write acknowledged before it started.
//
// Membership: a region of 3 or 5 servers starts with BootstrapPeers (every
// server of the group calls it with the same list) or with Bootstrap on one
// server and Join for the others; the leader adds and removes servers with
// Join and Remove. Peers, LastContact and CommitIndex report on the
// cluster. Raft runs over TCP, or over mutual TLS when Config.TLS is set:
// every connection presents this server's certificate and must present one
// the region's CA signed.
//
// Snapshots: Raft snapshots on its own (Config.SnapshotInterval,
// SnapshotThreshold) and keeps Config.TrailingLogs entries after each, so a
// follower that fell further behind, or a new server, is sent the snapshot
// and then the log. SaveSnapshot writes a snapshot to a file (a JSON header
// with magic "codeint-snapshot", version, index, term, configuration, size
// and SHA-256, then the state dump); RestoreSnapshot, on the leader, checks
// such a file completely and then replaces the whole cluster's state with
// it. StateHash fingerprints the state so servers can be compared: equal
// indexes must give equal hashes.
//
// The state machine is deterministic: it reads nothing but the log entry
// (time comes from the command). A committed entry that does not decode, or
// whose type is unknown without command.IgnoreUnknownTypeFlag, is a bug and
// panics.
//
// A Store is safe for concurrent use once Open has returned. Open,
// Bootstrap, BootstrapPeers and Close are called by the owner, not
// concurrently.
package store
