package hostile

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"golang.org/x/sys/unix"
)

// privilegesPy checks what user code runs with: an unprivileged uid, no
// capabilities, no new privileges, a seccomp filter (runc; gVisor filters
// in its Sentry), setuid bits ignored.
const privilegesPy = `if (os.getuid(), os.geteuid(), os.getgid(), os.getegid()) != (1000, 1000, 1000, 1000):
    bad("uid", "user code runs as uid %d/%d gid %d/%d, want 1000" % (os.getuid(), os.geteuid(), os.getgid(), os.getegid()))
else:
    ok("uid", "1000")
caps = {}
for line in open("/proc/self/status"):
    k, _, v = line.partition(":")
    if k.startswith("Cap"):
        caps[k] = int(v.strip(), 16)
for k in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
    if caps.get(k, 0) != 0:
        bad(k, "%x: user code holds capabilities" % caps[k])
    else:
        ok(k, "0")
nnp = libc.prctl(39, 0, 0, 0, 0)  # PR_GET_NO_NEW_PRIVS
if nnp != 1:
    bad("no_new_privs", "is %d" % nnp)
else:
    ok("no_new_privs", "1")
mode = libc.prctl(21, 0, 0, 0, 0)  # PR_GET_SECCOMP
if @RUNC@ and mode != 2:
    bad("seccomp", "mode %d, want 2 (filter): no seccomp profile" % mode)
else:
    ok("seccomp", "mode %d" % mode)
must_fail("setuid(0)", lambda: sys_call(105, ctypes.c_int(0)), [errno.EPERM])
# gVisor's mountinfo shows no nosuid: there no_new_privs above is what
# keeps the host's setuid binaries from raising privileges.
for line in open("/proc/self/mountinfo"):
    f = line.split()
    if f[4] != "/usr":
        continue
    if "nosuid" in f[5].split(","):
        ok("/usr nosuid")
    elif @RUNC@:
        bad("/usr nosuid", "/usr is mounted %s: the host's setuid binaries keep their bit" % f[5])
`

func TestPrivileges(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.victimID(t)
		isRunc := "False" // what holds under runc only: the host kernel's view
		if w.rt == agentapi.RuntimeRunc {
			isRunc = "True"
		}
		checkProbes(t, run(t, w.a, id, agentapi.Python, py(privilegesPy, "RUNC", isRunc), 10*time.Second))
		w.assertAnswers(t, id)
	})
}

// procSysPy goes for the kernel's knobs through /proc and /sys. Every write
// writes back what it read (or "h", help, to sysrq): harmless should a
// protection be missing.
const procSysPy = `def read_some(p):
    with open(p, "rb") as f:
        return f.read(64)
try:
    d = read_some("/proc/kcore")
    if d:
        bad("read /proc/kcore", "%d bytes of kernel memory" % len(d))
    else:
        ok("read /proc/kcore", "empty (masked)")
except OSError as e:
    ok("read /proc/kcore", E(e.errno))
must_fail("open /proc/kmsg", lambda: os.close(os.open("/proc/kmsg", os.O_RDONLY | os.O_NONBLOCK)))
buf = ctypes.create_string_buffer(1 << 16)
r = libc.syscall(ctypes.c_long(103), ctypes.c_int(3), buf, ctypes.c_int(len(buf)))  # syslog(READ_ALL)
if r < 0:
    ok("syslog", E(ctypes.get_errno()))
elif b"@HOSTREL@" in buf.raw[:r]:
    bad("syslog", "reads the host kernel's log")
else:
    ok("syslog", "a log of the sandbox's own kernel")

def write_same(p):
    with open(p, "rb") as f:
        cur = f.read()
    with open(p, "wb") as f:
        f.write(cur if cur else b"\n")

for p in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe", "/proc/sys/kernel/hostname",
          "/proc/sys/kernel/panic", "/proc/sys/vm/swappiness", "/proc/sys/net/ipv4/ip_forward",
          "/sys/class/net/lo/mtu", "/sys/kernel/uevent_helper", "/sys/kernel/mm/ksm/run",
          "/sys/kernel/profiling", "/proc/1/oom_score_adj"):
    must_fail("write " + p, lambda: write_same(p))

def sysrq():
    with open("/proc/sysrq-trigger", "wb") as f:
        f.write(b"h")
must_fail("write /proc/sysrq-trigger", sysrq)

# Under runc these need capabilities user code lacks. gVisor lets them
# through inside its Sentry, where they reach nothing of the host: its
# oom_score_adj is bookkeeping (the host's OOM killer sees the Sentry's own,
# which the test checks on the host), and a device node opens gVisor's
# device table, not the host's.
def oom_immune():
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write("-1000")
def sentry_only(name, fn, reach=None):
    try:
        fn()
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            ok(name, E(e.errno))
        else:
            bad(name, "failed with %s, want EPERM/EACCES" % E(e.errno))
        return
    if not @GVISOR@:
        bad(name, "succeeded")
        return
    try:
        data = reach() if reach else b""
    except OSError as e:
        data = b""
    if data:
        bad(name, "succeeded, and the node reads %d bytes of a device" % len(data))
    else:
        print("INFO", name, "succeeded inside gVisor's Sentry, reaching nothing of the host", flush=True)
def read_node(p):
    with open(p, "rb") as f:
        return f.read(512)
disk, mem = "/tmp/disk-@TOK@", "/tmp/mem-@TOK@"
sentry_only("oom_score_adj -1000", oom_immune)
sentry_only("mknod the host's root disk", lambda: os.mknod(disk, stat.S_IFBLK | 0o600, os.makedev(@MAJOR@, @MINOR@)), lambda: read_node(disk))
sentry_only("mknod /dev/mem", lambda: os.mknod(mem, stat.S_IFCHR | 0o600, os.makedev(1, 1)), lambda: read_node(mem))
`

