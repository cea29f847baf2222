// Package command defines the commands the control plane commits to its
// Raft log and the envelope they travel in.
//
// An entry is one type byte followed by the JSON encoding of the request.
// The type byte lets a server skip a command it does not know during a
// rolling upgrade: a type with IgnoreUnknownTypeFlag set may be skipped by a
// server that does not know it; any other unknown type is a bug and the
// state machine panics (the habit of Nomad's FSM).
//
// Requests carry everything the state machine needs, including the time
// (At): applying a command never reads the clock, so every server reaches
// the same state from the same log.
//
// The package holds no state; every function is safe for concurrent use.
package command
