// Package state owns the control plane's in-memory state: the go-memdb
// schema (teams, API keys, sandboxes, nodes, control-plane servers; the
// usage ledger, billing accounts, exporters' cursors and the other
// regions' usage reports) and typed read-only views of it.
//
// Readers take a Snapshot, a point-in-time read transaction that never
// blocks writers and never sees a half-applied command. Objects returned by
// a Snapshot are shared with the state and with other readers: treat them
// as read-only (copy a sandbox with Sandbox.Copy before changing it).
//
// Writes go through a WriteTxn and belong to the Raft state machine alone
// (package store): one writer at a time, every change tagged with the log
// index that made it. Dump and Restore move the whole state, with its
// index, to and from a snapshot.
//
// A Store and its Snapshots are safe for concurrent use; a WriteTxn is used
// by one goroutine.
package state
