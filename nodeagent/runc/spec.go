package runc

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Spec returns the OCI spec of opts for a bundle at dir whose etc holds
// mountpoints for the host /etc entries etcBinds. The same spec serves
// runc and runsc, but for the OOM score (see below).
func Spec(opts Options, dir string, etcBinds []string) (*specs.Spec, error) {
	opts = opts.withDefaults()
	// envd runs with an empty environment: the sandbox's env comes in the
	// env file (see writeEnvFile) and the programs' defaults from envd, so
	// /proc/1/environ holds nothing even where a runtime lets user code
	// read it (gVisor 2022). A process that is not envd (a bare run of the
	// bundle) sees PATH, HOME and the sandbox env as usual.
	var env []string
	if opts.Args[0] != envdMountpoint {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME="+userHome)
		for _, k := range slices.Sorted(maps.Keys(opts.Env)) {
			env = append(env, k+"="+opts.Env[k])
		}
	}
	memory := int64(opts.MemoryMB) << 20
	if opts.Kind == KindRunsc {
		memory += gvisorOverheadMB(gvisorProcs(opts.PidsLimit)) << 20
	}
	quota := int64(opts.VCPUs * cpuPeriod)
	period := uint64(cpuPeriod)
	pids := opts.PidsLimit
	if opts.Kind == KindRunsc {
		pids = gvisorHostPids(gvisorProcs(opts.PidsLimit))
	}
	spec := &specs.Spec{
		Version: "1.2.1", // what runc 1.3 declares; runtime-spec's Go types are a superset
		Process: &specs.Process{
			User:    specs.User{UID: 0, GID: 0},
			Args:    opts.Args,
			Env:     env,
			Cwd:     "/",
			Rlimits: rlimits(opts),
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: true},
		Hostname: "sandbox",
		Mounts:   mounts(opts, dir, etcBinds),
		Linux: &specs.Linux{
			// Container ids 0..65535 map to the sandbox's own host range:
			// host root is not mapped, and no two sandboxes share a uid.
			UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: opts.UIDBase, Size: DefaultIDMapSize}},
			GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: opts.UIDBase, Size: DefaultIDMapSize}},
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
				// Swap = Memory: the limit covers memory and swap together,
				// so the sandbox cannot swap (memsw on v1, swap.max 0 on v2).
				Memory: &specs.LinuxMemory{Limit: &memory, Swap: &memory},
				CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period},
				Pids:   &specs.LinuxPids{Limit: &pids},
			},
			CgroupsPath: "/" + opts.CgroupParent + "/" + opts.ID,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.UserNamespace},
				{Type: specs.CgroupNamespace},
			},
		},
	}
	if opts.Kind == KindRunsc {
		n := uint64(gvisorProcs(opts.PidsLimit))
		spec.Process.Rlimits = append(spec.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_NPROC", Hard: n, Soft: n})
	}
	if opts.ProtectInit && opts.Kind == KindRunc {
		// Not under gVisor: there the sentry holds all of the sandbox's
		// memory, and an unkillable sentry would leave a memory cgroup
		// at its limit with nothing to kill.
		adj := envdOOMScoreAdj
		spec.Process.OOMScoreAdj = &adj
	}
	if err := applySecurity(spec, opts.Kind); err != nil {
		return nil, err
	}
	return spec, nil
}

func mounts(opts Options, dir string, etcBinds []string) []specs.Mount {
	ms := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	}
	// The image: host directories, read-only.
	ro := []string{"rbind", "ro", "nosuid", "nodev"}
	for _, d := range hostDirs() {
		fi, err := os.Lstat(d)
		if err != nil || fi.Mode()&os.ModeSymlink != 0 {
			continue // absent, or recreated as a symlink in the rootfs
		}
		ms = append(ms, specs.Mount{Destination: d, Type: "bind", Source: d, Options: ro})
	}
	ms = append(ms, specs.Mount{Destination: "/etc", Type: "bind", Source: filepath.Join(dir, "etc"), Options: ro})
	for _, name := range etcBinds {
		p := filepath.Join("/etc", name)
		ms = append(ms, specs.Mount{Destination: p, Type: "bind", Source: p, Options: ro})
	}
	// Writable dirs: tmpfs with a size quota (ENOSPC past it), counted in
	// the sandbox's memory cgroup. /home/user belongs to the user; tmpfs
	// applies uid= and gid= in the container's user namespace.
	disk := fmt.Sprintf("size=%dm", opts.DiskMB)
	owner := []string{fmt.Sprintf("uid=%d", UserUID), fmt.Sprintf("gid=%d", UserGID)}
	ms = append(ms,
		specs.Mount{Destination: envdMountpoint, Type: "bind", Source: opts.EnvdPath, Options: []string{"bind", "ro", "nosuid", "nodev"}},
		specs.Mount{Destination: envMountpoint, Type: "bind", Source: filepath.Join(dir, envFileName), Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}},
		specs.Mount{Destination: userHome, Type: "tmpfs", Source: "tmpfs", Options: append([]string{"nosuid", "nodev", "mode=755", disk}, owner...)},
		specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", disk}},
		// envd's code files: readable by name (0711), never executable.
		specs.Mount{Destination: "/run/envd", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "noexec", "mode=711", fmt.Sprintf("size=%dm", envdRunDirMB)}},
	)
	return ms
}

// Limits of a gVisor sandbox. On the ptrace platform every guest process
// costs the host a stub process with its threads (up to some 10 host
// tasks, which stay pooled after the guest process exits) and about 4 MiB
// (the stub, its page tables, the sentry's records), and the sentry dies
// when it cannot create a task. So under gVisor:
//   - guest processes are bounded inside the sandbox, by RLIMIT_NPROC,
//     which gVisor enforces per uid (fork fails with EAGAIN; envd's uid
//     keeps its headroom), to gvisorProcs: at most gvisorMaxProcs, fewer
//     than under runc, as each costs more and starts slower (a fork bomb
//     of 160 sleeping processes takes over 15 s to reach its limit on 2
//     cores; 64 take a few seconds);
//   - the host pids limit only bounds the sentry, with room for that many
//     guest processes (gvisorHostPids): the host's pids.events then never
//     counts a guest fork failure, and PIDS_LIMIT is not named under
//     gVisor (the program sees EAGAIN);
//   - the host memory limit adds the sentry's overhead (gvisorOverheadMB)
//     to MemoryMB. gVisor (20221219) enforces no memory limit inside the
//     sandbox, and the host's OOM killer, which sees only the sentry, would
//     end the whole sandbox: envd enforces MemoryMB itself (it polls the
//     sandbox's memory and kills the largest user process above it), and
//     the overhead leaves room for what a program allocates between two
//     polls. A program that outruns the poll by more still ends the
//     sandbox.
const gvisorMaxProcs = 64

func gvisorProcs(limit int64) int64      { return min(limit, gvisorMaxProcs) }
func gvisorHostPids(procs int64) int64   { return 16*procs + 256 }
func gvisorOverheadMB(procs int64) int64 { return 64 + 4*procs }
