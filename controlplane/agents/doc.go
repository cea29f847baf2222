// Package agents keeps the node agents a server can reach, by node id.
//
// In `codeint dev` the one agent runs in the server's process and is
// registered at start; across machines the entries will be gRPC clients.
// A Registry is safe for concurrent use.
package agents