func TestProcAndSys(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.victimID(t)
		var st unix.Stat_t
		if err := unix.Stat("/", &st); err != nil {
			t.Fatal(err)
		}
		gvisor := "False"
		if w.rt == agentapi.RuntimeGVisor {
			gvisor = "True"
		}
		oomBefore := w.oomScores(id)
		res := run(t, w.a, id, agentapi.Python, py(procSysPy, "HOSTREL", env.hostRelease, "TOK", token(), "GVISOR", gvisor,
			"MAJOR", strconv.FormatUint(uint64(unix.Major(st.Dev)), 10), "MINOR", strconv.FormatUint(uint64(unix.Minor(st.Dev)), 10)), 10*time.Second)
		checkProbes(t, res)
		// Whatever the probe got inside, no host process of the sandbox
		// became less likely to be the host OOM killer's victim (envd's
		// own protection is set at start, before the snapshot).
		for pid, adj := range w.oomScores(id) {
			if was, ok := oomBefore[pid]; (ok && adj < was) || (!ok && adj < 0) {
				t.Errorf("protection missing: host process %d of the sandbox lowered its oom_score_adj to %d", pid, adj)
			}
		}
		w.assertAnswers(t, id)
	})
}

// mountPy tries every kind of mount, and mount(8), which is setuid root on
// the host.
const mountPy = `import subprocess
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC = 1, 32, 4096, 16384
def mount(src, tgt, fstype, flags, data):
    sys_call(165, ctypes.c_char_p(src), ctypes.c_char_p(tgt), ctypes.c_char_p(fstype), ctypes.c_ulong(flags), ctypes.c_char_p(data))
base = "/tmp/mnt-@TOK@"
for n in ("tmpfs", "proc", "bind", "cgroup", "sysfs", "cmd"):
    os.makedirs(base + "/" + n)
before = open("/proc/self/mountinfo").read()
B = base.encode()
must_fail("mount tmpfs", lambda: mount(b"none", B + b"/tmpfs", b"tmpfs", 0, None))
must_fail("mount proc", lambda: mount(b"proc", B + b"/proc", b"proc", 0, None))
must_fail("mount sysfs", lambda: mount(b"sysfs", B + b"/sysfs", b"sysfs", 0, None))
must_fail("mount cgroup v1 (release_agent)", lambda: mount(b"cgroup", B + b"/cgroup", b"cgroup", 0, b"memory"))
must_fail("bind-mount /", lambda: mount(b"/", B + b"/bind", None, MS_BIND | MS_REC, None))
must_fail("remount /usr read-write", lambda: mount(None, b"/usr", None, MS_REMOUNT | MS_BIND, None))
must_fail("remount / read-write", lambda: mount(None, b"/", None, MS_REMOUNT, None))
must_fail("umount /etc/ld.so.cache", lambda: sys_call(166, ctypes.c_char_p(b"/etc/ld.so.cache"), ctypes.c_int(2)))
r = subprocess.run(["mount", "-t", "tmpfs", "none", base + "/cmd"], capture_output=True, text=True)
if r.returncode == 0:
    bad("mount(8) tmpfs", "succeeded")
else:
    ok("mount(8) tmpfs", r.stderr.strip())
if open("/proc/self/mountinfo").read() != before:
    bad("mountinfo", "the mount table changed")
`

