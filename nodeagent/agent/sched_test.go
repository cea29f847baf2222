package agent

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

// TestStartFromIdleThreadRunsSandboxNormally: a start from a SCHED_IDLE
// thread (as warm-pool refills do) leaves the sandbox's processes, and the
// programs executions start, at the normal policy.
func TestStartFromIdleThreadRunsSandboxNormally(t *testing.T) {
	a := newAgent(t, nil)
	id := "sched-idle-start"
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_IDLE}, 0); err != nil {
			errc <- err
			return
		}
		_, err := a.StartSandbox(context.Background(), agentapi.StartRequest{SandboxID: id})
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.StopSandbox(context.Background(), id) })
	res := run(t, a, id, agentapi.ExecRequest{Language: agentapi.Python,
		Code: "import os\nprint(os.sched_getscheduler(0), os.sched_getscheduler(1))"})
	if res.Stdout != "0 0\n" {
		t.Fatalf("policies of the program and envd: %q (stderr %q), want SCHED_OTHER (0) for both", res.Stdout, res.Stderr)
	}
}

// TestSandboxesYieldTheCPUToThePlatform: with the default CPU weight of
// the sandboxes' cgroup parent, a sandbox busy on all its vCPUs leaves
// the CPU to the host's busy threads (the agent's, the server's, the
// kernel's); at a process's weight (100) it takes its part.
func TestSandboxesYieldTheCPUToThePlatform(t *testing.T) {
	host := min(runtime.NumCPU(), 4)
	for _, tc := range []struct {
		weight   uint64
		yielding bool
	}{{0, true}, {100, false}} {
		a := newAgentWith(t, Config{ParentCPUWeight: tc.weight})
		id := startSandbox(t, a, agentapi.StartRequest{VCPUs: float64(host)})
		cg, ok := a.Cgroup(id)
		if !ok {
			t.Fatal("no cgroup for a running sandbox")
		}
		done := make(chan agentapi.ExecResult, 1)
		go func() {
			done <- run(t, a, id, agentapi.ExecRequest{Language: agentapi.Bash, Timeout: 20 * time.Second,
				Code: fmt.Sprintf(`end=$((SECONDS+4)); for i in $(seq %d); do (while [ $SECONDS -lt $end ]; do :; done) & done; wait; echo done`, host)})
		}()
		time.Sleep(time.Second) // the loops are running
		before, err := cg.Usage()
		if err != nil {
			t.Fatal(err)
		}
		hostCPU := busyThreads(host, 1500*time.Millisecond)
		after, err := cg.Usage()
		if err != nil {
			t.Fatal(err)
		}
		if res := <-done; res.Stdout != "done\n" {
			t.Fatalf("busy loops: %+v", res)
		}
		ratio := float64(after.CPU-before.CPU) / float64(hostCPU)
		t.Logf("weight %d: the sandbox used %v of CPU while %d host threads used %v (ratio %.3f)",
			tc.weight, after.CPU-before.CPU, host, hostCPU, ratio)
		if tc.yielding && ratio > 0.25 || !tc.yielding && ratio < 0.5 {
			t.Fatalf("weight %d: sandbox/host CPU ratio %.3f, want %s", tc.weight, ratio,
				map[bool]string{true: "< 0.25", false: "> 0.5"}[tc.yielding])
		}
	}
}

// busyThreads keeps n OS threads busy for d and returns the CPU time they
// got.
func busyThreads(n int, d time.Duration) time.Duration {
	var wg sync.WaitGroup
	var total atomic.Int64
	deadline := time.Now().Add(d)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var b, e unix.Rusage
			_ = unix.Getrusage(unix.RUSAGE_THREAD, &b)
			for time.Now().Before(deadline) {
			}
			_ = unix.Getrusage(unix.RUSAGE_THREAD, &e)
			used := time.Duration(e.Utime.Nano()+e.Stime.Nano()-b.Utime.Nano()-b.Stime.Nano()) * time.Nanosecond
			total.Add(int64(used))
		}()
	}
	wg.Wait()
	return time.Duration(total.Load())
}
