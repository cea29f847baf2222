package hostile

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/runc"
)

// forkBombPy forks sleeping children until fork fails a few times (the pids
// limit), at most 1500, then kills them: bounded even with no limit. It
// says FORK_FAILED at the first refused fork and how many children it had
// every 16, so an execution the timeout ends still tells how far it got
// (under gVisor's ptrace platform a fork costs about 0.1 s, more on a busy
// host).
const forkBombPy = `import os, signal, time
kids, fails, why = [], 0, ""
for i in range(1500):
    try:
        pid = os.fork()
    except OSError as e:
        fails += 1
        if not why:
            why = E(e.errno)
            print("FORK_FAILED", why, "AT", len(kids), flush=True)
        if fails >= 5:
            break
        time.sleep(0.01)
        continue
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    kids.append(pid)
    if len(kids) % 16 == 0:
        print("KIDS", len(kids), flush=True)
print("KIDS", len(kids), "FAILS", fails, flush=True)
for k in kids:
    os.kill(k, signal.SIGKILL)
for k in kids:
    os.waitpid(k, 0)
`

// forkBombBash is a binary tree of subshells, 9 deep (about 1500 processes
// with no limit), its leaves sleeping: the pids limit stops it, the
// execution's timeout kills it.
const forkBombBash = `b() { if [ "$1" -ge 9 ]; then sleep 30; return; fi; b $(($1+1)) & b $(($1+1)) & wait; }
b 0`

func TestForkBomb(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.fresh(t, "forkbomb", agentapi.StartRequest{})
		t.Run("python", func(t *testing.T) {
			res := run(t, w.a, id, agentapi.Python, py(forkBombPy), 20*time.Second)
			limited := errName(res) == agentapi.LimitPids || strings.Contains(res.Stdout, "FORK_FAILED")
			most, limit := maxKids(res.Stdout), runc.DefaultPidsLimit
			if w.rt == agentapi.RuntimeGVisor {
				limit = 64 // gVisor's cap on guest processes (RLIMIT_NPROC)
			}
			switch {
			case limited:
			case res.TimedOut && most <= limit:
				// A busy host (gVisor: a fork costs some 0.1 s) can end
				// the execution before the limit is reached; it stayed
				// under the limit, and the timeout ended it.
				t.Logf("the timeout came before the pids limit, at %d children: %s", most, describe(res))
			default:
				t.Errorf("want ExecError %s or fork failures inside (the pids limit of %d): %d children: %s",
					agentapi.LimitPids, limit, most, describe(res))
			}
		})
		t.Run("bash", func(t *testing.T) {
			res := run(t, w.a, id, agentapi.Bash, forkBombBash, 5*time.Second)
			if errName(res) != agentapi.LimitPids && !strings.Contains(res.Stderr, "Resource temporarily unavailable") {
				t.Errorf("want ExecError %s or fork failures inside (the pids limit): %s", agentapi.LimitPids, describe(res))
			}
			if res.Duration > 9*time.Second {
				t.Errorf("the 5s execution took %v", res.Duration)
			}
		})
		w.assertAnswers(t, id)
	})
}

// maxKids is the largest "KIDS n" forkBombPy printed.
func maxKids(stdout string) int {
	most := 0
	for _, line := range strings.Split(stdout, "\n") {
		var n int
		if _, err := fmt.Sscanf(line, "KIDS %d", &n); err == nil {
			most = max(most, n)
		}
	}
	return most
}

// memoryBombPy touches 16 MiB chunks, at most 512 MiB: four times the
// sandbox's limit, so a missing limit ends the loop, not the host.
const memoryBombPy = `chunks = []
for i in range(32):
    chunks.append(b"\x01" * (16 << 20))
    print("ALLOC", (i + 1) * 16, flush=True)
print("NO_OOM", flush=True)
`

func TestMemoryBomb(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		const limitMB = 128
		id := w.fresh(t, "membomb", agentapi.StartRequest{MemoryMB: limitMB})
		res := run(t, w.a, id, agentapi.Python, memoryBombPy, 20*time.Second)
		if strings.Contains(res.Stdout, "NO_OOM") {
			t.Errorf("allocated 512 MiB in a %d MiB sandbox: the memory limit is not enforced: %s", limitMB, describe(res))
		}
		if errName(res) != agentapi.LimitOOM {
			t.Errorf("want ExecError %s (the kernel's OOM kill of the execution, classified from the memory cgroup's oom events): %s", agentapi.LimitOOM, describe(res))
		}
		w.assertAnswers(t, id)
	})
}

