package agent

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/runc"
)

// footprint is what sandboxes leave on the host, counted.
type footprint struct {
	procs     int // processes (zombies too) running as a uid of the agent's window
	dataProcs int // processes whose command line names the data dir (runsc's sandbox and gofer)
	zombies   int // zombie children of this process
	mounts    int // mountinfo entries under the data dir
	cgroups   int // cgroup directories below the cgroup parent, all hierarchies
	bundles   int // bundle directories
	states    int // containers in the runtimes' state roots
	uidRanges int // uid ranges in use or quarantined
}

func measure(t *testing.T, a *Agent) footprint {
	t.Helper()
	var f footprint
	first, last := a.uids.window()
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		st := parseProbeStatus(status)
		if st.uid >= first && st.uid <= last {
			f.procs++
		}
		if st.ppid == self && st.zombie {
			f.zombies++
		}
		if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && bytes.Contains(cmd, []byte(a.cfg.DataDir)) {
			f.dataProcs++
		}
	}
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		f.mounts = strings.Count(string(mi), " "+a.cfg.DataDir)
	}
	bases, _ := filepath.Glob("/sys/fs/cgroup/*/" + a.cfg.CgroupParent)
	bases = append(bases, filepath.Join("/sys/fs/cgroup", a.cfg.CgroupParent))
	for _, b := range bases {
		filepath.WalkDir(b, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && p != b {
				f.cgroups++
			}
			return nil
		})
	}
	bundles, _ := a.Runtime().Bundles()
	f.bundles = len(bundles)
	for _, rt := range a.runtimes() {
		states, _ := rt.List(context.Background())
		f.states += len(states)
	}
	used, q := a.uids.counts()
	f.uidRanges = used + q
	return f
}

type statusFields struct {
	uid    uint32
	ppid   int
	zombie bool
}

func parseProbeStatus(data []byte) statusFields {
	var s statusFields
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch k {
		case "State":
			s.zombie = strings.HasPrefix(v, "Z")
		case "PPid":
			s.ppid, _ = strconv.Atoi(v)
		case "Uid":
			if f := strings.Fields(v); len(f) > 0 {
				n, _ := strconv.ParseUint(f[0], 10, 32)
				s.uid = uint32(n)
			}
		}
	}
	return s
}

// inParallel runs f(i) for i in [0, n) on workers goroutines.
func inParallel(n, workers int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// busyLoop keeps an execution running: a busy shell, a background child and
// a child in a session of its own.
const busyLoop = `setsid sleep 1000 >/dev/null 2>&1 < /dev/null &
sleep 1000 &
echo started
while true; do :; done`

// TestTeardownLeavesNothing starts and kills sandboxes, some of them in the
// middle of an execution, and counts what is left: processes, mounts,
// cgroups, bundles, runtime state, uid ranges.
func TestTeardownLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		runtime      agentapi.Runtime
		cycles, busy int
		workers      int
		busyVCPUs    float64 // the busy loops' quota: they share 2 cores
	}{
		{agentapi.RuntimeRunc, 100, 20, 4, 0.1},
		{agentapi.RuntimeGVisor, 10, 3, 2, 0.5}, // the sentry needs CPU of its own to start
	} {
		t.Run(string(tc.runtime), func(t *testing.T) {
			parent := fmt.Sprintf("codeint-teardown-%d-%s", os.Getpid(), strings.ToLower(string(tc.runtime)))
			defer removeCgroupParent(parent)
			a := newAgentWith(t, Config{CgroupParent: parent})
			before := measure(t, a)
			ctx := context.Background()

			begin := time.Now()
			inParallel(tc.cycles, tc.workers, func(i int) {
				id := fmt.Sprintf("cycle-%d", i)
				if _, err := a.StartSandbox(ctx, agentapi.StartRequest{SandboxID: id, Runtime: tc.runtime}); err != nil {
					t.Errorf("start %s: %v", id, err)
					return
				}
				if err := a.StopSandbox(ctx, id); err != nil {
					t.Errorf("stop %s: %v", id, err)
				}
			})
			took := time.Since(begin)
			t.Logf("%d create/kill cycles in %v: %.1f cycles/s (%d workers)", tc.cycles, took, float64(tc.cycles)/took.Seconds(), tc.workers)

			// Sandboxes killed in the middle of an execution.
			begin = time.Now()
			ids := make([]string, tc.busy)
			results := make(chan error, tc.busy)
			var started sync.WaitGroup
			inParallel(tc.busy, tc.workers, func(i int) {
				ids[i] = fmt.Sprintf("busy-%d", i)
				if _, err := a.StartSandbox(ctx, agentapi.StartRequest{SandboxID: ids[i], Runtime: tc.runtime, VCPUs: tc.busyVCPUs}); err != nil {
					t.Errorf("start %s: %v", ids[i], err)
					results <- nil
					return
				}
				started.Add(1)
				var once sync.Once
				go func() {
					_, err := a.Execute(ctx, ids[i], agentapi.ExecRequest{Language: agentapi.Bash, Code: busyLoop, Timeout: time.Minute},
						func(agentapi.OutputChunk) { once.Do(started.Done) })
					once.Do(started.Done)
					results <- err
				}()
			})
			started.Wait()
			t.Logf("%d busy sandboxes running after %v", tc.busy, time.Since(begin))
			mid := measure(t, a)
			if mid.procs == 0 && tc.runtime == agentapi.RuntimeRunc || mid.bundles != tc.busy {
				t.Fatalf("while busy: %+v", mid)
			}
			begin = time.Now()
			inParallel(tc.busy, tc.busy, func(i int) {
				if err := a.StopSandbox(ctx, ids[i]); err != nil {
					t.Errorf("stop %s: %v", ids[i], err)
				}
			})
			t.Logf("%d busy sandboxes stopped in %v", tc.busy, time.Since(begin))
			for range tc.busy {
				select {
				case err := <-results:
					if err == nil {
						t.Errorf("an execution of a stopped sandbox succeeded")
					}
				case <-time.After(10 * time.Second):
					t.Fatal("an execution did not return after its sandbox was stopped")
				}
			}

			runc.ReapZombies() // stragglers of the last teardown
			begin = time.Now()
			after := measure(t, a)
			t.Logf("measured in %v", time.Since(begin))
			if after != before {
				t.Fatalf("teardown left something:\nbefore %+v\nafter  %+v", before, after)
			}
			t.Logf("footprint before and after: %+v", after)
		})
	}
}
