package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

// alive checks that the sandbox still runs code.
func alive(t *testing.T, a *Agent, id, after string) {
	t.Helper()
	if res := run(t, a, id, agentapi.ExecRequest{Language: agentapi.Bash, Code: "echo alive", Timeout: 10 * time.Second}); res.Stdout != "alive\n" {
		t.Fatalf("after %s the sandbox does not answer: %+v", after, res)
	}
}

func errName(res agentapi.ExecResult) string {
	if res.Error == nil {
		return ""
	}
	return res.Error.Name
}

// TestOOMKilled: a program above the sandbox's memory limit is killed (by
// the kernel's OOM killer under runc, by envd's under gVisor), the result
// says OOM_KILLED, envd survives.
func TestOOMKilled(t *testing.T) {
	for _, rtm := range runtimes() {
		t.Run(string(rtm), func(t *testing.T) {
			t.Parallel()
			testOOMKilled(t, rtm)
		})
	}
}

func testOOMKilled(t *testing.T, rtm agentapi.Runtime) {
	a := newAgent(t, nil)
	id := startSandbox(t, a, agentapi.StartRequest{Runtime: rtm, MemoryMB: 64, VCPUs: 0.5})
	for i := range 2 { // twice: the counter is read per execution
		res := run(t, a, id, agentapi.ExecRequest{Language: agentapi.Python,
			Code: "x = []\nfor i in range(50): x.append(bytearray(8 << 20))\nprint('survived')"})
		if res.ExitCode != 128+9 || errName(res) != agentapi.LimitOOM || res.Stdout != "" {
			t.Fatalf("run %d: 200 MiB in a 64 MiB sandbox: %+v (error %+v)", i, res, res.Error)
		}
		alive(t, a, id, "an OOM kill")
	}
	// A program that allocates less is not named, nor is one killed by
	// another signal.
	if res := run(t, a, id, agentapi.ExecRequest{Language: agentapi.Bash, Code: "kill -9 $$"}); res.ExitCode != 137 || errName(res) != "KILLED" {
		t.Fatalf("self-kill: %+v (error %+v)", res, res.Error)
	}
}

// TestCPUTimeLimit: RLIMIT_CPU ends a busy program, whether it is the
// execution's leader or a child of a shell.
func TestCPUTimeLimit(t *testing.T) {
	for _, rtm := range runtimes() {
		t.Run(string(rtm), func(t *testing.T) {
			t.Parallel()
			a := newAgent(t, nil)
			id := startSandbox(t, a, agentapi.StartRequest{Runtime: rtm, VCPUs: 2})
			reqs := []agentapi.ExecRequest{{Language: agentapi.Python, Code: "while True: pass"}}
			if rtm == agentapi.RuntimeRunc {
				// gVisor (20221219) enforces RLIMIT_CPU only in the
				// process that set it, not in children that inherit it.
				reqs = append(reqs, agentapi.ExecRequest{Language: agentapi.Bash, Code: "python3 -c 'while True: pass'"})
			}
			for _, req := range reqs {
				req.CPUTime, req.Timeout = time.Second, 10*time.Second
				begin := time.Now()
				res := run(t, a, id, req)
				if errName(res) != agentapi.LimitCPUTime || res.TimedOut || res.CPUTime < 800*time.Millisecond {
					t.Fatalf("%s busy loop with 1 s CPU: %+v (error %+v)", req.Language, res, res.Error)
				}
				if took := time.Since(begin); took > 10*time.Second {
					t.Fatalf("CPU limit took %v", took)
				}
			}
			// Without a limit, the same env key from the user does nothing.
			res := run(t, a, id, agentapi.ExecRequest{Language: agentapi.Bash, Code: `echo "[$CODEINT_CPU_TIME_MS]"; ulimit -t`,
				Env: map[string]string{"CODEINT_CPU_TIME_MS": "1"}})
			if res.Stdout != "[]\nunlimited\n" || res.Error != nil {
				t.Fatalf("reserved env key: %+v", res)
			}
			alive(t, a, id, "CPU limits")
		})
	}
}

// TestPidsLimit: a fork bomb gets EAGAIN inside, the result says
// PIDS_LIMIT, and the sandbox can fork again afterwards.
func TestPidsLimit(t *testing.T) {
	a := newAgent(t, nil)
	id := startSandbox(t, a, agentapi.StartRequest{})
	res := run(t, a, id, agentapi.ExecRequest{Language: agentapi.Python, Timeout: 20 * time.Second, Code: `import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(600)
            os._exit(0)
        n += 1
except OSError as e:
    print('fork failed:', e.strerror, 'after', n)
`})
	if errName(res) != agentapi.LimitPids || !strings.Contains(res.Stdout, "fork failed: Resource temporarily unavailable") {
		t.Fatalf("fork bomb: %+v (error %+v)", res, res.Error)
	}
	alive(t, a, id, "a fork bomb")
	// The classic bomb, whose leader returns at once.
	res = run(t, a, id, agentapi.ExecRequest{Language: agentapi.Bash, Timeout: 20 * time.Second, Code: ":(){ :|:& };:; sleep 2"})
	if errName(res) != agentapi.LimitPids {
		t.Fatalf("bash fork bomb: %+v (error %+v)", res, res.Error)
	}
	alive(t, a, id, "a bash fork bomb")
}

