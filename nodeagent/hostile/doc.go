// Package hostile is the node agent's hostile-code suite: its tests run
// attacks as user code in real sandboxes, under runc and under gVisor's
// runsc, through the agentapi.Agent contract of a real nodeagent/agent, and
// check four things after each attack:
//
//   - the verdict the execution returned (exit code, markers the attack
//     printed, ExecError.Name for the limit that ended it);
//   - the host is unharmed: runtime and envd binaries, a host canary file and
//     host kernel settings unchanged, the host not out of memory or pids, the
//     agent still answering;
//   - a neighbour sandbox, which holds canary files, a secret in its
//     environment and a running daemon, is unharmed and still answers;
//   - the attacked sandbox still answers when the limit hit was the
//     execution's (a timeout, the memory or pids limit), not the sandbox's.
//
// The suite encodes the intended isolation (see DESIGN.md, "Secure by
// default"): user code runs as an unprivileged uid with no capabilities,
// no new privileges and a seccomp filter, in a read-only root with
// size-limited writable directories, with no network but its own loopback,
// each sandbox on its own range of host uids. A failing case names the
// protection that is missing.
//
// Network checks never send a packet beyond loopback and the sandbox's own
// namespace: egress is probed with UDP connect(), a route lookup that sends
// nothing. Every attack is bounded (iteration counts, wall-clock timeouts),
// so a missing limit fails the case without hurting the host.
//
// The package has no non-test code. Its tests need root, runc >= 1.3 at
// /usr/local/bin/runc and runsc on PATH, and fail, saying what to install,
// when one is missing.
package hostile
