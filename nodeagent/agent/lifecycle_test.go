package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/nodeagent/agentapi"
	"golang.org/x/sys/unix"
)

func TestStopSandbox(t *testing.T) {
	exits := newExitRecorder()
	a := newAgent(t, exits.onExit)
	id := startSandbox(t, a, agentapi.StartRequest{VCPUs: 1.5, MemoryMB: 384})
	if ids, _ := a.Sandboxes(context.Background()); len(ids) != 1 || ids[0] != id {
		t.Fatalf("Sandboxes = %v", ids)
	}
	if u := a.Usage(); u != (Usage{VCPUs: 1.5, MemoryMB: 384, Sandboxes: 1}) {
		t.Fatalf("Usage = %+v", u)
	}
	if _, err := a.StartSandbox(context.Background(), agentapi.StartRequest{SandboxID: id}); !errors.Is(err, ErrSandboxExists) {
		t.Fatalf("second StartSandbox of %s: %v, want ErrSandboxExists", id, err)
	}

	// A double fork into a new session escapes envd's process group; it
	// must still not survive the sandbox.
	res := run(t, a, id, agentapi.ExecRequest{Language: agentapi.Python, Code: `import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1000)
    os._exit(0)
os.wait()
print("forked")`})
	if res.Stdout != "forked\n" {
		t.Fatalf("double fork: %+v", res)
	}
	pids := cgroupPids(t, a, id)
	if len(pids) < 2 { // envd and the sleeper
		t.Fatalf("pids in the sandbox's cgroup: %v", pids)
	}

	if err := a.StopSandbox(context.Background(), id); err != nil {
		t.Fatalf("StopSandbox: %v", err)
	}
	assertNoTrace(t, a, id)
	if u := a.Usage(); u != (Usage{}) {
		t.Fatalf("Usage after the stop = %+v", u)
	}
	for _, pid := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			t.Errorf("process %d of the sandbox survived StopSandbox", pid)
		}
	}
	if err := a.StopSandbox(context.Background(), id); err != nil {
		t.Fatalf("second StopSandbox: %v", err)
	}
	if _, err := a.Execute(context.Background(), id, agentapi.ExecRequest{Language: agentapi.Bash, Code: "true"}, nil); !errors.Is(err, ErrUnknownSandbox) {
		t.Fatalf("Execute after stop: %v, want ErrUnknownSandbox", err)
	}
	if ids, _ := a.Sandboxes(context.Background()); len(ids) != 0 {
		t.Fatalf("Sandboxes after stop = %v", ids)
	}
	time.Sleep(100 * time.Millisecond)
	if n := exits.count(); n != 0 {
		t.Fatalf("OnExit called %d times for a sandbox stopped on request", n)
	}
}

// cgroupPids returns the host pids in the sandbox's pids cgroup.
func cgroupPids(t *testing.T, a *Agent, id string) []int {
	t.Helper()
	dirs, err := a.Runtime().CgroupDirs(id)
	if err != nil || len(dirs) == 0 {
		t.Fatalf("cgroup dirs: %v %v", dirs, err)
	}
	var pids []int
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		if len(pids) > 0 {
			return pids
		}
	}
	return pids
}

func TestUnknownSandboxAndBadRequests(t *testing.T) {
	a := newAgent(t, nil)
	if _, err := a.Execute(context.Background(), "nope", agentapi.ExecRequest{Language: agentapi.Bash, Code: "true"}, nil); !errors.Is(err, ErrUnknownSandbox) {
		t.Fatalf("Execute: %v", err)
	}
	if err := a.StopSandbox(context.Background(), "nope"); err != nil {
		t.Fatalf("StopSandbox of an unknown sandbox: %v", err)
	}
	for _, req := range []agentapi.StartRequest{
		{SandboxID: "../etc"},
		{SandboxID: "ok", Template: "nope"},
		{SandboxID: "ok", Env: map[string]string{"A=B": "c"}},
		{SandboxID: "ok", Runtime: "KATA"},
	} {
		if _, err := a.StartSandbox(context.Background(), req); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("StartSandbox(%+v): %v, want ErrInvalidRequest", req, err)
		}
	}
	if ids, _ := a.Sandboxes(context.Background()); len(ids) != 0 {
		t.Fatalf("Sandboxes = %v", ids)
	}
}