// TestDiskFull: writing past a writable dir's quota fails with ENOSPC
// inside, the result says DISK_FULL, and the space is the sandbox's only.
func TestDiskFull(t *testing.T) {
	for _, rtm := range runtimes() {
		t.Run(string(rtm), func(t *testing.T) {
			t.Parallel()
			a := newAgent(t, nil)
			id := startSandbox(t, a, agentapi.StartRequest{Runtime: rtm, DiskMB: 16, MemoryMB: 256})
			other := startSandbox(t, a, agentapi.StartRequest{Runtime: rtm, DiskMB: 16})
			res := run(t, a, id, agentapi.ExecRequest{Language: agentapi.Python, Code: "open('/tmp/big', 'wb').write(b'x' * (64 << 20))"})
			if errName(res) != agentapi.LimitDisk || !strings.Contains(res.Stderr, "No space left on device") {
				t.Fatalf("filling /tmp: %+v (error %+v)", res, res.Error)
			}
			res = run(t, a, other, agentapi.ExecRequest{Language: agentapi.Python, Code: "import os; print(os.listdir('/tmp'))"})
			if res.Stdout != "[]\n" {
				t.Fatalf("the other sandbox's /tmp: %+v", res)
			}
			// A failure with room to spare is not DISK_FULL.
			res = run(t, a, id, agentapi.ExecRequest{Language: agentapi.Bash, Code: "rm /tmp/big; exit 3"})
			if res.ExitCode != 3 || res.Error != nil {
				t.Fatalf("after freeing /tmp: %+v (error %+v)", res, res.Error)
			}
		})
	}
}

// setsidEscapee starts a process in a new session (out of the execution's
// process group) that records its pid and sleeps, then waits forever.
const setsidEscapee = `import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open('/tmp/escapee.pid', 'w').write(str(os.getpid()))
        time.sleep(1000)
    os._exit(0)
os.wait()
while not os.path.exists('/tmp/escapee.pid'):
    time.sleep(0.01)
print('escaped', flush=True)
time.sleep(1000)
`

// checkGone asserts the escapee recorded in /tmp is dead.
func checkGone(t *testing.T, a *Agent, id, after string) {
	t.Helper()
	res := run(t, a, id, agentapi.ExecRequest{Language: agentapi.Bash, Code: `p=$(cat /tmp/escapee.pid); rm /tmp/escapee.pid
for i in $(seq 50); do kill -0 "$p" 2>/dev/null || { echo gone; exit 0; }; sleep 0.1; done; echo alive`})
	if res.Stdout != "gone\n" {
		t.Fatalf("setsid'd process after %s: %+v", after, res)
	}
}

// TestTimeoutAndCancelKillSetsid: the wall timeout and a cancel kill
// every process the execution started, also one that left its process
// group and session; background processes of other executions live on.
func TestTimeoutAndCancelKillSetsid(t *testing.T) {
	for _, rtm := range runtimes() {
		t.Run(string(rtm), func(t *testing.T) {
			t.Parallel()
			a := newAgent(t, nil)
			id := startSandbox(t, a, agentapi.StartRequest{Runtime: rtm})
			// A background process of an execution that ended normally.
			res := run(t, a, id, agentapi.ExecRequest{Language: agentapi.Bash, Code: "setsid sleep 1000 >/dev/null 2>&1 < /dev/null & echo $! > /tmp/bystander.pid"})
			if res.ExitCode != 0 {
				t.Fatalf("bystander: %+v", res)
			}

			res = run(t, a, id, agentapi.ExecRequest{Language: agentapi.Python, Code: setsidEscapee, Timeout: 2 * time.Second})
			if errName(res) != agentapi.LimitTimeout || res.Stdout != "escaped\n" {
				t.Fatalf("timeout: %+v (error %+v)", res, res.Error)
			}
			checkGone(t, a, id, "the timeout")

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := a.Execute(ctx, id, agentapi.ExecRequest{Language: agentapi.Python, Code: setsidEscapee},
				func(agentapi.OutputChunk) { cancel() })
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancel: %v", err)
			}
			checkGone(t, a, id, "a cancel")

			res = run(t, a, id, agentapi.ExecRequest{Language: agentapi.Bash, Code: `kill -0 $(cat /tmp/bystander.pid) && echo running`})
			if res.Stdout != "running\n" {
				t.Fatalf("another execution's background process was killed: %+v", res)
			}
		})
	}
}