func TestMount(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.victimID(t)
		checkProbes(t, run(t, w.a, id, agentapi.Python, py(mountPy, "TOK", token()), 10*time.Second))
		w.assertAnswers(t, id)
	})
}

// unsharePy tries each namespace in a child. A denied unshare is fine; an
// allowed one must give no power beyond the sandbox: its locked read-only
// mounts stay read-only and mounted, cgroup v1 (release_agent) cannot be
// mounted, the kernel's knobs and modules stay out of reach.
const unsharePy = `NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWNET = 0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x40000000
MS_REMOUNT, MS_BIND = 32, 4096
def mount(src, tgt, fstype, flags, data):
    sys_call(165, ctypes.c_char_p(src), ctypes.c_char_p(tgt), ctypes.c_char_p(fstype), ctypes.c_ulong(flags), ctypes.c_char_p(data))
base = b"/tmp/unshare-@TOK@"
os.makedirs(base + b"/cg")
os.makedirs(base + b"/tmpfs")
try:
    core = open("/proc/sys/kernel/core_pattern", "rb").read()
except OSError:
    core = b"core\n"  # gVisor has no core_pattern
module = ctypes.create_string_buffer(b"\x7fELF" + b"\0" * 60)
uid, gid = os.getuid(), os.getgid()
variants = [("user", NEWUSER), ("user+mount", NEWUSER | NEWNS), ("user+net", NEWUSER | NEWNET),
            ("user+all", NEWUSER | NEWNS | NEWNET | NEWIPC | NEWUTS | NEWCGROUP),
            ("mount", NEWNS), ("net", NEWNET), ("ipc", NEWIPC), ("uts", NEWUTS), ("cgroup", NEWCGROUP)]

def powers(name):
    n = "unshare " + name + ": "
    must_fail(n + "remount /usr read-write", lambda: mount(None, b"/usr", None, MS_REMOUNT | MS_BIND, None))
    must_fail(n + "remount / read-write", lambda: mount(None, b"/", None, MS_REMOUNT, None))
    must_fail(n + "create /usr/hostile-@TOK@", lambda: os.close(os.open("/usr/hostile-@TOK@", os.O_WRONLY | os.O_CREAT, 0o644)))
    must_fail(n + "unmount the locked /etc/ld.so.cache", lambda: sys_call(166, ctypes.c_char_p(b"/etc/ld.so.cache"), ctypes.c_int(2)))
    must_fail(n + "mount cgroup v1 (release_agent)", lambda: mount(b"cgroup", base + b"/cg", b"cgroup", 0, b"memory"))
    if os.path.exists(base + b"/cg/release_agent"):
        must_fail(n + "write release_agent (CVE-2022-0492)", lambda: open(base + b"/cg/release_agent", "wb").write(open(base + b"/cg/release_agent", "rb").read()))
    must_fail(n + "write core_pattern", lambda: open("/proc/sys/kernel/core_pattern", "wb").write(core))
    # ENOSYS: a host kernel without module support; TestKernelModules wants EPERM.
    must_fail(n + "init_module", lambda: sys_call(175, module, ctypes.c_ulong(64), ctypes.c_char_p(b"")), [errno.EPERM, errno.ENOSYS])
    must_fail(n + "read /etc/shadow", lambda: open("/etc/shadow").read())
    try:
        mount(b"none", base + b"/tmpfs", b"tmpfs", 0, None)
        print("INFO", n, "tmpfs mounted in its own mount namespace (harmless)", flush=True)
    except OSError as e:
        print("INFO", n, "tmpfs:", E(e.errno), flush=True)

for name, flags in variants:
    pid = os.fork()
    if pid == 0:
        try:
            denied = None
            try:
                sys_call(272, ctypes.c_int(flags))
            except OSError as e:
                denied = e
            if denied is not None:
                ok("unshare " + name, "denied: " + E(denied.errno))
            else:
                print("INFO unshare", name, "allowed: checking it gives no power", flush=True)
                if flags & NEWUSER:
                    for f, d in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", "0 %d 1" % uid), ("/proc/self/gid_map", "0 %d 1" % gid)):
                        try:
                            with open(f, "w") as fh:
                                fh.write(d)
                        except OSError as e:
                            print("INFO", name, f, E(e.errno), flush=True)
                powers(name)
        except BaseException as e:
            bad("unshare " + name, "probe crashed: %r" % e)
        finally:
            sys.stdout.flush()
            os._exit(0)
    os.waitpid(pid, 0)
`

func TestUnshare(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.victimID(t)
		checkProbes(t, run(t, w.a, id, agentapi.Python, py(unsharePy, "TOK", token()), 15*time.Second))
		w.assertAnswers(t, id)
	})
}

