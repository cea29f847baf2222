// Package forward sends what must happen on a region's leader to the
// leader, from whichever server a request reached, and carries errors
// across the wire so that errors.Is keeps working on the other side.
//
// Forwarder.Apply is the write path of every service: on the leader it
// commits locally; on a follower it sends the encoded command to the
// leader's Apply RPC and decodes the state machine's result with
// command.NewResult. While a leader is being elected it waits (up to the
// request's deadline, at most MaxWait) instead of failing at once, so a
// failover costs a client latency, not an error. A write the leader may
// or may not have committed (leadership lost mid-commit) is never retried.
//
// ToStatus and FromStatus turn an error into a gRPC status and back,
// keeping its apperr code, its message and the sentinel it wraps
// (store.ErrNotLeader, agentapi.ErrNoCapacity, context.Canceled, …).
package forward
