package hostile

import (
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

// fdLeaksPy looks for file descriptors that reach the host, as in
// CVE-2024-21626 (runc leaked a descriptor of the host's /sys/fs/cgroup,
// and a process started with its cwd under /proc/self/fd/N walked up to the
// host's root). It checks the user code's own descriptors and envd's, their
// targets and where a cwd under each directory descriptor leads.
const fdLeaksPy = `DATADIR = "@DATADIR@"
root = os.stat("/")
cwd = os.getcwd()
if cwd.startswith("(unreachable)") or not os.path.isdir(cwd):
    bad("cwd", "the execution starts in %r, outside the container's root" % cwd)
else:
    ok("cwd", cwd)

def reachable(link):
    # A descriptor's path must name the same file inside the container.
    target = os.readlink(link)
    if not target.startswith("/"):
        return target, True  # pipe:, socket:, anon_inode:
    if DATADIR in target or "/sys/fs/cgroup" in target or "runc" in target or "runsc" in target:
        return target, False
    if target.endswith(" (deleted)"):
        return target, True
    try:
        a, b = os.stat(link), os.stat(target)
    except OSError:
        return target, False
    return target, (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)

def walks_out(path):
    # chdir into path, then up as far as it goes: must end at our own root.
    try:
        os.chdir(path)
        for _ in range(40):
            os.chdir("..")
        here = os.stat(".")
        return (here.st_dev, here.st_ino) != (root.st_dev, root.st_ino)
    except OSError:
        return False
    finally:
        os.chdir(cwd)

for pid in ("self", "1"):
    base = "/proc/%s/fd" % pid
    try:
        fds = os.listdir(base)
    except OSError as e:
        ok("list " + base, E(e.errno))
        continue
    for fd in fds:
        link = base + "/" + fd
        try:
            target, fine = reachable(link)
        except OSError:
            continue  # the descriptor listdir itself used
        if pid == "self" and int(fd) > 2:
            bad("fd %s of user code" % fd, "inherited from envd: %s" % target)
        elif not fine:
            bad(link, "reaches outside the container: %s" % target)
        else:
            ok(link, target)
        try:
            isdir = stat.S_ISDIR(os.stat(link).st_mode)
        except OSError:
            isdir = False
        if isdir and walks_out(link):
            bad("cwd under " + link, "climbs to a root that is not the container's")
for link in ("/proc/self/cwd", "/proc/self/root", "/proc/1/cwd", "/proc/1/root"):
    try:
        target, fine = reachable(link)
    except OSError as e:
        ok(link, E(e.errno))
        continue
    if not fine or walks_out(link):
        bad(link, "reaches outside the container: %s" % target)
    else:
        ok(link, target)
`

func TestFDLeaks(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.victimID(t)
		checkProbes(t, run(t, w.a, id, agentapi.Python, py(fdLeaksPy, "DATADIR", w.dataDir), 10*time.Second))
		w.assertAnswers(t, id)
	})
}

// selfExePy tries to open the running binaries for writing (CVE-2019-5736:
// a container overwrote the host's runc through /proc/self/exe), directly,
// and by reopening a read-only or O_PATH descriptor through /proc/self/fd;
// and to open envd's stdio, the agent's channel into the sandbox. A
// descriptor that opens is closed at once, nothing is written.
const selfExePy = `WRITE_ERRS = [errno.ETXTBSY, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT]
for p in ("/proc/self/exe", "/proc/1/exe", "/.codeint/envd", "@RUNC@", "@RUNSC@"):
    must_fail("open %s for writing" % p, lambda: os.close(os.open(p, os.O_WRONLY)), WRITE_ERRS)
    for flags in (os.O_RDONLY, os.O_PATH):
        try:
            fd = os.open(p, flags)
        except OSError:
            continue
        must_fail("reopen %s through /proc/self/fd for writing" % p, lambda: os.close(os.open("/proc/self/fd/%d" % fd, os.O_WRONLY)), WRITE_ERRS)
        os.close(fd)
# envd's stdin and stdout are the agent's channel: user code must not
# reach them (reading would steal the agent's frames, writing forge them).
must_fail("open envd's stdin (/proc/1/fd/0)", lambda: os.close(os.open("/proc/1/fd/0", os.O_RDONLY | os.O_NONBLOCK)), [errno.EACCES, errno.EPERM, errno.ENOENT])
must_fail("open envd's stdout (/proc/1/fd/1)", lambda: os.close(os.open("/proc/1/fd/1", os.O_WRONLY | os.O_NONBLOCK)), [errno.EACCES, errno.EPERM, errno.ENOENT])
`

func TestOverwriteRuntime(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.victimID(t)
		checkProbes(t, run(t, w.a, id, agentapi.Python, py(selfExePy, "RUNC", runcPath, "RUNSC", env.runscPath), 10*time.Second))
		// The sha256 of runc, runsc and envd are compared after every case
		// (checkHost) and after the whole suite (TestMain).
		w.assertAnswers(t, id)
	})
}

// signalEnvdPy signals envd, PID 1 of the sandbox, with everything that
// could end or stop it, then every process it may signal (kill -1).
const signalEnvdPy = `import signal
for s in (signal.SIGSTOP, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGUSR1,
          signal.SIGUSR2, signal.SIGPIPE, signal.SIGALRM, signal.SIGSEGV, signal.SIGABRT, signal.SIGKILL):
    try:
        os.kill(1, s)
        print("INFO kill(1, %s): delivered" % s.name, flush=True)
    except OSError as e:
        print("INFO kill(1, %s): %s" % (s.name, E(e.errno)), flush=True)
`

func TestSignalEnvd(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.fresh(t, "signals", agentapi.StartRequest{})
		res := run(t, w.a, id, agentapi.Python, py(signalEnvdPy), 10*time.Second)
		t.Logf("signals to envd:\n%s", res.Stdout)
		w.assertAnswers(t, id)
		if t.Failed() {
			return
		}
		res = run(t, w.a, id, agentapi.Bash, "kill -9 -1; sleep 5; echo SURVIVED", 10*time.Second)
		t.Logf("kill -9 -1: %s", describe(res))
		w.assertAnswers(t, id)
	})
}
