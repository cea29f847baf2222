// Package agentapi is the contract between the control plane and a node
// agent: the requests a server sends to start, stop and use sandboxes, and
// the results and streamed output it gets back.
//
// In `codeint dev` the agent runs in the server's process and the control
// plane calls it directly through the Agent interface; across machines the
// same calls travel over gRPC. The types are plain values, safe to copy.
package agentapi