// diskFillPy writes 1 MiB at a time into /tmp and /home/user, at most
// 4 × the quota, and says how it ended.
const diskFillPy = `for d in ("/tmp", "/home/user"):
    fd = os.open(d + "/fill", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    chunk = b"\0" * (1 << 20)
    written, how = 0, "NOERROR"
    try:
        for i in range(@MAXMB@):
            written += os.write(fd, chunk)
    except OSError as e:
        how = E(e.errno)
    os.close(fd)
    print("FILL", d, how, written, flush=True)
`

var fillLine = regexp.MustCompile(`(?m)^FILL (\S+) (\S+) (\d+)$`)

func TestDiskFill(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		const quotaMB = 32
		id := w.fresh(t, "diskfill", agentapi.StartRequest{DiskMB: quotaMB})
		dataBefore := dirBytes(w.dataDir)
		var rootBefore syscall.Statfs_t
		if err := syscall.Statfs("/", &rootBefore); err != nil {
			t.Fatal(err)
		}

		res := run(t, w.a, id, agentapi.Python, py(diskFillPy, "MAXMB", strconv.Itoa(4*quotaMB)), 20*time.Second)
		fills := fillLine.FindAllStringSubmatch(res.Stdout, -1)
		if len(fills) != 2 {
			t.Fatalf("fill script: %s", describe(res))
		}
		for _, f := range fills {
			written, _ := strconv.ParseInt(f[3], 10, 64)
			if f[2] != "ENOSPC" || written > (quotaMB+1)<<20 {
				t.Errorf("filling %s: %s after %d MiB; want ENOSPC at the %d MiB quota (size-limited writable dir)", f[1], f[2], written>>20, quotaMB)
			}
		}
		// The files are still there: none of it may have reached the
		// host's disk (the agent's data dir, the root file system).
		if grew := dirBytes(w.dataDir) - dataBefore; grew > 4<<20 {
			t.Errorf("host disk: the agent's data dir grew by %d MiB while the sandbox filled its dirs", grew>>20)
		}
		var rootAfter syscall.Statfs_t
		if err := syscall.Statfs("/", &rootAfter); err == nil {
			if fell := (int64(rootBefore.Bavail) - int64(rootAfter.Bavail)) * rootAfter.Bsize; fell > 1<<30 {
				t.Errorf("host disk: / lost %d MiB of free space", fell>>20)
			}
		}

		// Best effort: a program that dies of a full disk is classified.
		res = run(t, w.a, id, agentapi.Bash, "head -c 64M /dev/zero > /tmp/fill2", 10*time.Second)
		if res.ExitCode == 0 {
			t.Errorf("writing 64 MiB more into a full /tmp succeeded: %s", describe(res))
		}
		if errName(res) != agentapi.LimitDisk {
			t.Logf("best effort: a write failing with ENOSPC is not classified %s: %s", agentapi.LimitDisk, describe(res))
		}

		res = run(t, w.a, id, agentapi.Bash, "rm -f /tmp/fill /tmp/fill2 /home/user/fill && echo FREED", 10*time.Second)
		if !strings.Contains(res.Stdout, "FREED") {
			t.Errorf("removing the fill files: %s", describe(res))
		}
		w.assertAnswers(t, id)
	})
}

// dirBytes sums the sizes of the regular files under dir.
func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func TestOutputFlood(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.victimID(t)
		t.Run("16MiB per stream", func(t *testing.T) {
			const limit = 64 << 10
			res, streamed := runStreamed(t, w.a, id, agentapi.ExecRequest{Language: agentapi.Python, Timeout: 20 * time.Second, MaxOutputBytes: limit,
				Code: "import os\nb = b'x' * 65536\nfor i in range(256):\n    os.write(1, b)\n    os.write(2, b)\n"})
			if !res.Truncated || len(res.Stdout) > limit || len(res.Stderr) > limit || streamed > 2*limit || res.ExitCode != 0 {
				t.Errorf("want exit 0, Truncated, at most %d bytes per stream; got %d+%d bytes kept, %d streamed: %s",
					limit, len(res.Stdout), len(res.Stderr), streamed, describe(res))
			}
		})
		t.Run("endless", func(t *testing.T) {
			const limit = 256 << 10
			res, streamed := runStreamed(t, w.a, id, agentapi.ExecRequest{Language: agentapi.Bash, Timeout: 2 * time.Second, MaxOutputBytes: limit,
				Code: "yes flood"})
			if errName(res) != agentapi.LimitTimeout || !res.Truncated || len(res.Stdout) > limit || streamed > 2*limit {
				t.Errorf("want TIMEOUT, Truncated, at most %d bytes; got %d kept, %d streamed: %s", limit, len(res.Stdout), streamed, describe(res))
			}
			if res.Duration > 6*time.Second {
				t.Errorf("the 2s execution took %v", res.Duration)
			}
		})
		w.assertAnswers(t, id)
	})
}

