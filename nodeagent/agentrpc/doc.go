// Package agentrpc carries the calls of agentapi.Agent (and
// agentapi.WarmClaimer) between a codeint server and a node agent on
// another machine, over the gRPC service codeint.agent.v1.Agent
// (agent.proto; the generated code is in agentpb).
//
// Server serves a local agentapi.Agent; Client is a remote one, used by
// the control plane exactly as it uses the agent in its own process. The
// caller builds the grpc.Server and grpc.ClientConn, with their
// credentials (mutual TLS between machines).
//
// What crosses the wire:
//   - every field of the agentapi values (convert.go), durations as
//     nanoseconds;
//   - Execute's output chunks in order, then one result; cancelling the
//     caller's context cancels the execution on the node;
//   - OpenEnvd's byte stream, as a net.Conn with deadlines (conn.go) on the
//     client and a pipe to the agent's own net.Conn on the server;
//   - errors (errors.go): the message unchanged, and errors.Is still finds
//     agentapi.ErrRuntimeUnavailable, agentapi.ErrNoCapacity,
//     context.Canceled and context.DeadlineExceeded, and errors.As an
//     *envdproto.Error. A call that fails on the way is an *Error saying
//     which node and why.
//
// Server, Client and the net.Conn that OpenEnvd returns are safe for
// concurrent use.
package agentrpc
