// Package netlab builds a small network for fault tests out of Linux
// network namespaces, veth pairs and bridges, so that a test can cut one
// process off from the others (which loopback cannot do) and add WAN
// latency (which these kernels, without the netem qdisc, cannot do in the
// kernel).
//
// A Lab owns what it made and removes it all on Close, which New registers
// with t.Cleanup so a failed test leaves nothing behind:
//
//   - Bridge: a Linux bridge in the root namespace holding the first
//     address of its subnet (e.g. 10.90.1.1/24). Subnet picks a /24 that no
//     address or route of the root namespace overlaps.
//   - Namespace: a network namespace with only lo up. Attach joins it to a
//     bridge with a veth pair and gives it one address of the bridge's
//     subnet. A namespace gets routes to its bridges' subnets and nothing
//     else: no default route, so no test traffic leaves the lab.
//   - Link: the veth of one attachment. Down takes its root-namespace end
//     down (a partition of that namespace from that bridge, both ways); Up
//     heals it.
//   - NS.Command runs a program inside a namespace's network (with
//     `nsenter --net`, which execs the program in place: the process the
//     Cmd starts is the program itself, and signals reach it; /sys and the
//     cgroup mounts stay the host's).
//   - Proxy: a TCP proxy in this process (toxiproxy, as a library) that
//     listens on a bridge address in the root namespace and forwards to an
//     address in the lab, adding latency each way; it can be disabled
//     (Down) and enabled again (Up).
//
// Every interface and namespace name starts with the lab's prefix, the
// name given to New followed by this process's pid, so that parallel test
// runs and leftovers of a killed run do not collide (interface names are at
// most 15 bytes: New takes a name of at most 4 characters).
//
// Everything needs root and the `ip` tool of iproute2. Methods that take
// no error return fail the test (t.Fatal) and so belong to the test's
// goroutine; the Link and Proxy methods return errors and may be called
// from any goroutine. A Lab is safe for concurrent use.
package netlab
