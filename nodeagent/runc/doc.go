// Package runc is the node agent's OCI runtime driver, for runc and for
// gVisor's runsc (Kind): it writes hardened bundles (WriteBundle, Spec),
// runs them detached with the container init's stdio passed through
// (Runtime.Start), reads and acts on their cgroups (Cgroup), and stops
// containers and removes everything they leave on the host: processes,
// runtime state, bundle directory, cgroup directories in every hierarchy
// (Runtime.Stop, Runtime.Cleanup).
//
// # Bundles
//
// Every bundle, runc's and runsc's alike, has: a user namespace mapping
// container ids 0..65535 to a host range of the caller's choosing (one per
// sandbox, never host root); no_new_privs; only CAP_SETUID, CAP_SETGID and
// CAP_KILL, for envd (see security.go for why each); the Docker default
// seccomp profile (github.com/moby/profiles/seccomp, computed for those
// capabilities); Docker's masked and read-only /proc and /sys paths; a
// read-only root and read-only host directories as the image; /home/user
// (owned by uid 1000) and /tmp as tmpfs of DiskMB each; rlimits NOFILE,
// FSIZE and CORE=0; cgroup limits on CPU, memory (swap included: no swap)
// and pids. envd runs as the container's root and starts user code as uid
// 1000 without capabilities. Where runsc needs it the bundle differs: no
// oom_score_adj, clone3 allowed through seccomp, the pids and memory limits
// split between the host and the sandbox (see gvisorProcs).
//
// # Cgroups
//
// The runtime creates the container's cgroup from the bundle's
// linux.resources and cgroupsPath, as it does best on every host (v1
// hierarchies, v2, devices). The agent then loads that cgroup with
// github.com/containerd/cgroups/v3 (cgroup1 on v1 and hybrid hosts, cgroup2
// on unified ones) to read the OOM-kill counter, memory and CPU use and
// the number of tasks, and to kill every process at teardown (cgroup.kill
// on v2, freeze-kill-thaw on v1). The pids controller's "max" event
// counter is read from pids.events directly: cgroups/v3 does not expose it.
// Removal walks every hierarchy, named ones included.
//
// New gives the sandboxes' cgroup parent a CPU weight against the host's
// other processes (Config.ParentCPUWeight; by default the lowest): the
// sandboxes then take only the CPU that the agent, the server, the
// runtime and the kernel's workers leave, which keeps the platform's own
// latency (a create's Raft commit, a start) steady while sandboxes are
// busy. It is a share under contention, not a cap.
//
// # Processes
//
// Containers run detached (`run --detach --pid-file`): the runtime hands
// the caller's pipes to the container's init and exits, so no runtime
// process stays per sandbox. What the runtime started — the init under
// runc; the sandbox, gofer and ptrace stubs under runsc — is re-parented to
// the nearest child subreaper, which must be the agent (SetChildSubreaper)
// and which reaps exactly those processes: never wait4(-1), which would
// steal exit statuses from os/exec.
//
// Bundles live under <DataDir>/bundles/<id>, runc's state under
// <DataDir>/runc, runsc's under <DataDir>/runsc. A sandbox's root is an
// unprivileged host uid, which must be able to traverse every directory
// above its bundle: New creates its directories with mode 0711 and refuses
// a DataDir with an ancestor that others cannot search (t.TempDir() is
// 0700: chmod it and its parent 0711).
//
// A Runtime and a Cgroup are safe for concurrent use; operations on one
// container id must not overlap, which the agent guarantees.
package runc
