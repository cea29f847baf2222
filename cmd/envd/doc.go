// Command envd is the init process (PID 1) of every codeint sandbox.
//
// It serves the node agent over one yamux session carried on its own stdin
// and stdout (see package nodeagent/envdproto), runs executions in their own
// process groups, and reaps every zombie in the sandbox. It logs only to
// stderr: stdout belongs to the protocol. When the session ends (the agent
// closed the pipes or died) envd exits, and with it every process of the
// sandbox's PID namespace.
//
// envd is small and static (build with CGO_ENABLED=0) and imports only the
// standard library, yamux and envdproto.
//
// Usage:
//
//	envd [-run-dir /run/envd] [-work-dir /home/user]
package main
