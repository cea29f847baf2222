// Package childinit is the first image every execution runs: envd forks
// its own binary with the execution's unprivileged credentials already set
// (uid 1000, its execution group), and childinit — still inside that child,
// before the program is exec'd — does what the parent cannot do for a
// process it no longer owns:
//
//   - it raises oom_score_adj (to +500) when envd runs at -1000 (the agent
//     holds CAP_SYS_RESOURCE and protects envd from the OOM killer), which
//     children inherit: a program left there could not be OOM-killed, and
//     a memory cgroup whose tasks are all unkillable stalls instead of
//     killing. Raising the value needs no privilege; envd, facing a child
//     of another uid without CAP_SYS_RESOURCE or CAP_DAC_OVERRIDE, could
//     not write the child's file.
//   - it sets RLIMIT_CPU when the execution has a CPU-time limit. Go's
//     fork/exec has no hook between fork and exec, and prlimit(2) on a
//     process of another uid needs CAP_SYS_RESOURCE, which envd does not
//     hold.
//
// Then it execs the program with the environment it was given (envd built
// it fresh), keeping only stdin, stdout and stderr (every other descriptor
// is close-on-exec). Main never returns. envd runs it only for executions
// that need it: starting a Go binary costs 1 to 5 ms.
//
// The package has no state; Main is meant to run alone in its process.
package childinit
