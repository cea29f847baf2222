// Package agent is the node agent's sandbox runtime: it implements
// agentapi.Agent on one host with runc (package nodeagent/runc) and talks to
// envd inside every sandbox (package nodeagent/envdclient).
//
// An Agent owns the sandboxes it started: it stops them on request, notices
// when one ends on its own (envd died, the container was killed) and then
// cleans up and reports it through Config.OnExit, and on start Reconcile
// removes whatever a previous agent process left behind on the same data
// directory.
//
// An Agent is safe for concurrent use. Executions in different sandboxes run
// in parallel, and so do several executions in the same sandbox (each is its
// own stream to envd).
package agent
