// Package runc is the node agent's runc driver: it writes OCI bundles
// (WriteBundle) and runs them with `runc run` in the foreground, the
// container init's stdin and stdout being pipes that carry the envd
// protocol (Runtime.Start), and it stops containers and removes everything
// they leave on the host: runc state, bundle directory, cgroup directories
// (Runtime.Stop, Runtime.Cleanup).
//
// runc runs in the foreground (not `run -d`) on purpose: the hosts' PID 1
// does not always reap orphans, so a detached container init would end as a
// zombie under it; a foreground runc is the init's parent and reaps it.
//
// Bundles live under <DataDir>/bundles/<id> and runc's state under
// <DataDir>/runc. The container's root is mapped to an unprivileged host uid,
// which must be able to traverse every directory above a bundle: New creates
// its directories with mode 0711 and refuses a DataDir with an ancestor that
// others cannot search (t.TempDir() is 0700: chmod it and its parent 0711).
//
// A Runtime is safe for concurrent use; operations on one container id must
// not overlap, which the agent guarantees.
package runc
