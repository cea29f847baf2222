package runc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Defaults applied by Options.withDefaults.
const (
	DefaultUIDBase      = 100000
	DefaultIDMapSize    = 65536
	DefaultMemoryMB     = 512
	DefaultDiskMB       = 512
	DefaultVCPUs        = 1.0
	DefaultPidsLimit    = 256
	DefaultCgroupParent = "codeint"
	DefaultNoFile       = 1024
	cpuPeriod           = 100000
	envdRunDirMB        = 64 // /run/envd holds code files of in-flight executions
	envdMountpoint      = "/.codeint/envd"
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
	Args     []string // process args; default: envd
	Env      map[string]string

	VCPUs     float64 // CPU quota in cores; default 1
	MemoryMB  int     // memory limit, swap included (no swap); default 512
	DiskMB    int     // size of each of /home/user and /tmp; default 512
	PidsLimit int64   // default 256

	UIDBase      uint32 // host uid (and gid) of the container's root; default 100000
	CgroupParent string // cgroupsPath is /<CgroupParent>/<ID>; default "codeint"
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
	if len(o.Args) == 0 {
		o.Args = []string{envdMountpoint}
	}
	return o
}

// hostDirs are bound read-only from the host when they exist; a symlink
// (/bin -> usr/bin on merged-/usr systems) is recreated as a symlink.
func hostDirs() []string { return []string{"/usr", "/lib", "/lib64", "/bin", "/sbin"} }

// mountpoints are created in the empty rootfs: the container's root cannot
// create them itself in a directory owned by the host's root.
func mountpoints() []string {
	return []string{"proc", "dev", "sys", "tmp", "home/user", "run/envd", "usr", "lib", "lib64", "bin", "sbin", "etc", ".codeint"}
}

// WriteBundle writes an OCI bundle for opts into dir (created 0711): config.json,
// an empty rootfs with its mountpoints, and a minimal etc. The paths above
// dir must be searchable by opts.UIDBase (see the package doc).
func WriteBundle(dir string, opts Options) error {
	opts = opts.withDefaults()
	if err := ValidateID(opts.ID); err != nil {
		return err
	}
	if opts.EnvdPath == "" {
		return errors.New("runc: Options.EnvdPath is required")
	}
	if err := os.Mkdir(dir, 0o711); err != nil {
		return fmt.Errorf("runc: create bundle: %w", err)
	}
	if err := os.Chmod(dir, 0o711); err != nil { // umask
		return fmt.Errorf("runc: create bundle: %w", err)
	}
	rootfs := filepath.Join(dir, "rootfs")
	if err := writeRootfs(rootfs); err != nil {
		return err
	}
	etcFiles, err := writeEtc(filepath.Join(dir, "etc"))
	if err != nil {
		return err
	}
	spec := Spec(opts, dir, etcFiles)
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return fmt.Errorf("runc: encode config.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		return fmt.Errorf("runc: write config.json: %w", err)
	}
	return nil
}

func writeRootfs(rootfs string) error {
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return fmt.Errorf("runc: create rootfs: %w", err)
	}
	for _, d := range hostDirs() {
		if target, err := os.Readlink(d); err == nil {
			if err := os.Symlink(target, filepath.Join(rootfs, d)); err != nil {
				return fmt.Errorf("runc: rootfs symlink %s: %w", d, err)
			}
		}
	}
	for _, m := range mountpoints() {
		p := filepath.Join(rootfs, m)
		if _, err := os.Lstat(p); err == nil {
			continue // a symlink made above
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("runc: rootfs mountpoint %s: %w", m, err)
		}
	}
	f, err := os.OpenFile(filepath.Join(rootfs, envdMountpoint), os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		return fmt.Errorf("runc: rootfs mountpoint %s: %w", envdMountpoint, err)
	}
	return f.Close()
}

// hostEtcFiles are bound read-only from the host's /etc when present.
// Never /etc/shadow or anything else with secrets.
func hostEtcFiles() []string { return []string{"ld.so.cache", "alternatives"} }

// writeEtc writes the container's /etc and returns the host /etc entries to
// bind over it, with mountpoints made for them.
func writeEtc(etc string) ([]string, error) {
	if err := os.Mkdir(etc, 0o755); err != nil {
		return nil, fmt.Errorf("runc: create etc: %w", err)
	}
	files := map[string]string{
		"passwd":        "root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000:user:/home/user:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"group":         "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n",
		"hosts":         "127.0.0.1\tlocalhost sandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		"hostname":      "sandbox\n",
		"nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n",
		"resolv.conf":   "",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(content), 0o644); err != nil {
			return nil, fmt.Errorf("runc: write etc/%s: %w", name, err)
		}
	}
	var binds []string
	for _, name := range hostEtcFiles() {
		fi, err := os.Stat(filepath.Join("/etc", name))
		if err != nil {
			continue
		}
		p := filepath.Join(etc, name)
		if fi.IsDir() {
			err = os.Mkdir(p, 0o755)
		} else {
			err = os.WriteFile(p, nil, 0o644)
		}
		if err != nil {
			return nil, fmt.Errorf("runc: etc mountpoint %s: %w", name, err)
		}
		binds = append(binds, name)
	}
	return binds, nil
}

// Spec returns the OCI spec of opts for a bundle at dir whose etc holds
// mountpoints for the host /etc entries etcBinds.
func Spec(opts Options, dir string, etcBinds []string) *specs.Spec {
	opts = opts.withDefaults()
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/home/user"}
	keys := make([]string, 0, len(opts.Env))
	for k := range opts.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+opts.Env[k])
	}
	// A reduced set for now: no NET_RAW, MKNOD, SYS_CHROOT, SETFCAP,
	// AUDIT_WRITE. Issue 3 hardens further (seccomp profile, fewer caps).
	caps := []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	}
	memory := int64(opts.MemoryMB) << 20
	quota := int64(opts.VCPUs * cpuPeriod)
	period := uint64(cpuPeriod)
	pids := opts.PidsLimit
	return &specs.Spec{
		Version: "1.2.1", // what runc 1.3 declares; runtime-spec's Go types are a superset
		Process: &specs.Process{
			User: specs.User{UID: 0, GID: 0},
			Args: opts.Args,
			Env:  env,
			Cwd:  "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: DefaultNoFile, Soft: DefaultNoFile}},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: true},
		Hostname: "sandbox",
		Mounts:   mounts(opts, dir, etcBinds),
		Linux: &specs.Linux{
			UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: opts.UIDBase, Size: DefaultIDMapSize}},
			GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: opts.UIDBase, Size: DefaultIDMapSize}},
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
				Memory:  &specs.LinuxMemory{Limit: &memory, Swap: &memory},
				CPU:     &specs.LinuxCPU{Quota: &quota, Period: &period},
				Pids:    &specs.LinuxPids{Limit: &pids},
			},
			CgroupsPath: "/" + opts.CgroupParent + "/" + opts.ID,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.UserNamespace},
				{Type: specs.CgroupNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

func mounts(opts Options, dir string, etcBinds []string) []specs.Mount {
	ms := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	}
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
	disk := fmt.Sprintf("size=%dm", opts.DiskMB)
	ms = append(ms,
		specs.Mount{Destination: envdMountpoint, Type: "bind", Source: opts.EnvdPath, Options: []string{"bind", "ro", "nosuid", "nodev"}},
		specs.Mount{Destination: "/home/user", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=755", disk}},
		specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", disk}},
		specs.Mount{Destination: "/run/envd", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "noexec", "mode=700", fmt.Sprintf("size=%dm", envdRunDirMB)}},
	)
	return ms
}
