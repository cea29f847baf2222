// Package envdproto is the wire protocol between the node agent and envd, the
// init process inside every sandbox.
//
// The agent and envd share one yamux session carried on the container init's
// stdin and stdout pipes (no sockets, no extra file descriptors, so the same
// transport works under runc and under gVisor's runsc). The agent is the
// yamux client and envd the server. Every yamux stream carries exactly one
// request:
//
//	ping:     agent → Ping              envd → Pong, close
//	exec:     agent → ExecRequest       envd → (Output|Display)* then Result or Error, close
//	context:  agent → ContextRequest    envd → ContextReply or Error, close
//	file:     agent → FileRequest       envd → per FileRequest.Op (Data frames carry the bytes)
//	process:  agent → ProcessRequest    envd → ProcessReply or Error; start and attach
//	                                     then Output* and ProcessExit
//
// Display frames come only from executions in a context (ExecRequest.ContextID).
//
// An exec is cancelled by the agent closing (or resetting) its side of the
// stream; envd then kills every process of the execution and sends nothing
// more.
//
// Env keys with the prefix EnvReserved are envd's, never the program's.
//
// A frame is [1 byte type][uint32 big-endian payload length][payload]; the
// payload is at most MaxFrameSize bytes. JSON payloads (ExecRequest, Result,
// Error) use the types of this package. An Output payload is one byte naming
// the stream (StreamStdout, StreamStderr) followed by the raw bytes as the
// process wrote them. Output frames carry no sequence number: the stream is
// ordered, so both sides number Output frames 1, 2, 3, … in the order they
// travel, across stdout and stderr together.
//
// This package imports only the standard library: envd, a small static
// binary, imports it too. Its functions are safe for concurrent use as long
// as concurrent callers do not share a reader or a writer; WriteFrame issues
// exactly one Write per frame, so a writer guarded by a mutex (or a yamux
// stream, whose Write is atomic) may be shared.
package envdproto
