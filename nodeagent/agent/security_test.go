package agent

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/runc"
)

// hardeningProbe prints, one "key=value" per line, what user code can see
// of its privileges and of envd.
const hardeningProbe = `import os, ctypes, errno
st = {}
for line in open('/proc/self/status'):
    k, _, v = line.partition(':')
    st[k] = v.strip()
print('uid=%d gid=%d' % (os.getuid(), os.getgid()))
for k in ('CapInh', 'CapPrm', 'CapEff', 'Seccomp'):
    print('%s=%s' % (k, st.get(k, '?')))
libc = ctypes.CDLL(None, use_errno=True)
print('NoNewPrivs=%d' % libc.prctl(39, 0, 0, 0, 0))  # PR_GET_NO_NEW_PRIVS
print('ambient_kill=%d' % libc.prctl(47, 1, 5, 0, 0))  # PR_CAP_AMBIENT_IS_SET CAP_KILL
def probe(name, f):
    try:
        r = f()
        print(name + '=readable' + (':secret' if r and b'SANDBOX_VAR' in r else ''))
    except OSError as e:
        print(name + '=' + errno.errorcode.get(e.errno, str(e.errno)))
probe('environ', lambda: open('/proc/1/environ', 'rb').read())
probe('mem', lambda: open('/proc/1/mem', 'rb').read(1))
probe('fd', lambda: os.listdir('/proc/1/fd'))
probe('fd0', lambda: open('/proc/1/fd/0', 'rb'))
r = libc.ptrace(16, 1, 0, 0)  # PTRACE_ATTACH to envd
print('ptrace=%s' % ('ok' if r == 0 else errno.errorcode.get(ctypes.get_errno(), '?')))
print('fds=%s' % ','.join(sorted(os.listdir('/proc/self/fd'))))
print('home_owner=%d' % os.stat('/home/user').st_uid)
print('env=%s' % ','.join(sorted(os.environ)))
`