func TestInfiniteLoop(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.victimID(t)
		t.Run("wall timeout", func(t *testing.T) {
			begin := time.Now()
			res := run(t, w.a, id, agentapi.Python, "while True:\n    pass\n", 2*time.Second)
			if errName(res) != agentapi.LimitTimeout || !res.TimedOut {
				t.Errorf("want ExecError %s: %s", agentapi.LimitTimeout, describe(res))
			}
			if took := time.Since(begin); took > 5*time.Second {
				t.Errorf("the 2s execution took %v", took)
			}
		})
		t.Run("cpu time", func(t *testing.T) {
			begin := time.Now()
			res := runReq(t, w.a, id, agentapi.ExecRequest{Language: agentapi.Python, Code: "while True:\n    pass\n", Timeout: 8 * time.Second, CPUTime: time.Second})
			if errName(res) != agentapi.LimitCPUTime {
				t.Errorf("want ExecError %s (RLIMIT_CPU of 1s from ExecRequest.CPUTime): %s", agentapi.LimitCPUTime, describe(res))
			}
			if took := time.Since(begin); took > 5*time.Second {
				t.Errorf("an execution with 1s of CPU time took %v", took)
			}
		})
		w.assertAnswers(t, id)
	})
}

func TestSleepPastTimeout(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		id := w.victimID(t)
		for _, tc := range []struct {
			name string
			lang agentapi.Language
			code string
		}{
			{"bash sleep", agentapi.Bash, "sleep 60"},
			{"python ignoring SIGTERM", agentapi.Python, "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				begin := time.Now()
				res := run(t, w.a, id, tc.lang, tc.code, time.Second)
				if errName(res) != agentapi.LimitTimeout || !res.TimedOut {
					t.Errorf("want ExecError %s: %s", agentapi.LimitTimeout, describe(res))
				}
				if took := time.Since(begin); took > 4*time.Second {
					t.Errorf("the 1s execution took %v", took)
				}
			})
		}
		w.assertAnswers(t, id)
	})
}

// daemonPy double-forks a daemon into its own session that ignores the
// polite signals, keeps the execution's stdout and stderr open and sleeps
// under a marker name; the execution itself then outsleeps its timeout.
const daemonPy = `import signal, time
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)
        open("/tmp/daemon.pid", "w").write(str(os.getpid()))
        os.execv("/bin/sleep", ["hostile-daemon-@TOK@", "1000"])
    os._exit(0)
os.waitpid(pid, 0)
time.sleep(0.3)
print("DAEMONIZED", flush=True)
time.sleep(60)
`

func TestDaemonOutlivingSandbox(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		tok := token()
		marker := "hostile-daemon-" + tok
		id := w.fresh(t, "daemon", agentapi.StartRequest{})
		begin := time.Now()
		res := run(t, w.a, id, agentapi.Python, py(daemonPy, "TOK", tok), 2*time.Second)
		if errName(res) != agentapi.LimitTimeout || !strings.Contains(res.Stdout, "DAEMONIZED") {
			t.Errorf("want the daemon started and the execution ended by TIMEOUT: %s", describe(res))
		}
		if took := time.Since(begin); took > 5*time.Second {
			t.Errorf("a daemon holding the execution's stdout kept a 2s execution for %v", took)
		}
		alive := run(t, w.a, id, agentapi.Bash, `kill -0 "$(cat /tmp/daemon.pid)" 2>/dev/null && echo ALIVE || echo GONE`, 5*time.Second)
		t.Logf("inside the sandbox after the timeout the daemon is %s", strings.TrimSpace(alive.Stdout))

		// On the host: the sandbox's processes, by cgroup, by marker and by
		// host uid range.
		dirs := w.cgroupDirs(id)
		if len(dirs) == 0 {
			t.Errorf("cannot find the cgroup of %s under /sys/fs/cgroup/*/%s: the host-side check below sees nothing", id, w.parent)
		}
		procs := w.cgroupProcs(id)
		procs = append(procs, hostProcs(func(p hostProc) bool { return strings.Contains(p.cmdline, marker) })...)
		var ranges [][2]int64
		for _, p := range procs {
			if lo, hi, ok := uidRange(p.pid); ok {
				ranges = append(ranges, [2]int64{lo, hi})
			}
		}
		t.Logf("host processes of %s before stop: %d, uid ranges %v", id, len(procs), ranges)

		w.stop(t, id)
		others := map[int]bool{} // processes of the sandboxes still running
		for _, other := range []string{w.victim, nbID(w)} {
			if other != "" {
				for _, p := range w.cgroupProcs(other) {
					others[p.pid] = true
				}
			}
		}
		var left []hostProc
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			left = left[:0]
			for _, p := range procs {
				if p.alive() {
					left = append(left, p)
				}
			}
			left = append(left, hostProcs(func(p hostProc) bool {
				if others[p.pid] {
					return false
				}
				if strings.Contains(p.cmdline, marker) {
					return true
				}
				for _, r := range ranges {
					if int64(p.uid) >= r[0] && int64(p.uid) < r[1] {
						return true
					}
				}
				return false
			})...)
			if len(left) == 0 || time.Now().After(deadline) {
				break
			}
		}
		for _, p := range left {
			t.Errorf("process of the stopped sandbox survives on the host: pid %d uid %d %q", p.pid, p.uid, p.cmdline)
		}
		if dirs := w.cgroupDirs(id); len(dirs) > 0 {
			t.Errorf("cgroups of the stopped sandbox left: %v", dirs)
		}
	})
}

