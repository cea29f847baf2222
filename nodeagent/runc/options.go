package runc

import (
	"errors"
	"fmt"
	"strings"
)

// Kind names the OCI runtime binary a Runtime drives.
type Kind string

// Kinds of runtime.
const (
	KindRunc  Kind = "runc"  // namespaces, cgroups and seccomp on the host kernel
	KindRunsc Kind = "runsc" // gVisor: a user-space kernel (ptrace platform)
)

// Defaults applied by Options.withDefaults.
const (
	DefaultUIDBase      = 100000
	DefaultIDMapSize    = 65536 // ids a sandbox maps: root, user 1000, execution gids, nobody
	DefaultMemoryMB     = 512
	DefaultDiskMB       = 512
	DefaultVCPUs        = 1.0
	DefaultPidsLimit    = 256
	DefaultCgroupParent = "codeint"
	DefaultNoFile       = 1024
	cpuPeriod           = 100000
	envdRunDirMB        = 64 // /run/envd holds code files of in-flight executions
	envdMountpoint      = "/.codeint/envd"
	envMountpoint       = "/.codeint/env" // the sandbox's environment, for envd
	envFileName         = "envd.env"      // its source in the bundle
)

// The unprivileged user executions run as, inside every sandbox.
const (
	UserUID  = 1000
	UserGID  = 1000
	userHome = "/home/user"
)

// ErrInvalidID is returned for a container id that is not safe as a path
// component and a runc id.
var ErrInvalidID = errors.New("runc: invalid container id")

// ValidateID checks that id may name a container, a bundle directory and a
// cgroup: 1 to 128 of [A-Za-z0-9_.-], starting with a letter or digit.
func ValidateID(id string) error {
	ok := len(id) > 0 && len(id) <= 128
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		ok = alnum || i > 0 && (c == '_' || c == '.' || c == '-')
	}
	if !ok {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return nil
}

// Options describe one container of the "base" template.
type Options struct {
	ID       string
	EnvdPath string   // host path of the envd binary, bound read-only at /.codeint/envd
	Args     []string // process args; default: envd, executions as uid 1000
	Env      map[string]string

	VCPUs     float64 // CPU quota in cores; default 1
	MemoryMB  int     // memory limit, swap included (no swap); default 512
	DiskMB    int     // size of each of /home/user and /tmp; default 512
	PidsLimit int64   // default 256

	// UIDBase is the host uid (and gid) of the container's root; the
	// container maps DefaultIDMapSize ids from it. Give every sandbox its
	// own range (the agent allocates them). Default DefaultUIDBase.
	UIDBase      uint32
	CgroupParent string // cgroupsPath is /<CgroupParent>/<ID>; default "codeint"
	Kind         Kind   // the runtime the bundle is for; default KindRunc
	// ProtectInit sets the init's oom_score_adj to -1000 (runc only). The
	// runtime writes it from the host, which needs CAP_SYS_RESOURCE there;
	// Runtime.Start sets it when the agent holds that capability.
	ProtectInit bool
}

func (o Options) withDefaults() Options {
	if o.VCPUs <= 0 {
		o.VCPUs = DefaultVCPUs
	}
	if o.MemoryMB <= 0 {
		o.MemoryMB = DefaultMemoryMB
	}
	if o.DiskMB <= 0 {
		o.DiskMB = DefaultDiskMB
	}
	if o.PidsLimit <= 0 {
		o.PidsLimit = DefaultPidsLimit
	}
	if o.UIDBase == 0 {
		o.UIDBase = DefaultUIDBase
	}
	if o.CgroupParent == "" {
		o.CgroupParent = DefaultCgroupParent
	}
	if o.Kind == "" {
		o.Kind = KindRunc
	}
	if len(o.Args) == 0 {
		o.Args = EnvdArgs(o)
	}
	return o
}

// childOOMScoreAdj is the oom_score_adj of every user process under runc
// when envd runs at -1000 (ProtectInit): children inherit envd's score and
// must raise their own, or the OOM killer could take none of them. It is
// positive, so user processes go before anything else of the host.
// Without ProtectInit envd and its children keep 0, and envd, a few MiB,
// is never the largest process the killer looks for; the children are not
// touched then, which spares every execution a setup exec (childinit).
const childOOMScoreAdj = 500

// EnvdArgs is the default process of a sandbox described by o (its Kind,
// MemoryMB and ProtectInit): envd, running executions as the unprivileged
// user and naming DISK_FULL from the writable dirs. Under gVisor scores
// inside the sandbox mean nothing to the host's OOM killer, which sees
// only the sentry: envd kills the largest user process itself at the
// sandbox's limit (see gvisorOverheadMB).
func EnvdArgs(o Options) []string {
	args := []string{envdMountpoint,
		"-env-file", envMountpoint,
		"-user", fmt.Sprintf("%d:%d", UserUID, UserGID),
		"-writable", strings.Join(writableDirs(), ","),
	}
	switch {
	case o.Kind == KindRunsc:
		args = append(args, "-memory-limit-mb", fmt.Sprint(o.MemoryMB))
	case o.ProtectInit:
		args = append(args, "-child-oom-score-adj", fmt.Sprint(childOOMScoreAdj))
	}
	return args
}

// writableDirs are the size-limited tmpfs dirs user code may write.
func writableDirs() []string { return []string{userHome, "/tmp"} }
