// Package structs holds the plain data types shared by the control plane:
// teams, API keys, sandboxes, nodes and the events published when Raft
// applies a change to them.
//
// The types carry no behaviour beyond small helpers and are safe to copy.
// Values read from the state store must be treated as read-only; copy before
// changing them.
package structs
