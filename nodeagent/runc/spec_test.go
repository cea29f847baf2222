package runc

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSpecHardening(t *testing.T) {
	for _, kind := range []Kind{KindRunc, KindRunsc} {
		t.Run(string(kind), func(t *testing.T) {
			opts := Options{ID: "sb", EnvdPath: "/envd", Env: map[string]string{"K": "v"}, MemoryMB: 256, DiskMB: 32,
				UIDBase: 200000, Kind: kind, ProtectInit: true}
			spec, err := Spec(opts, "/bundle", nil)
			if err != nil {
				t.Fatal(err)
			}
			p := spec.Process
			want := []string{"CAP_SETUID", "CAP_SETGID", "CAP_KILL"}
			c := p.Capabilities
			if !slices.Equal(c.Bounding, want) || !slices.Equal(c.Effective, want) || !slices.Equal(c.Permitted, want) ||
				len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
				t.Errorf("capabilities %+v", c)
			}
			if !p.NoNewPrivileges || p.User.UID != 0 || !spec.Root.Readonly {
				t.Errorf("process %+v, root %+v", p, spec.Root)
			}
			if slices.Contains(p.Env, "K=v") || !slices.Contains(p.Args, "-env-file") {
				t.Errorf("the sandbox env must reach envd through the env file, not its environment: %q %q", p.Env, p.Args)
			}
			l := spec.Linux
			if m := l.UIDMappings; len(m) != 1 || m[0].HostID != 200000 || m[0].ContainerID != 0 || m[0].Size != DefaultIDMapSize {
				t.Errorf("uid mappings %+v", m)
			}
			for _, path := range []string{"/proc/kcore", "/proc/keys", "/sys/firmware"} {
				if !slices.Contains(l.MaskedPaths, path) {
					t.Errorf("%s not masked", path)
				}
			}
			if !slices.Contains(l.ReadonlyPaths, "/proc/sys") {
				t.Errorf("/proc/sys not read-only")
			}
			if l.Seccomp == nil || l.Seccomp.DefaultAction != specs.ActErrno || len(l.Seccomp.Syscalls) < 10 {
				t.Fatalf("seccomp %+v", l.Seccomp)
			}
			clone3 := seccompAction(l.Seccomp, "clone3")
			if kind == KindRunc && clone3 != specs.ActErrno || kind == KindRunsc && clone3 != specs.ActAllow {
				t.Errorf("clone3: %s", clone3)
			}
			if a := seccompAction(l.Seccomp, "kexec_load"); a != "" {
				t.Errorf("kexec_load allowed: %s", a)
			}
			rl := map[string]uint64{}
			for _, r := range p.Rlimits {
				rl[r.Type] = r.Hard
			}
			if rl["RLIMIT_CORE"] != 0 || rl["RLIMIT_NOFILE"] != DefaultNoFile || rl["RLIMIT_FSIZE"] != 33<<20 {
				t.Errorf("rlimits %v", rl)
			}
			mem := l.Resources.Memory
			if *mem.Swap != *mem.Limit {
				t.Errorf("swap %d != memory %d: the sandbox could swap", *mem.Swap, *mem.Limit)
			}
			switch kind {
			case KindRunc:
				if *mem.Limit != 256<<20 || *l.Resources.Pids.Limit != DefaultPidsLimit || p.OOMScoreAdj == nil || *p.OOMScoreAdj != -1000 ||
					!slices.Contains(p.Args, "-child-oom-score-adj") {
					t.Errorf("runc limits: memory %d pids %d oom %v", *mem.Limit, *l.Resources.Pids.Limit, p.OOMScoreAdj)
				}
			case KindRunsc:
				if *mem.Limit != (256+gvisorOverheadMB(gvisorMaxProcs))<<20 || *l.Resources.Pids.Limit != gvisorHostPids(gvisorMaxProcs) ||
					rl["RLIMIT_NPROC"] != gvisorMaxProcs || p.OOMScoreAdj != nil || !slices.Contains(p.Args, "-memory-limit-mb") {
					t.Errorf("runsc limits: memory %d pids %d nproc %d oom %v args %q", *mem.Limit, *l.Resources.Pids.Limit, rl["RLIMIT_NPROC"], p.OOMScoreAdj, p.Args)
				}
			}
			mounts := map[string]specs.Mount{}
			for _, m := range spec.Mounts {
				mounts[m.Destination] = m
			}
			home := strings.Join(mounts["/home/user"].Options, ",")
			if mounts["/home/user"].Type != "tmpfs" || !strings.Contains(home, "size=32m") || !strings.Contains(home, "uid=1000") {
				t.Errorf("/home/user mount %+v", mounts["/home/user"])
			}
			if !slices.Contains(mounts["/usr"].Options, "ro") || !slices.Contains(mounts["/.codeint/env"].Options, "ro") {
				t.Errorf("image mounts not read-only: %+v %+v", mounts["/usr"], mounts["/.codeint/env"])
			}
		})
	}
}

// seccompAction returns the action of the first rule naming syscall.
func seccompAction(s *specs.LinuxSeccomp, syscall string) specs.LinuxSeccompAction {
	for _, r := range s.Syscalls {
		if slices.Contains(r.Names, syscall) {
			return r.Action
		}
	}
	return ""
}

func TestWriteBundleEnvFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "b")
	opts := Options{ID: "b", EnvdPath: "/envd", Env: map[string]string{"A": "1", "B": "two\nlines"}, UIDBase: 300000}
	if err := WriteBundle(dir, opts); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, envFileName)
	data, err := os.ReadFile(path)
	if err != nil || string(data) != "A=1\x00B=two\nlines\x00" {
		t.Fatalf("env file %q, %v", data, err)
	}
	fi, _ := os.Stat(path)
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o400 || st.Uid != 300000 || st.Gid != 300000 {
		t.Fatalf("env file mode %v owner %d:%d: want 0400 owned by the container's root", fi.Mode(), st.Uid, st.Gid)
	}
	if base, err := BundleUIDBase(dir); err != nil || base != 300000 {
		t.Fatalf("BundleUIDBase = %d, %v", base, err)
	}
}
