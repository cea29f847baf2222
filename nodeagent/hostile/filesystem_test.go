package hostile

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

// readHostPy tries to read host files and directories, by their host
// paths and through /proc; then looks for the host's secrets in every
// environment it can read.
const readHostPy = `SECRET, CANARYTEXT = b"@TERCES@"[::-1], b"@TXETYRANAC@"[::-1]
targets = [
    "/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/root", "/root/.ssh", "/root/.bash_history",
    "@CANARY@", "@DATADIR@", "@DATADIR@/bundles", "@DATADIR@/bundles/@ID@/config.json", "@DATADIR@/runc",
    "/proc/1/root/etc/shadow", "/proc/1/environ",
    "/var/run/docker.sock", "/run/containerd", "/var/lib", "/dev/vda", "/dev/sda", "/dev/mem", "/dev/kmem",
    "/dev/port", "/dev/kmsg",
]
for p in targets:
    try:
        if os.path.isdir(p):
            what = "listed %d entries" % len(os.listdir(p))
        else:
            with open(p, "rb") as f:
                data = f.read(4096)
            if p == "/proc/1/environ" and @EMPTYENVIRONOK@ and all(
                    kv.startswith(b"HOME=") for kv in data.split(b"\0") if kv):
                # gVisor 2022 shows every /proc/N/environ as 0444. envd runs
                # with an empty environment; runsc adds only HOME, so
                # nothing of envd's is there to read.
                ok("read " + p, "readable, holding only runsc's HOME")
                continue
            what = "read %d bytes" % len(data)
            if SECRET in data or CANARYTEXT in data:
                what += " holding the host's secret"
        bad("read " + p, what)
    except OSError as e:
        ok("read " + p, E(e.errno))
# The agent's host pid: not visible in the sandbox's pid namespace (the
# same number may name one of the sandbox's own processes).
try:
    cmd = open("/proc/@AGENTPID@/cmdline", "rb").read()
    if b".test" in cmd or b"codeint" in cmd:
        bad("pid @AGENTPID@", "the agent's process is visible: %r" % cmd)
    else:
        ok("pid @AGENTPID@", "a process of the sandbox's own")
except OSError as e:
    ok("pid @AGENTPID@", E(e.errno))
for pid in [p for p in os.listdir("/proc") if p.isdigit()] + ["1"]:
    try:
        data = open("/proc/%s/environ" % pid, "rb").read()
    except OSError:
        continue
    if SECRET in data:
        bad("environ of pid " + pid, "holds the agent's environment")
`

func TestReadHostFiles(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.victimID(t)
		res := run(t, w.a, id, agentapi.Python, py(readHostPy,
			"CANARY", env.canaryPath, "TXETYRANAC", reverse(env.canary), "DATADIR", w.dataDir, "ID", id,
			"AGENTPID", strconv.Itoa(os.Getpid()), "TERCES", reverse(env.secret),
			"EMPTYENVIRONOK", map[bool]string{true: "True", false: "False"}[w.rt == agentapi.RuntimeGVisor]), 15*time.Second)
		checkProbes(t, res)
		if shadow := hostShadowHashes(); len(shadow) > 0 {
			for _, h := range shadow {
				if strings.Contains(res.Stdout+res.Stderr, h) {
					t.Errorf("protection missing: a password hash of the host's /etc/shadow appears in the output (output withheld)")
					break
				}
			}
		}
		w.assertAnswers(t, id)
	})
}

// hostShadowHashes returns the password hashes of the host's /etc/shadow,
// to look for them in a sandbox's output (never to print them).
func hostShadowHashes() []string {
	data, err := os.ReadFile("/etc/shadow")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Split(line, ":"); len(f) > 2 && len(f[1]) > 3 {
			out = append(out, f[1])
		}
	}
	return out
}

// writeHostPy tries to change host paths the sandbox sees: the read-only
// root, the host directories bound into it, the files bound over /etc, the
// envd binary and the runtimes under /usr.
const writeHostPy = `T = "hostile-@TOK@"
DENIED = [errno.EROFS, errno.EACCES]
for p in ("/" + T, "/usr/" + T, "/usr/lib/" + T, "/usr/bin/" + T, "/etc/" + T, "/.codeint/" + T):
    must_fail("create " + p, lambda: os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)), DENIED)
must_fail("create /root/" + T, lambda: os.close(os.open("/root/" + T, os.O_WRONLY | os.O_CREAT, 0o644)), DENIED + [errno.ENOENT])
for p in ("/etc/passwd", "/etc/hosts", "/etc/ld.so.cache", "/.codeint/envd", "/usr/bin/python3", "@RUNC@", "@RUNSC@"):
    must_fail("open for writing " + p, lambda: os.close(os.open(p, os.O_WRONLY)), DENIED + [errno.ETXTBSY])
    # chmod and explicit times on a file of another owner fail with EPERM
    must_fail("chmod " + p, lambda: os.chmod(p, 0o777), DENIED + [errno.EPERM])
    must_fail("utime " + p, lambda: os.utime(p, (0, 0)), DENIED + [errno.EPERM])
must_fail("mkdir /usr/" + T, lambda: os.mkdir("/usr/" + T), DENIED)
must_fail("rename /etc/hosts", lambda: os.rename("/etc/hosts", "/etc/" + T), DENIED)
must_fail("unlink /usr/bin/python3", lambda: os.unlink("/usr/bin/python3"), DENIED)
must_fail("symlink in /etc", lambda: os.symlink("/tmp", "/etc/" + T), DENIED)
`