// ptracePy looks for host processes (a sleep the test started, the agent)
// and tries to trace them and envd, PID 1 of the sandbox. PTRACE_SEIZE does
// not stop a tracee, and the tracer's exit detaches it.
const ptracePy = `PTRACE_SEIZE = 0x4206
def seize(pid):
    sys_call(101, ctypes.c_long(PTRACE_SEIZE), ctypes.c_long(pid), None, None)
for p in [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        cmd = open("/proc/%s/cmdline" % p, "rb").read()
    except OSError:
        continue
    if b"@SLEEPARG@" in cmd or b".test" in cmd:
        bad("pid " + p, "a host process is visible: %r" % cmd)
for name, pid in (("host sleep", @HOSTPID@), ("agent", @AGENTPID@)):
    if os.path.exists("/proc/%d" % pid):
        ok(name, "pid %d is one of the sandbox's own" % pid)
        continue
    must_fail("ptrace the " + name, lambda: seize(pid), [errno.ESRCH, errno.EPERM])
    must_fail("kill -0 the " + name, lambda: os.kill(pid, 0), [errno.ESRCH])

class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
local = ctypes.create_string_buffer(16)
liov, riov = iovec(ctypes.cast(local, ctypes.c_void_p), 16), iovec(0x400000, 16)
must_fail("process_vm_readv envd", lambda: sys_call(310, ctypes.c_int(1), ctypes.byref(liov), ctypes.c_ulong(1), ctypes.byref(riov), ctypes.c_ulong(1), ctypes.c_ulong(0)),
          [errno.EPERM, errno.EACCES, errno.ESRCH, errno.ENOSYS])
must_fail("open /proc/1/mem", lambda: open("/proc/1/mem", "rb"), [errno.EACCES, errno.EPERM])
must_fail("ptrace envd", lambda: seize(1), [errno.EPERM, errno.EACCES])
`

func TestPtrace(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.victimID(t)
		const sleepArg = "424242"
		sleeper := exec.Command("/bin/sleep", sleepArg)
		if err := sleeper.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			sleeper.Process.Kill()
			sleeper.Wait()
		}()
		res := run(t, w.a, id, agentapi.Python, py(ptracePy, "SLEEPARG", sleepArg,
			"HOSTPID", strconv.Itoa(sleeper.Process.Pid), "AGENTPID", strconv.Itoa(os.Getpid())), 10*time.Second)
		checkProbes(t, res)
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", sleeper.Process.Pid))
		if err != nil {
			t.Errorf("host process harmed: the host's sleep is gone: %v", err)
		} else if !strings.Contains(string(status), "TracerPid:\t0\n") {
			t.Errorf("host process harmed: the host's sleep is traced:\n%s", status)
		}
		w.assertAnswers(t, id)
	})
}

// modulesPy calls what insmod and rmmod would (they are not in the image):
// init_module, finit_module, delete_module of a module that does not exist.
const modulesPy = `module = ctypes.create_string_buffer(b"\x7fELF" + b"\0" * 60)
must_fail("init_module", lambda: sys_call(175, module, ctypes.c_ulong(64), ctypes.c_char_p(b"")), [errno.EPERM])
fd = os.open("/dev/null", os.O_RDONLY)
must_fail("finit_module", lambda: sys_call(313, ctypes.c_int(fd), ctypes.c_char_p(b""), ctypes.c_int(0)), [errno.EPERM])
must_fail("delete_module", lambda: sys_call(176, ctypes.c_char_p(b"codeint_hostile_none"), ctypes.c_uint(os.O_NONBLOCK)), [errno.EPERM])
`

func TestKernelModules(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.victimID(t)
		before := readText("/proc/modules")
		checkProbes(t, run(t, w.a, id, agentapi.Python, py(modulesPy), 10*time.Second))
		if after := readText("/proc/modules"); moduleNames(after) != moduleNames(before) {
			t.Errorf("host harmed: the loaded kernel modules changed:\n%s\n->\n%s", moduleNames(before), moduleNames(after))
		}
		w.assertAnswers(t, id)
	})
}

func moduleNames(modules string) string {
	var names []string
	for _, line := range strings.Split(modules, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return strings.Join(names, " ")
}

// oomScores returns the oom_score_adj of sandbox id's host processes.
func (w *world) oomScores(id string) map[int]int {
	scores := map[int]int{}
	for _, p := range w.cgroupProcs(id) {
		if adj, err := strconv.Atoi(strings.TrimSpace(readText(fmt.Sprintf("/proc/%d/oom_score_adj", p.pid)))); err == nil {
			scores[p.pid] = adj
		}
	}
	return scores
}