// TestHardening checks, under runc and gVisor, what user code holds: uid
// 1000, no capabilities, no_new_privs, the seccomp filter, no way into
// envd (pid 1), only its stdio, a fresh environment.
func TestHardening(t *testing.T) {
	for _, rtm := range runtimes() {
		t.Run(string(rtm), func(t *testing.T) {
			t.Parallel()
			a := newAgent(t, nil)
			id := startSandbox(t, a, agentapi.StartRequest{Runtime: rtm, Env: map[string]string{"SANDBOX_VAR": "x"}})
			res := run(t, a, id, agentapi.ExecRequest{Language: agentapi.Python, Code: hardeningProbe})
			if res.ExitCode != 0 {
				t.Fatalf("probe failed: %+v", res)
			}
			got := parseProbe(res.Stdout)
			t.Logf("%s probe:\n%s", rtm, res.Stdout)
			want := map[string]string{
				"uid": "1000 gid=1000", "CapInh": "0000000000000000", "CapPrm": "0000000000000000",
				"CapEff": "0000000000000000", "ambient_kill": "0", "NoNewPrivs": "1", "Seccomp": "2",
				"ptrace": "EPERM", "fds": "0,1,2,3", "home_owner": "1000",
				"env": "HOME,LANG,PATH,PYTHONUNBUFFERED,SANDBOX_VAR",
			}
			if rtm == agentapi.RuntimeGVisor && got["ambient_kill"] == "-1" {
				want["ambient_kill"] = "-1" // EINVAL: gVisor has no ambient capabilities at all
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			denied := []string{"environ", "mem", "fd", "fd0"}
			if rtm == agentapi.RuntimeGVisor {
				// gVisor (20221219) lets any process read /proc/1/environ
				// and list /proc/1/fd; envd's environment holds nothing of
				// the sandbox's, and the descriptors cannot be opened.
				denied = []string{"mem", "fd0"}
				if got["environ"] != "readable" {
					t.Errorf("/proc/1/environ under gVisor: %q, want readable and without the sandbox env", got["environ"])
				}
			}
			for _, k := range denied {
				if got[k] != "EACCES" && got[k] != "EPERM" {
					t.Errorf("/proc/1/%s from user code: %q, want EACCES or EPERM", k, got[k])
				}
			}
		})
	}
}

func parseProbe(out string) map[string]string {
	m := make(map[string]string)
	for line := range strings.SplitSeq(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// TestRuncHardening checks what only runc exposes the same way as the
// host kernel: masked and read-only kernel files, rlimits, the OOM score
// of user code, and that each sandbox maps its own host uid range.
func TestRuncHardening(t *testing.T) {
	a := newAgent(t, nil)
	id1 := startSandbox(t, a, agentapi.StartRequest{DiskMB: 64})
	id2 := startSandbox(t, a, agentapi.StartRequest{})
	res := run(t, a, id1, agentapi.ExecRequest{Language: agentapi.Bash, Code: `
echo nofile=$(ulimit -n) core=$(ulimit -c) fsize=$(ulimit -f)
echo oom=$(cat /proc/1/oom_score_adj):$(cat /proc/self/oom_score_adj)
echo init_uid=$(awk '/^Uid/{print $2}' /proc/1/status)
echo keys=$(wc -c < /proc/keys)
`})
	got := parseProbe(res.Stdout)
	// envd is protected (-1000, user code then +500) when the agent may
	// lower a score (CAP_SYS_RESOURCE); else both keep 0.
	oom := "0:0"
	if a.Runtime().ProtectsInit() {
		oom = "-1000:500"
	}
	want := map[string]string{"nofile": "1024 core=0 fsize=" + strconv.Itoa((64+1)<<10), "oom": oom, "init_uid": "0", "keys": "0"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (output %q, stderr %q)", k, got[k], v, res.Stdout, res.Stderr)
		}
	}
	// Mounts as user code sees them: the image and kernel interfaces
	// read-only, host information masked, writable dirs size-limited.
	res = run(t, a, id1, agentapi.ExecRequest{Language: agentapi.Bash, Code: "cat /proc/self/mountinfo"})
	mounts := parseMountinfo(res.Stdout)
	for _, p := range []string{"/", "/usr", "/etc", "/sys", "/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/proc/fs", "/proc/irq", "/.codeint/envd", "/.codeint/env"} {
		if _, err := os.Stat(p); err != nil && strings.HasPrefix(p, "/proc/") {
			continue // not in this kernel: nothing to protect
		}
		if m, ok := mounts[p]; !ok || !m.ro {
			t.Errorf("%s: mounted %v, read-only %v; want a read-only mount", p, ok, m.ro)
		}
	}
	for _, p := range []string{"/proc/keys", "/proc/timer_list", "/proc/acpi", "/sys/firmware"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if _, ok := mounts[p]; !ok {
			t.Errorf("%s is not masked (no mount over it)", p)
		}
	}
	for _, p := range []string{"/tmp", "/home/user"} {
		if m := mounts[p]; m.fstype != "tmpfs" || m.ro || !strings.Contains(m.super, "size=65536k") {
			t.Errorf("%s: %+v, want a writable tmpfs of 64 MiB", p, m)
		}
	}

	// Every sandbox maps container root to a range of its own, never to
	// host root.
	maps := map[string]string{}
	for _, id := range []string{id1, id2} {
		res := run(t, a, id, agentapi.ExecRequest{Language: agentapi.Bash, Code: "cat /proc/self/uid_map /proc/self/gid_map"})
		lines := strings.Fields(res.Stdout)
		if len(lines) != 6 || lines[0] != "0" || lines[1] == "0" || lines[2] != strconv.Itoa(runc.DefaultIDMapSize) || lines[4] != lines[1] {
			t.Fatalf("uid/gid map of %s: %q", id, res.Stdout)
		}
		maps[id] = lines[1]
	}
	if maps[id1] == maps[id2] {
		t.Fatalf("two sandboxes share host uid range %s", maps[id1])
	}
	// The host sees envd as the range's root, user code as root+1000.
	sb := a.lookup(id1)
	base, _ := strconv.Atoi(maps[id1])
	if uid := hostUID(t, sb.container.Pid()); uid != base {
		t.Fatalf("envd runs as host uid %d, want %d", uid, base)
	}
}

func hostUID(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := statusUID(data)
	return int(uid)
}

type mountEntry struct {
	ro     bool
	fstype string
	super  string // superblock options
}

// parseMountinfo maps mount points to their last mount in a mountinfo.
func parseMountinfo(text string) map[string]mountEntry {
	m := make(map[string]mountEntry)
	for line := range strings.SplitSeq(text, "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 10 || sep < 6 || sep+3 >= len(f) {
			continue
		}
		ro := slices.Contains(strings.Split(f[5], ","), "ro")
		m[f[4]] = mountEntry{ro: ro, fstype: f[sep+1], super: f[sep+3]}
	}
	return m
}
