package server

import (
	"os/exec"
	"testing"
)

// TestMemWatchKillIsKnownWhenTheWaitReturns: the kill is on record by the
// time the killed process can be reaped, so an execution whose wait
// returns at once is still named OOM_KILLED; a kill that fails is not
// recorded.
func TestMemWatchKillIsKnownWhenTheWaitReturns(t *testing.T) {
	w := &memWatch{wake: make(chan struct{}, 1), killed: make(map[int][]int)}
	for i := range 50 {
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		waited := make(chan bool)
		go func() {
			_ = cmd.Wait()
			waited <- w.killedFor(pid, 0)
		}()
		if !w.kill(pid, []int{1234}) {
			t.Fatalf("round %d: kill of a live process failed", i)
		}
		if !<-waited {
			t.Fatalf("round %d: the wait returned before the kill was on record", i)
		}
		if !w.killedFor(0, 1234) {
			t.Fatalf("round %d: a process of the killed one's group is not named", i)
		}
		w.active = 1
		w.end()
	}
	// A process that is gone cannot be killed, and is not recorded.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if w.kill(cmd.Process.Pid, nil) || w.killedFor(cmd.Process.Pid, 0) {
		t.Fatal("a failed kill was recorded")
	}
}
