// Package server serves envd's side of the envdproto protocol: it accepts
// yamux streams from the node agent, answers pings and runs executions as
// process groups whose output it streams back as it is read.
//
// With Config.RunAs, executions run as an unprivileged uid with an
// execution group (a supplementary gid of their own) by which envd finds
// and kills all of their processes at a timeout or cancel. It names the
// limits it can see in a Result: TIMEOUT, CPU_TIME_LIMIT (RLIMIT_CPU),
// DISK_FULL (a writable dir full after a failure) and, with
// Config.MemoryLimit, OOM_KILLED by its own OOM killer.
//
// Beyond one-shot executions (exec.go) it keeps, for the sandbox's life:
// code-interpreter contexts (contexts*.go, the interpreters of package
// kernel), background commands and terminals (procs*.go, pty.go), and it
// does file operations with the user's file-system identity (files*.go),
// every path checked by one function (files_path.go).
//
// A Server is safe for concurrent use: every stream is handled on its own
// goroutine, and executions run in parallel.
package server
