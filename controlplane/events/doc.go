// Package events fans out sandbox events, published after Raft applies a
// change, to subscribers such as GraphQL subscriptions.
//
// Publish never blocks the apply path: each subscriber has a buffer, and a
// subscriber that falls that far behind is dropped (its channel closed), as
// Nomad's event broker does; it can subscribe again and re-read state. Every
// server of a region applies the same log, so every server can serve
// subscriptions. A Broker is safe for concurrent use.
package events
