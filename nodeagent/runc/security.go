package runc

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// envdCapabilities are the only capabilities of a sandbox, held by envd
// (the container's root) in its bounding, permitted and effective sets and
// never in the inheritable or ambient sets. User code runs as uid 1000: the
// kernel clears the permitted and effective sets when envd's child changes
// every uid to non-zero, and nothing can raise them again (no ambient
// caps, no_new_privs, nosuid mounts), so user code has none.
//
//   - CAP_SETUID, CAP_SETGID: envd starts every execution as uid/gid 1000
//     with the execution's own supplementary group (setuid, setgid,
//     setgroups).
//   - CAP_KILL: envd kills an execution's processes at its timeout or
//     cancel; they run as uid 1000, not envd's uid 0.
//
// Left out on purpose: CAP_CHOWN, CAP_DAC_OVERRIDE and CAP_FOWNER (envd only
// touches files it owns; /home/user belongs to uid 1000 through the tmpfs
// mount options), CAP_SYS_RESOURCE (children reset their own oom_score_adj
// and set their own RLIMIT_CPU, see cmd/envd/internal/childinit),
// CAP_NET_*, CAP_SYS_*, CAP_MKNOD, CAP_SETPCAP, CAP_SETFCAP, CAP_AUDIT_WRITE.
func envdCapabilities() []string {
	return []string{"CAP_SETUID", "CAP_SETGID", "CAP_KILL"}
}

// envdOOMScoreAdj protects envd from the OOM killer: when a sandbox runs
// out of memory the killer takes a user process, never the sandbox's init
// (whose death would end the sandbox). Children raise their own score
// (cmd/envd/internal/childinit, childOOMScoreAdj). runc writes it from the
// host side, which takes CAP_SYS_RESOURCE: without it (some container
// hosts drop it, as this repository's CI host does) envd and its children
// keep 0, and envd, a few MiB, is not the largest process the killer
// looks for unless user code makes sure of it (many processes each
// smaller than envd), which can only end its own sandbox.
const envdOOMScoreAdj = -1000

// capSysResource is CAP_SYS_RESOURCE's bit in the capability sets.
const capSysResource = 24

// hasCapSysResource reports whether this process may lower an
// oom_score_adj (CAP_SYS_RESOURCE in its effective set).
func hasCapSysResource() bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "CapEff:"); ok {
			bits, err := strconv.ParseUint(strings.TrimSpace(rest), 16, 64)
			return err == nil && bits&(1<<capSysResource) != 0
		}
	}
	return false
}

// maskedPaths hide host information under /proc and /sys, as Docker and
// runc's default spec do (bind-mounted over with /dev/null or an empty
// read-only tmpfs).
func maskedPaths() []string {
	return []string{
		"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
}

// readonlyPaths are kernel interfaces a container must not write.
func readonlyPaths() []string {
	return []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}

// rlimits of the sandbox's init, inherited by every execution:
//   - NOFILE bounds descriptors per process.
//   - FSIZE bounds a single file a little above the writable dirs' size, so
//     a full tmpfs answers ENOSPC first; it guards any writable place a
//     template might add.
//   - CORE 0: no core files (they would fill /home/user, and could hold a
//     process's secrets).
//
// NPROC is not set: it counts per uid and would make fork fail before the
// pids cgroup's limit, whose event counter is how the agent names
// PIDS_LIMIT; the pids cgroup bounds processes on its own.
func rlimits(opts Options) []specs.POSIXRlimit {
	fsize := uint64(opts.DiskMB+1) << 20
	return []specs.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Hard: DefaultNoFile, Soft: DefaultNoFile},
		{Type: "RLIMIT_FSIZE", Hard: fsize, Soft: fsize},
		{Type: "RLIMIT_CORE", Hard: 0, Soft: 0},
	}
}

// applySecurity sets the process's capabilities and the Docker default
// seccomp profile, computed for those capabilities (the profile allows a
// few syscalls only to holders of a capability, e.g. CAP_SYS_ADMIN).
func applySecurity(spec *specs.Spec, kind Kind) error {
	caps := envdCapabilities()
	spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	spec.Process.NoNewPrivileges = true
	profile, err := seccomp.GetDefaultProfile(spec)
	if err != nil {
		return fmt.Errorf("runc: seccomp default profile: %w", err)
	}
	if kind == KindRunsc {
		allowClone3(profile)
	}
	spec.Linux.Seccomp = profile
	spec.Linux.MaskedPaths = maskedPaths()
	spec.Linux.ReadonlyPaths = readonlyPaths()
	return nil
}

// allowClone3 adapts the profile to gVisor. The Docker profile answers
// clone3 with ENOSYS so that libc falls back to clone, whose flags the
// profile can inspect; gVisor's OCI seccomp (20221219) does not honour a
// rule's errno and answers EPERM, on which libc does not fall back, and
// every thread creation fails (node aborts at start). Under gVisor clone3
// reaches the sentry, not the host kernel: let it through.
func allowClone3(profile *specs.LinuxSeccomp) {
	for i, rule := range profile.Syscalls {
		if len(rule.Names) == 1 && rule.Names[0] == "clone3" && rule.Action == specs.ActErrno {
			profile.Syscalls[i].Action, profile.Syscalls[i].ErrnoRet = specs.ActAllow, nil
		}
	}
}