func TestOnExitWhenKilledFromOutside(t *testing.T) {
	for _, rtm := range runtimes() {
		t.Run(string(rtm), func(t *testing.T) {
			t.Parallel()
			exits := newExitRecorder()
			a := newAgent(t, exits.onExit)
			id := startSandbox(t, a, agentapi.StartRequest{Runtime: rtm})
			rt, _ := a.RuntimeFor(rtm)
			kill := exec.Command(rt.Path(), "--root", rt.StateDir(), "kill", id, "KILL")
			if out, err := kill.CombinedOutput(); err != nil {
				t.Fatalf("%s kill: %v: %s", rt.Kind(), err, out)
			}
			select {
			case got := <-exits.ch:
				if got != id+" "+structs.StopReasonExited {
					t.Fatalf("OnExit(%s)", got)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("OnExit not called after the container was killed")
			}
			assertNoTrace(t, a, id)
			if err := a.StopSandbox(context.Background(), id); err != nil {
				t.Fatalf("StopSandbox after exit: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
			if n := exits.count(); n != 1 {
				t.Fatalf("OnExit called %d times", n)
			}
		})
	}
}

// TestRuntimeUnavailable: without runsc, GVISOR starts fail with
// agentapi.ErrRuntimeUnavailable and say what to install; runc still works.
func TestRuntimeUnavailable(t *testing.T) {
	a := newAgentWith(t, Config{RunscPath: "/nonexistent/runsc"})
	_, err := a.StartSandbox(context.Background(), agentapi.StartRequest{SandboxID: "gv", Runtime: agentapi.RuntimeGVisor})
	if !errors.Is(err, agentapi.ErrRuntimeUnavailable) || !strings.Contains(err.Error(), "apt-get install runsc") {
		t.Fatalf("GVISOR start without runsc: %v", err)
	}
	id := startSandbox(t, a, agentapi.StartRequest{Runtime: agentapi.RuntimeRunc})
	if res := run(t, a, id, agentapi.ExecRequest{Language: agentapi.Bash, Code: "echo ok"}); res.Stdout != "ok\n" {
		t.Fatalf("runc sandbox: %+v", res)
	}
	if cleaned, err := a.Reconcile(context.Background()); err != nil || len(cleaned) != 0 {
		t.Fatalf("Reconcile without runsc = %v, %v", cleaned, err)
	}
}

// TestNoCapacity: with every uid range in use a start fails with
// agentapi.ErrNoCapacity and leaves nothing; a stop frees a range.
func TestNoCapacity(t *testing.T) {
	a := newAgentWith(t, Config{UIDBase: nextUIDBase(t), UIDRanges: 2})
	first := startSandbox(t, a, agentapi.StartRequest{})
	startSandbox(t, a, agentapi.StartRequest{})
	_, err := a.StartSandbox(context.Background(), agentapi.StartRequest{SandboxID: "third"})
	if !errors.Is(err, agentapi.ErrNoCapacity) {
		t.Fatalf("third start: %v, want ErrNoCapacity", err)
	}
	assertNoTrace(t, a, "third")
	if err := a.StopSandbox(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	startSandbox(t, a, agentapi.StartRequest{SandboxID: "third"})
}

func TestStartTimeout(t *testing.T) {
	// An "envd" that never answers.
	mute := filepath.Join(env.binDir, "mute-envd")
	if err := os.WriteFile(mute, []byte("#!/bin/sh\nexec sleep 100\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{NodeID: "n", DataDir: dataDir(t), RuncPath: runcPath, EnvdPath: mute,
		CgroupParent: env.cgroupParent, StartTimeout: 500 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	begin := time.Now()
	_, err = a.StartSandbox(context.Background(), agentapi.StartRequest{SandboxID: "mute"})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("StartSandbox = %v, want a deadline error", err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Fatalf("StartSandbox took %v", took)
	}
	assertNoTrace(t, a, "mute")
	if ids, _ := a.Sandboxes(context.Background()); len(ids) != 0 {
		t.Fatalf("Sandboxes = %v", ids)
	}
}

const (
	crashHelperEnv = "CODEINT_AGENT_CRASH_HELPER" // the data dir
	crashSandboxID = "crashed"
)

// runCrashHelper is the test binary re-executed as an agent process that
// starts one sandbox, reports "ready <envd pid>" and waits to be killed.
func runCrashHelper() {
	base, _ := strconv.ParseUint(os.Getenv("CODEINT_UID_BASE"), 10, 32)
	a, err := New(Config{NodeID: "n", DataDir: os.Getenv(crashHelperEnv), RuncPath: runcPath, RunscPath: runscPath,
		EnvdPath: os.Getenv("CODEINT_ENVD"), CgroupParent: os.Getenv("CODEINT_CGROUP_PARENT"),
		UIDBase: uint32(base), UIDRanges: testUIDRanges})
	if err == nil {
		_, err = a.StartSandbox(context.Background(), agentapi.StartRequest{SandboxID: crashSandboxID})
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("ready", a.lookup(crashSandboxID).container.Pid())
	select {}
}

// TestReconcileAfterCrash abandons an agent process with a running sandbox
// (the agent killed) and checks that a new agent on the same data dir
// removes the container, the bundle and the cgroups, and rebuilds its uid
// ranges.
func TestReconcileAfterCrash(t *testing.T) {
	// The orphans of the crash (envd) would be re-parented to the host's
	// PID 1, which may not reap them: adopt and reap them here instead,
	// as an agent process does.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	dir := dataDir(t)
	base := nextUIDBase(t)
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), crashHelperEnv+"="+dir, "CODEINT_ENVD="+env.envdPath,
		"CODEINT_CGROUP_PARENT="+env.cgroupParent, fmt.Sprintf("CODEINT_UID_BASE=%d", base))
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		helper.Process.Kill()
		helper.Wait()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	var envdPid int
	if _, serr := fmt.Sscanf(line, "ready %d", &envdPid); err != nil || serr != nil {
		t.Fatalf("helper said %q (%v)", line, err)
	}
	// The "crash": the agent dies. No runtime process runs per sandbox:
	// envd sees its pipes close and exits, leaving a stopped container,
	// its state, bundle and cgroups.
	helper.Process.Kill()
	helper.Wait()

	a := newAgentWith(t, Config{DataDir: dir, UIDBase: base, UIDRanges: testUIDRanges, CgroupParent: env.cgroupParent})
	if states, err := a.Runtime().List(context.Background()); err != nil || len(states) != 1 || states[0].ID != crashSandboxID {
		t.Fatalf("before reconcile: runc list = %+v, %v", states, err)
	}
	if dirs, err := a.Runtime().CgroupDirs(crashSandboxID); err != nil || len(dirs) == 0 {
		t.Fatalf("before reconcile: cgroup dirs %v, %v", dirs, err)
	}
	cleaned, err := a.Reconcile(context.Background())
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if len(cleaned) != 1 || cleaned[0] != crashSandboxID {
		t.Fatalf("Reconcile cleaned %v", cleaned)
	}
	assertNoTrace(t, a, crashSandboxID)
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", envdPid)); err == nil {
		t.Errorf("envd of the crashed agent (pid %d) still exists", envdPid)
	}
	if used, q := a.uids.counts(); used+q != 0 {
		t.Errorf("after reconcile: %d uid ranges used, %d quarantined", used, q)
	}
	if cleaned, err := a.Reconcile(context.Background()); err != nil || len(cleaned) != 0 {
		t.Fatalf("second Reconcile = %v, %v", cleaned, err)
	}
}

// TestReconcileQuarantinesBusyRanges: a range that a live process of the
// host still runs in (a leftover the agent could not kill) is kept out of
// use until it is free.
func TestReconcileQuarantinesBusyRanges(t *testing.T) {
	a := newAgentWith(t, Config{UIDBase: nextUIDBase(t), UIDRanges: 2})
	first, _ := a.uids.window()
	squatter := exec.Command("/bin/sleep", "100")
	squatter.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: first + 1000, Gid: first + 1000}}
	if err := squatter.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, q := a.uids.counts(); q != 1 {
		t.Fatalf("quarantined ranges: %d, want 1", q)
	}
	id := startSandbox(t, a, agentapi.StartRequest{})
	if base := a.lookup(id).uidBase; base == first {
		t.Fatalf("sandbox got the busy range %d", base)
	}
	squatter.Process.Kill()
	squatter.Wait()
	if _, err := a.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if used, q := a.uids.counts(); used != 1 || q != 0 {
		t.Fatalf("after the squatter left: %d used, %d quarantined", used, q)
	}
}

func TestStartFailureCleansUp(t *testing.T) {
	a := newAgent(t, nil)
	// runc itself refuses: 1 MiB is below what the init already uses.
	_, err := a.StartSandbox(context.Background(), agentapi.StartRequest{SandboxID: "tiny", MemoryMB: 1})
	if err == nil || !strings.Contains(err.Error(), "runc run failed") {
		t.Fatalf("StartSandbox = %v, want runc's error", err)
	}
	assertNoTrace(t, a, "tiny")
	if ids, _ := a.Sandboxes(context.Background()); len(ids) != 0 {
		t.Fatalf("Sandboxes = %v", ids)
	}
}
