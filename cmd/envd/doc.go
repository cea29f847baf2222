// Command envd is the init process (PID 1) of every codeint sandbox.
//
// It serves the node agent over one yamux session carried on its own stdin
// and stdout (see package nodeagent/envdproto), runs executions, and reaps
// every zombie in the sandbox. It logs only to stderr: stdout belongs to the
// protocol. When the session ends (the agent closed the pipes or died) envd
// exits, and with it every process of the sandbox's PID namespace.
//
// envd runs as the container's root with CAP_SETUID, CAP_SETGID and
// CAP_KILL only, and non-dumpable. With -user it starts every execution as
// that unprivileged uid and gid, without capabilities, with a fresh
// environment, only stdin, stdout and stderr, and a supplementary group of
// the execution's own that no process can drop: a timeout or a cancel kills
// every process carrying it, also those that left the process group and
// session. Each child first runs envd's own binary (childinit), which sets
// what only the child can: its oom_score_adj and its RLIMIT_CPU.
//
// envd is small and static (build with CGO_ENABLED=0) and imports only the
// standard library, yamux and envdproto.
//
// Usage:
//
//	envd [-run-dir /run/envd] [-work-dir /home/user] [-user uid:gid]
//	     [-env-file path] [-writable dir,dir] [-child-oom-score-adj n]
//	     [-memory-limit-mb n]
package main
