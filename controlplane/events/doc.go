// Package events fans out sandbox events and node events (a node
// registered, DOWN with the sandboxes it lost, READY again), published
// after Raft applies a change, to subscribers such as GraphQL
// subscriptions.
//
// Publish never blocks the apply path: each subscriber has a buffer, and a
// subscriber that falls that far behind is dropped (its channel closed), as
// Nomad's event broker does; it can subscribe again and re-read state. Every
// server of a region applies the same log, so every server can serve
// subscriptions. Brokers are safe for concurrent use.
package events
