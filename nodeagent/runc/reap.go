package runc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// SetChildSubreaper makes this process the child subreaper of everything
// it starts (prctl PR_SET_CHILD_SUBREAPER): a container's init (runc) or
// sandbox and gofer (runsc) outlive the `run --detach` that forked them and
// are re-parented to this process instead of the host's PID 1, which on
// some hosts never reaps. The process must then reap them; it must never
// wait for any child (wait4(-1)), which would steal the exit statuses
// os/exec waits for. The setting is process-wide and kept.
func SetChildSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("runc: prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	return nil
}

// Which children this process reaps, and why that steals nothing:
//
//   - the processes a container's runtime left to it, found at start: the
//     pid file's process and the other children of this process in the
//     container's cgroup (runsc's gofer). They are children from the
//     start, so their pids cannot be reused before this process reaps
//     them.
//   - zombie children that run as a non-root uid. Every sandbox process
//     does (its user namespace maps no host root; the gVisor sentry runs
//     as nobody), the agent's own commands (runc, runsc) run as root. A
//     sandbox process re-parented here when its parent died (a gVisor
//     ptrace stub) is found this way: a zombie has left its cgroup, so
//     the cgroup cannot name it. A zombie child cannot be reaped by
//     anyone else, so waiting for its pid takes exactly it.

// adoptedChildren lists the children of this process in the cgroup at
// path ("/<parent>/<id>").
func adoptedChildren(path string) []int {
	self := os.Getpid()
	var pids []int
	for _, pid := range listPids() {
		if st, err := readStat(pid); err == nil && st.ppid == self && inCgroup(pid, path) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// reap waits up to timeout for the adopted pids to exit and reaps them,
// and reaps the non-root zombie children found meanwhile. It returns the
// adopted pids still not reaped.
func reap(adopted []int, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	left := adopted
	for {
		left = waitAll(left)
		swept := ReapZombies()
		if len(left) == 0 && swept == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(delay)
		delay = min(2*delay, 20*time.Millisecond)
	}
}

// waitAll reaps those of pids that have exited and returns the others.
// ECHILD means the pid was reaped already (by a sweep) or is not a child.
func waitAll(pids []int) []int {
	var left []int
	for _, pid := range pids {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if got == pid || errors.Is(err, syscall.ECHILD) {
			continue
		}
		left = append(left, pid)
	}
	return left
}

// ReapZombies reaps every zombie child of this process that runs as a
// non-root uid: sandbox processes re-parented to the agent (see
// SetChildSubreaper). It returns how many it reaped.
func ReapZombies() int {
	self := os.Getpid()
	n := 0
	for _, pid := range listPids() {
		st, err := readStat(pid)
		if err != nil || st.ppid != self || st.state != 'Z' {
			continue
		}
		if uid, err := procUID(pid); err != nil || uid == 0 {
			continue
		}
		var ws syscall.WaitStatus
		if got, _ := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); got == pid {
			n++
		}
	}
	return n
}

func listPids() []int {
	dir, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer dir.Close()
	names, _ := dir.Readdirnames(-1)
	pids := make([]int, 0, len(names))
	for _, name := range names {
		if pid, err := strconv.Atoi(name); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procStat is what reaping needs of /proc/PID/stat.
type procStat struct {
	state byte
	ppid  int
}

// readStat parses /proc/PID/stat; the command name may hold spaces and
// parentheses, so fields are counted after the last ')'.
func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("runc: malformed /proc/%d/stat", pid)
	}
	f := bytes.Fields(data[i+1:]) // state, ppid, …
	if len(f) < 2 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("runc: malformed /proc/%d/stat", pid)
	}
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return procStat{}, fmt.Errorf("runc: malformed /proc/%d/stat: %w", pid, err)
	}
	return procStat{state: f[0][0], ppid: ppid}, nil
}

// inCgroup reports whether a /proc/PID/cgroup line names path (or a cgroup
// below it). Only live processes do: an exited one shows the root.
func inCgroup(pid int, path string) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		// hierarchy-id:controllers:path
		parts := bytes.SplitN(line, []byte(":"), 3)
		if len(parts) != 3 {
			continue
		}
		p := string(parts[2])
		if p == path || len(p) > len(path) && p[:len(path)] == path && p[len(path)] == '/' {
			return true
		}
	}
	return false
}