func TestWriteHostPaths(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.victimID(t)
		res := run(t, w.a, id, agentapi.Python, py(writeHostPy, "TOK", token(), "RUNC", runcPath, "RUNSC", env.runscPath), 15*time.Second)
		checkProbes(t, res)
		w.assertAnswers(t, id)
	})
}

// neighbourSearchPy looks for any trace of the neighbour: its canary files
// and their content anywhere in the file tree, its processes, daemon,
// secret, shared memory and abstract socket.
const neighbourSearchPy = `import socket
# Spelt backwards here: this script's own file must not hold them.
tok, secret = "@KOT@"[::-1], "@TERCES@"[::-1].encode()
skip = {"/proc", "/sys", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/dev/pts"}
seen = 0
for root, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.path.join(root, d) not in skip]
    for n in dirs + files:
        p = os.path.join(root, n)
        if tok in n:
            bad("file " + p, "the neighbour's canary is visible")
    for n in files:
        p = os.path.join(root, n)
        try:
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and st.st_size < (1 << 20):
                seen += 1
                if tok.encode() in open(p, "rb").read():
                    bad("content " + p, "holds the neighbour's canary")
        except OSError:
            pass
ok("walked", "%d files" % seen)
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    for f in ("cmdline", "environ"):
        try:
            data = open("/proc/%s/%s" % (pid, f), "rb").read()
        except OSError:
            continue
        if tok.encode() in data or secret in data:
            bad("/proc/%s/%s" % (pid, f), "shows the neighbour's process")
    try:
        for n in os.listdir("/proc/%s/root/tmp" % pid):
            if tok in n:
                bad("/proc/%s/root/tmp" % pid, "reaches the neighbour's /tmp")
    except OSError:
        pass
def shm_lookup():
    if libc.shmget(@SHMKEY@, 0, 0o600) < 0:
        n = ctypes.get_errno()
        raise OSError(n, os.strerror(n))
must_fail("look up the neighbour's SysV segment", shm_lookup, [errno.ENOENT])
try:
    if "codeint-neighbour-" + tok in open("/proc/net/unix").read():
        bad("/proc/net/unix", "lists the neighbour's socket")
except OSError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(3)
must_fail("connect to the neighbour's abstract socket", lambda: s.connect("\0codeint-neighbour-" + tok), [errno.ECONNREFUSED, errno.ENOENT])
`

func TestNeighbourFiles(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.victimID(t)
		res := run(t, w.a, id, agentapi.Python, py(neighbourSearchPy, "KOT", reverse(w.nb.token), "TERCES", reverse(w.nb.secret), "SHMKEY", w.nb.shmKey()), 20*time.Second)
		checkProbes(t, res)

		// On the host, each sandbox runs as its own range of uids: a
		// process that escaped its namespaces must not be able to signal
		// or ptrace the neighbour's. gVisor runs user code inside its
		// Sentry, not as host processes: the check applies to runc only.
		vu, nu := hostUIDs(w, id), hostUIDs(w, w.nb.id)
		switch {
		case w.rt != agentapi.RuntimeRunc:
			t.Logf("host uids: victim %v, neighbour %v", vu, nu)
		case len(vu) == 0 || len(nu) == 0:
			t.Errorf("cannot find the host processes of the victim (%v) or the neighbour (%v)", vu, nu)
		default:
			for _, u := range vu {
				if slices.Contains(nu, u) {
					t.Errorf("protection missing: the victim and the neighbour share host uid %d (victim %v, neighbour %v): each sandbox needs its own uid range", u, vu, nu)
					break
				}
			}
		}
		w.assertAnswers(t, id)
	})
}

func reverse(s string) string {
	b := []byte(s)
	slices.Reverse(b)
	return string(b)
}

// hostUIDs lists the host uids of sandbox id's processes.
func hostUIDs(w *world, id string) []int {
	var uids []int
	for _, p := range w.cgroupProcs(id) {
		if !slices.Contains(uids, p.uid) {
			uids = append(uids, p.uid)
		}
	}
	slices.Sort(uids)
	return uids
}
