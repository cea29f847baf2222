package hostile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hostSnapshot is what checkHost compares after an attack.
type hostSnapshot struct {
	hashes       map[string]string // watchedFiles → sha256
	texts        map[string]string // hostTexts → content
	memAvailable int64             // bytes
	pids         int
}

// watchedFiles are host files no sandbox may change: the runtimes, envd,
// the host canary, /etc files the sandboxes bind or must not reach, the
// interpreter user code runs.
func watchedFiles() []string {
	files := []string{runcPath, env.runscPath, env.envdPath, env.canaryPath, "/etc/ld.so.cache", "/etc/passwd", "/etc/shadow"}
	if p, err := filepath.EvalSymlinks("/usr/bin/python3"); err == nil {
		files = append(files, p)
	}
	return files
}

// hostTexts are host kernel settings an attack might try to change
// (core_pattern and modprobe are classic escapes).
var hostTexts = []string{
	"/proc/sys/kernel/core_pattern",
	"/proc/sys/kernel/modprobe",
	"/proc/sys/kernel/hostname",
	"/proc/sys/vm/swappiness",
	"/proc/sys/net/ipv4/ip_forward",
	"/sys/class/net/lo/mtu",
}

// hostileGlobs match the files write attacks try to create on host paths.
var hostileGlobs = []string{"/hostile-*", "/usr/hostile-*", "/usr/lib/hostile-*", "/usr/bin/hostile-*", "/etc/hostile-*", "/root/hostile-*"}

func hashFiles(paths []string) map[string]string {
	out := make(map[string]string, len(paths))
	for _, p := range paths {
		out[p] = hashFile(p)
	}
	return out
}

func hashFile(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unreadable: " + err.Error()
	}
	return hex.EncodeToString(h.Sum(nil))
}

func snapshotHost(t *testing.T) hostSnapshot {
	t.Helper()
	s := hostSnapshot{hashes: hashFiles(watchedFiles()), texts: map[string]string{}}
	for _, p := range hostTexts {
		s.texts[p] = readText(p)
	}
	s.memAvailable = memAvailable(t)
	s.pids = len(hostPids())
	return s
}

func readText(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	return string(b)
}

// checkHost is check (b): the host is unharmed and the agent answers.
func (w *world) checkHost(t *testing.T, before hostSnapshot) {
	t.Helper()
	for p, h := range hashFiles(watchedFiles()) {
		if h != before.hashes[p] {
			t.Errorf("host harmed: %s changed (sha256 %s -> %s)", p, before.hashes[p], h)
		}
	}
	for _, p := range hostTexts {
		if got := readText(p); got != before.texts[p] {
			t.Errorf("host harmed: %s changed from %q to %q", p, before.texts[p], got)
		}
	}
	for _, g := range hostileGlobs {
		matches, _ := filepath.Glob(g)
		for _, m := range matches {
			t.Errorf("host harmed: a sandbox created %s on the host", m)
			os.RemoveAll(m)
		}
	}
	// Memory and pids come back once the sandbox's processes are gone.
	var mem int64
	var pids int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		mem, pids = memAvailable(t), len(hostPids())
		if (mem >= before.memAvailable/2 && pids <= before.pids+1000) || time.Now().After(deadline) {
			break
		}
	}
	if mem < before.memAvailable/2 {
		t.Errorf("host harmed: MemAvailable fell from %d MiB to %d MiB", before.memAvailable>>20, mem>>20)
	}
	if pids > before.pids+1000 {
		t.Errorf("host harmed: %d host processes, %d before the attack", pids, before.pids)
	}
	if err := exec.Command("/bin/true").Run(); err != nil {
		t.Errorf("host harmed: cannot start a process: %v", err)
	}
	ids, err := w.sandboxes(2 * time.Second)
	if err != nil {
		t.Errorf("agent harmed: Sandboxes: %v", err)
	}
	if w.nb != nil && !slices.Contains(ids, w.nb.id) {
		t.Errorf("agent lost the neighbour %s: Sandboxes = %v", w.nb.id, ids)
	}
}

// sandboxes asks the agent for its sandboxes and gives it d to answer.
func (w *world) sandboxes(d time.Duration) ([]string, error) {
	type answer struct {
		ids []string
		err error
	}
	ch := make(chan answer, 1)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	go func() {
		ids, err := w.a.Sandboxes(ctx)
		ch <- answer{ids, err}
	}()
	select {
	case a := <-ch:
		return a.ids, a.err
	case <-time.After(d):
		return nil, fmt.Errorf("no answer within %v", d)
	}
}

func memAvailable(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemAvailable:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no MemAvailable in /proc/meminfo")
	return 0
}

// hostPids lists the host's processes.
func hostPids() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// hostProc is a host process as /proc shows it.
type hostProc struct {
	pid     int
	start   string // start time in clock ticks: with pid, identifies a process
	uid     int    // real uid
	cmdline string // arguments joined by spaces
}

func procInfo(pid int) (hostProc, bool) {
	p := hostProc{pid: pid}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, false
	}
	// The command name may hold spaces and parentheses: fields count from
	// the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return p, false
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 20 {
		return p, false
	}
	p.start = fields[19] // field 22 of stat
	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, false
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "Uid:" {
			p.uid, _ = strconv.Atoi(f[1])
		}
	}
	cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	p.cmdline = strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))
	return p, true
}

// alive reports whether process p (pid and start time) still exists.
func (p hostProc) alive() bool {
	now, ok := procInfo(p.pid)
	return ok && now.start == p.start
}

// hostProcs returns the host's processes that match keep.
func hostProcs(keep func(hostProc) bool) []hostProc {
	var out []hostProc
	for _, pid := range hostPids() {
		if p, ok := procInfo(pid); ok && keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// cgroupDirs returns the cgroup directories of sandbox id that exist now,
// in every hierarchy (cgroup v1) or the unified one.
func (w *world) cgroupDirs(id string) []string {
	var dirs []string
	for _, pat := range []string{filepath.Join("/sys/fs/cgroup", w.parent, id), filepath.Join("/sys/fs/cgroup", "*", w.parent, id)} {
		matches, _ := filepath.Glob(pat)
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.IsDir() {
				dirs = append(dirs, m)
			}
		}
	}
	return dirs
}

// cgroupProcs returns the host processes in sandbox id's cgroups.
func (w *world) cgroupProcs(id string) []hostProc {
	seen := map[int]bool{}
	var procs []hostProc
	for _, d := range w.cgroupDirs(id) {
		data, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			pid, err := strconv.Atoi(f)
			if err != nil || seen[pid] {
				continue
			}
			seen[pid] = true
			if p, ok := procInfo(pid); ok {
				procs = append(procs, p)
			}
		}
	}
	return procs
}

// uidRange returns the host uids process pid's user namespace maps to
// other ids, or ok=false when it maps none (the initial namespace).
func uidRange(pid int) (lo, hi int64, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", pid))
	if err != nil {
		return 0, 0, false
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		inside, _ := strconv.ParseInt(f[0], 10, 64)
		outside, _ := strconv.ParseInt(f[1], 10, 64)
		n, _ := strconv.ParseInt(f[2], 10, 64)
		if inside == outside {
			continue // identity (the initial namespace, gVisor's nobody): no range of the sandbox's own
		}
		if !ok || outside < lo {
			lo = outside
		}
		if outside+n > hi {
			hi = outside + n
		}
		ok = true
	}
	return lo, hi, ok
}

func removeCgroupParent(parent string) {
	matches, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", parent))
	for _, m := range append(matches, filepath.Join("/sys/fs/cgroup", parent)) {
		os.Remove(m)
	}
}
