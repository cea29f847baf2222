// Package agents keeps the node agents a server can reach, by node id.
//
// In `codeint dev` the one agent runs in the server's process and is
// registered at start. In a region of separate processes, Remote resolves
// any other node: its agent is reached over gRPC (package agentrpc) at the
// RPC address the node registered through its heartbeats, one shared
// client connection per node. A Registry is safe for concurrent use.
package agents
