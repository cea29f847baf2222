package runc

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// schedNormal is SCHED_NORMAL (SCHED_OTHER), which x/sys/unix does not name.
const schedNormal = 0

// NormalScheduling moves every thread of every process in the cgroup from
// SCHED_IDLE back to the normal policy. A start may run the runtime from an
// idle-priority thread (warm-pool refills do, so that they use only CPU
// nobody else wants), and processes inherit the policy of the thread that
// forks them; the sandbox's own processes must not. Call it once envd
// answers: by then it has made the threads it forks from. Threads of other
// policies are left alone.
func (c *Cgroup) NormalScheduling() error {
	pids, err := c.Procs()
	if err != nil {
		return fmt.Errorf("normal scheduling: %w", err)
	}
	for _, pid := range pids {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			continue // exited
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			attr, err := unix.SchedGetAttr(tid, 0)
			if err != nil || attr.Policy != unix.SCHED_IDLE {
				continue
			}
			if err := unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: schedNormal}, 0); err != nil {
				return fmt.Errorf("normal scheduling of thread %d: %w", tid, err)
			}
		}
	}
	return nil
}
