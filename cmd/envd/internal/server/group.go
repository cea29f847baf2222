package server

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Execution groups. Every execution's processes carry a supplementary group
// of their own: envd sets it with setgroups(2) before the program starts,
// every fork and exec inherits it, and the program cannot drop it (that needs
// CAP_SETGID, which user code never has; a new user namespace does not help,
// as the Docker seccomp profile refuses it and an unprivileged one may not
// call setgroups). Unlike a process group or a session, which setsid(2)
// leaves, the group finds every process an execution started, so a timeout
// or a cancel kills all of them and nothing of other executions.
const (
	execGroupFirst = 20000 // first execution gid; inside the container's 65536 mapped ids
	execGroupCount = 40000 // gids 20000..59999
)

// groupAllocator hands out execution gids. A gid is reused only once no
// process carries it any more: background processes of a finished
// execution keep theirs, and a later timeout must not kill them.
type groupAllocator struct {
	mu      sync.Mutex
	next    int
	inUse   map[int]bool
	wrapped bool // every gid was handed out once: check /proc before reuse
}

func newGroupAllocator() *groupAllocator {
	return &groupAllocator{inUse: make(map[int]bool)}
}

// get returns a gid no running execution and no live process has.
func (g *groupAllocator) get() (int, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var live map[int]bool
	for range execGroupCount {
		gid := execGroupFirst + g.next
		g.next++
		if g.next == execGroupCount {
			g.next, g.wrapped = 0, true
		}
		if g.inUse[gid] {
			continue
		}
		if g.wrapped {
			if live == nil {
				live = liveGroups()
			}
			if live[gid] {
				continue
			}
		}
		g.inUse[gid] = true
		return gid, true
	}
	return 0, false
}

func (g *groupAllocator) put(gid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.inUse, gid)
}

// procEntry is what envd reads of /proc/PID/status.
type procEntry struct {
	pid    int
	zombie bool
	uid    int
	rss    uint64 // bytes
	groups []int
}

// readProcs lists the processes envd sees (all of the sandbox: envd is PID
// 1 of its PID namespace). Processes that vanish while being read are
// skipped.
func readProcs() []procEntry {
	dir, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer dir.Close()
	names, _ := dir.Readdirnames(-1)
	self := os.Getpid()
	var procs []procEntry
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid == self {
			continue
		}
		data, err := os.ReadFile("/proc/" + name + "/status")
		if err != nil {
			continue
		}
		procs = append(procs, parseStatus(pid, data))
	}
	return procs
}

func parseStatus(pid int, data []byte) procEntry {
	e := procEntry{pid: pid}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch string(key) {
		case "State":
			e.zombie = bytes.HasPrefix(bytes.TrimSpace(val), []byte("Z"))
		case "Uid":
			if f := bytes.Fields(val); len(f) > 0 {
				e.uid, _ = strconv.Atoi(string(f[0]))
			}
		case "VmRSS":
			if f := bytes.Fields(val); len(f) > 0 {
				kb, _ := strconv.ParseUint(string(f[0]), 10, 64)
				e.rss = kb << 10
			}
		case "Groups":
			for f := range bytes.FieldsSeq(val) {
				if gid, err := strconv.Atoi(string(f)); err == nil {
					e.groups = append(e.groups, gid)
				}
			}
		}
	}
	return e
}

func liveGroups() map[int]bool {
	live := make(map[int]bool)
	for _, p := range readProcs() {
		if p.zombie {
			continue
		}
		for _, g := range p.groups {
			if g >= execGroupFirst && g < execGroupFirst+execGroupCount {
				live[g] = true
			}
		}
	}
	return live
}

// killGroup sends SIGKILL to every live process carrying gid until none is
// left. A process may fork between the scan and the kill; its child shows
// up in the next round, and a process with a pending SIGKILL cannot fork
// again, so the rounds end. Processes stuck in an uninterruptible sleep get
// a short while to die.
func killGroup(gid int) int {
	killed := make(map[int]bool)
	for round := 0; round < 200; round++ {
		found := 0
		for _, p := range readProcs() {
			if p.zombie || !hasGroup(p.groups, gid) {
				continue
			}
			found++
			if syscall.Kill(p.pid, syscall.SIGKILL) == nil {
				killed[p.pid] = true
			}
		}
		if found == 0 {
			return len(killed)
		}
		if round > 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return len(killed)
}

func hasGroup(groups []int, gid int) bool {
	for _, g := range groups {
		if g == gid {
			return true
		}
	}
	return false
}
