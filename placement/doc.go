// Package placement chooses the node a sandbox runs on. It is pure: it takes
// a request and a read-only snapshot of nodes as plain values and returns a
// decision with the score breakdown that explains it, or a typed error that
// says what was missing where. It does no I/O and never touches the store,
// so it is tested and benchmarked without a cluster.
//
// The walking skeleton has one region and a chain of two steps, in the
// style of Nomad's scheduler: feasibility (health, region, template,
// resources), then a binpack score. Latency, warm pools, spread and
// best-of-K come with the placement issue. Everything here is safe for
// concurrent use: functions keep no state.
package placement
