package agent

import (
	"context"
	"runtime"
	"testing"

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
