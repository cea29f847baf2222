// Package server serves envd's side of the envdproto protocol: it accepts
// yamux streams from the node agent, answers pings and runs executions as
// process groups whose output it streams back as it is read.
//
// A Server is safe for concurrent use: every stream is handled on its own
// goroutine, and executions run in parallel.
package server
