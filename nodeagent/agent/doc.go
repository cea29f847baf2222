// Package agent is the node agent's sandbox runtime: it implements
// agentapi.Agent on one host with runc or gVisor's runsc (package
// nodeagent/runc, chosen per sandbox by StartRequest.Runtime) and talks to
// envd inside every sandbox (package nodeagent/envdclient).
//
// An Agent owns the sandboxes it started: it stops them on request, notices
// when one ends on its own (envd died, the container was killed) and then
// cleans up and reports it through Config.OnExit, and on start Reconcile
// removes whatever a previous agent process left behind on the same data
// directory.
//
// Every sandbox gets a host uid/gid range of its own from an allocator over
// Config.UIDBase and Config.UIDRanges; none left is agentapi.ErrNoCapacity.
// A range is freed when its sandbox's teardown left nothing running, and
// kept out of use otherwise until Reconcile sees it empty.
//
// Sandboxes run detached: no runtime process stays per sandbox, and New
// makes the agent's process a child subreaper so that envd (and runsc's
// processes) are re-parented to it and reaped by it (see package runc).
//
// Limits end executions with a named outcome (agentapi.Limit* in
// ExecResult.Error.Name): envd names the wall timeout, the CPU-time limit,
// a full writable dir and, under gVisor, its own OOM kills; the agent names
// the memory and pids limits under runc from the sandbox's cgroup counters
// read around the execution (see classify).
//
// An Agent is safe for concurrent use. Executions in different sandboxes run
// in parallel, and so do several executions in the same sandbox (each is its
// own stream to envd).
package agent