func nbID(w *world) string {
	if w.nb == nil {
		return ""
	}
	return w.nb.id
}

// zombiePy makes a child that forks 150 children which exit at once and
// then execs sleep, which never reaps them. Once they are zombies, the
// execution kills their parent: envd, the pid namespace's init, must reap
// the orphans.
const zombiePy = `import signal, time
def zombies():
    z = 0
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()[0] == "Z":
                z += 1
        except OSError:
            pass
    return z
r, w = os.pipe()
parent = os.fork()
if parent == 0:
    os.close(r)
    n = 0
    for i in range(@N@):
        try:
            if os.fork() == 0:
                os._exit(0)
            n += 1
        except OSError:
            break
    os.write(w, b"%d\n" % n)
    os.execv("/bin/sleep", ["sleep", "60"])
os.close(w)
made = int(os.read(r, 100) or b"0")
print("ZOMBIES", made, flush=True)
for i in range(100):
    seen = zombies()
    if seen >= made:
        break
    time.sleep(0.1)
print("SEEN", seen, flush=True)
os.kill(parent, signal.SIGKILL)
os.waitpid(parent, 0)
`

const zombieCountPy = `import time
for attempt in range(50):
    z = 0
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()[0] == "Z":
                z += 1
        except OSError:
            pass
    if z == 0:
        break
    time.sleep(0.1)
print("LEFT", z, flush=True)
kids = []
for i in range(@N@):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    kids.append(pid)
for k in kids:
    os.waitpid(k, 0)
print("FORKED", len(kids), flush=True)
`

func TestZombieStorm(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, w *world) {
		// As many zombies as the sandbox may hold processes: runc's pids
		// limit is 256; gVisor caps a sandbox at 64 guest processes
		// (RLIMIT_NPROC, since every guest process costs a host one under
		// ptrace), and envd, python and the parent take some of them.
		n := 150
		if w.rt == agentapi.RuntimeGVisor {
			n = 48
		}
		id := w.fresh(t, "zombies", agentapi.StartRequest{})
		res := run(t, w.a, id, agentapi.Python, py(zombiePy, "N", strconv.Itoa(n)), 20*time.Second)
		var made, seen int
		fmt.Sscanf(lineWith(res.Stdout, "ZOMBIES "), "ZOMBIES %d", &made)
		fmt.Sscanf(lineWith(res.Stdout, "SEEN "), "SEEN %d", &seen)
		if made < n*2/3 || seen < made || res.ExitCode != 0 {
			t.Errorf("want %d+ zombies made and seen: %s", n*2/3, describe(res))
		}
		res = run(t, w.a, id, agentapi.Python, py(zombieCountPy, "N", strconv.Itoa(n)), 15*time.Second)
		if !strings.Contains(res.Stdout, "LEFT 0\n") || !strings.Contains(res.Stdout, fmt.Sprintf("FORKED %d\n", n)) {
			t.Errorf("after the timeout the zombies must be reaped (envd is the pid namespace's init) and their pids free: %s", describe(res))
		}
		w.assertAnswers(t, id)
	})
}

// lineWith returns the first line of s that starts with prefix.
func lineWith(s, prefix string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}
