// Package envdclient is the node agent's side of the envdproto protocol: it
// wraps a sandbox's stdio pipes in a yamux client session and turns Ping and
// Exec calls into one stream each.
//
// A Client is safe for concurrent use: concurrent Exec calls run on separate
// streams and do not wait for each other.
package envdclient
