// Package pool keeps warm pools of pre-started sandboxes on one node, so a
// create is served in microseconds by handing out a sandbox whose envd
// already answers, instead of paying a cold runc start (~90 ms).
//
// A Pool owns the warm slots it started: a slot is a sandbox started under
// a pool-private id (Config.IDPrefix + a per-process nonce + a sequence
// number) through the Starter interface, which the agent's runtime
// implements; the package itself never touches runc. There is one pool per
// Key (template, runtime and resources: what makes two warm sandboxes
// interchangeable), sized either by a fixed Spec.Size or adaptively from
// the recent claim rate (see Spec and AdaptiveConfig for the formula).
//
// Claim hands a ready slot to exactly one caller and forgets it: from then
// on the caller owns the sandbox (binds it to its sandbox id, stops it at
// the end) and the pool never stops or reuses it. Claim never waits for a
// start; an empty pool is a miss and the caller starts cold. Every claim
// wakes the refill loop, which starts replacements in the background with
// bounded concurrency (per pool and for the node) and backs off
// exponentially on start errors.
//
// The sum of Key.MemoryMB over every slot the pools hold (ready, starting
// or being stopped) never exceeds Config.MaxTotalMemoryMB. When the pools
// together want more, the budget is shared max-min fairly in megabytes
// (see fairShare): a pool asking for less than an equal share gets all it
// asks, the rest split what is left equally.
//
// Slots lists every id the pool owns right now, so the agent's reconcile
// can remove anything else carrying the pool's prefix (a slot left by an
// earlier agent process, or one whose Stop failed) that no sandbox claimed.
// Drain and Close stop every warm slot; after they return, every slot the
// pool ever started was either claimed or stopped.
//
// A Pool is safe for concurrent use. It keeps no package-level state; a
// process may run several Pools (with different prefixes).
package pool
