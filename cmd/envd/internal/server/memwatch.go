package server

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// memWatch is envd's own OOM killer, for runtimes whose host OOM killer
// cannot tell user processes apart: under gVisor the host sees only the
// sentry, and killing it ends the sandbox. While executions run it reads
// the sandbox's memory in use every memWatchPeriod (/proc/meminfo, which
// gVisor computes for the sandbox, tmpfs files included) and, above the
// limit, SIGKILLs the largest user process (uid ≠ 0, largest resident
// set), as the kernel's OOM killer would. It is a poll, so a program may
// overshoot for a period; the host limit keeps room above the sandbox's
// for that (see nodeagent/runc).
//
// gVisor charges every process some memory of its own (a forked, idle
// Python costs about 3 MiB there, a few hundred KiB under runc): the limit
// is raised by procOverhead per live user process, so that many small
// processes meet the process limit (EAGAIN) rather than this one. Safe for
// concurrent use.
type memWatch struct {
	limit  uint64 // bytes
	mu     sync.Mutex
	active int
	wake   chan struct{}
	killed map[int][]int // pid → its groups, of processes killed for memory
}

const (
	memWatchPeriod = 20 * time.Millisecond
	memKillSettle  = 100 * time.Millisecond // after a kill, for memory to be freed
	procOverhead   = 3 << 20                // gVisor's own memory per process
)

func newMemWatch(limit uint64) *memWatch {
	w := &memWatch{limit: limit, wake: make(chan struct{}, 1), killed: make(map[int][]int)}
	go w.loop()
	return w
}

// begin marks an execution running; end undoes it.
func (w *memWatch) begin() {
	w.mu.Lock()
	w.active++
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *memWatch) end() {
	w.mu.Lock()
	w.active--
	if w.active == 0 {
		clear(w.killed)
	}
	w.mu.Unlock()
}

// killedFor reports whether the watch killed the process pid, or one
// carrying the execution gid group, since the execution began.
func (w *memWatch) killedFor(pid, group int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.killed[pid]; ok {
		return true
	}
	for _, groups := range w.killed {
		if group > 0 && hasGroup(groups, group) {
			return true
		}
	}
	return false
}

func (w *memWatch) loop() {
	for {
		w.mu.Lock()
		active := w.active
		w.mu.Unlock()
		if active == 0 {
			<-w.wake
			continue
		}
		if used, ok := memoryUsed(); ok && used > w.limit {
			if pid, groups, ok := largestUserProcess(used - w.limit); ok && w.kill(pid, groups) {
				time.Sleep(memKillSettle)
				continue
			}
		}
		time.Sleep(memWatchPeriod)
	}
}

// kill SIGKILLs pid for memory. The kill is recorded first: the
// execution's wait may return as soon as the signal lands, and killedFor
// must already say why.
func (w *memWatch) kill(pid int, groups []int) bool {
	w.mu.Lock()
	_, before := w.killed[pid]
	w.killed[pid] = groups
	w.mu.Unlock()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		if !before {
			w.mu.Lock()
			delete(w.killed, pid)
			w.mu.Unlock()
		}
		return false
	}
	return true
}

// memoryUsed reads MemTotal - MemFree from /proc/meminfo, in bytes.
func memoryUsed() (uint64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var total, free uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseUint(string(fields[0]), 10, 64)
		if err != nil {
			continue
		}
		switch string(key) {
		case "MemTotal":
			total = n << 10
		case "MemFree":
			free = n << 10
		}
	}
	return total - free, total > 0 && free <= total
}

// largestUserProcess returns the live process of a non-root uid with the
// largest resident set, and its groups, when the memory used over the
// limit (over) exceeds the allowance for the live user processes.
func largestUserProcess(over uint64) (int, []int, bool) {
	best, bestRSS, n := 0, uint64(0), uint64(0)
	var bestGroups []int
	for _, p := range readProcs() {
		if p.zombie || p.uid == 0 {
			continue
		}
		n++
		if p.rss > bestRSS {
			best, bestRSS, bestGroups = p.pid, p.rss, p.groups
		}
	}
	return best, bestGroups, best > 0 && over > n*procOverhead
}
