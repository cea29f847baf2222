package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/envdproto"
)

// TestExecute runs the execution cases under runc and gVisor, in parallel
// in one sandbox per runtime: each execution is its own stream to envd.
func TestExecute(t *testing.T) {
	for _, rtm := range runtimes() {
		t.Run(string(rtm), func(t *testing.T) {
			t.Parallel()
			testExecute(t, rtm)
		})
	}
}

func testExecute(t *testing.T, rtm agentapi.Runtime) {
	a := newAgent(t, nil)
	id := startSandbox(t, a, agentapi.StartRequest{Runtime: rtm, Env: map[string]string{"SANDBOX_VAR": "from-sandbox"}})

	tests := []struct {
		name       string
		req        agentapi.ExecRequest
		wantStdout string
		wantStderr string // substring
		wantExit   int
	}{
		{name: "python", req: agentapi.ExecRequest{Language: agentapi.Python, Code: "print('hello from python')"}, wantStdout: "hello from python\n"},
		{name: "javascript", req: agentapi.ExecRequest{Language: agentapi.JavaScript, Code: "console.log('hello from js')"}, wantStdout: "hello from js\n"},
		{name: "bash", req: agentapi.ExecRequest{Language: agentapi.Bash, Code: "echo hello from bash"}, wantStdout: "hello from bash\n"},
		{name: "stderr", req: agentapi.ExecRequest{Language: agentapi.Python, Code: "import sys\nprint('oops', file=sys.stderr)"}, wantStderr: "oops\n"},
		{name: "exit code", req: agentapi.ExecRequest{Language: agentapi.Bash, Code: "echo partial; exit 3"}, wantStdout: "partial\n", wantExit: 3},
		{name: "python exception", req: agentapi.ExecRequest{Language: agentapi.Python, Code: "raise ValueError('bad')"}, wantStderr: "ValueError: bad", wantExit: 1},
		{name: "stdin", req: agentapi.ExecRequest{Language: agentapi.Python, Code: "import sys\nprint(sys.stdin.read().upper())", Stdin: "hello"}, wantStdout: "HELLO\n"},
		{name: "env", req: agentapi.ExecRequest{Language: agentapi.Bash, Code: `echo "$FOO $SANDBOX_VAR $HOME $PWD $PYTHONUNBUFFERED"`, Env: map[string]string{"FOO": "bar"}},
			wantStdout: "bar from-sandbox /home/user /home/user 1\n"},
		{name: "runs as user 1000", req: agentapi.ExecRequest{Language: agentapi.Bash, Code: "id -u; id -g; echo $HOME"}, wantStdout: "1000\n1000\n/home/user\n"},
		{name: "no network but lo", req: agentapi.ExecRequest{Language: agentapi.Python, Code: "import socket; print([n for _, n in socket.if_nameindex()])"}, wantStdout: "['lo']\n"},
		{name: "no host shadow", req: agentapi.ExecRequest{Language: agentapi.Bash, Code: "cat /etc/shadow; echo /etc/*"}, wantStderr: "No such file",
			wantStdout: etcListing(), wantExit: 0},
		{name: "read-only root", req: agentapi.ExecRequest{Language: agentapi.Bash, Code: "touch /usr/x /etc/x 2>/dev/null || echo ro; touch /tmp/x /home/user/x && echo rw"}, wantStdout: "ro\nrw\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := run(t, a, id, tc.req)
			if res.Stdout != tc.wantStdout || !strings.Contains(res.Stderr, tc.wantStderr) || res.ExitCode != tc.wantExit {
				t.Fatalf("got stdout %q stderr %q exit %d; want stdout %q stderr ∋ %q exit %d",
					res.Stdout, res.Stderr, res.ExitCode, tc.wantStdout, tc.wantStderr, tc.wantExit)
			}
			if res.Duration <= 0 || res.TimedOut || res.Truncated {
				t.Fatalf("result %+v", res)
			}
		})
	}
	t.Run("metrics", func(t *testing.T) {
		t.Parallel()
		res := run(t, a, id, agentapi.ExecRequest{Language: agentapi.Python, Code: "x = bytearray(30 << 20)\nsum(range(2000000))"})
		if res.PeakMemoryBytes < 30<<20 || res.CPUTime <= 0 || res.Duration < res.CPUTime/2 {
			t.Fatalf("metrics: peak %d cpu %v duration %v", res.PeakMemoryBytes, res.CPUTime, res.Duration)
		}
	})
	t.Run("unknown language", func(t *testing.T) {
		t.Parallel()
		_, err := a.Execute(context.Background(), id, agentapi.ExecRequest{Language: "COBOL", Code: "x"}, nil)
		var e *envdproto.Error
		if !errors.As(err, &e) || e.Code != envdproto.CodeInvalidArgument {
			t.Fatalf("err = %v, want an envd INVALID_ARGUMENT", err)
		}
	})
	t.Run("streaming", func(t *testing.T) { t.Parallel(); testStreaming(t, a, id) })
	t.Run("output cap", func(t *testing.T) {
		t.Parallel()
		res := run(t, a, id, agentapi.ExecRequest{Language: agentapi.Python, MaxOutputBytes: 100,
			Code: "import sys\nprint('x' * 100000)\nprint('y' * 50, file=sys.stderr)"})
		if len(res.Stdout) != 100 || res.Stderr != strings.Repeat("y", 50)+"\n" || !res.Truncated || res.ExitCode != 0 {
			t.Fatalf("stdout %d bytes, stderr %q, truncated %v, exit %d", len(res.Stdout), res.Stderr, res.Truncated, res.ExitCode)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		begin := time.Now()
		res := run(t, a, id, agentapi.ExecRequest{Language: agentapi.Bash, Code: "sleep 30", Timeout: time.Second})
		if took := time.Since(begin); took > 4*time.Second {
			t.Fatalf("timeout took %v", took)
		}
		if !res.TimedOut || res.Error == nil || res.Error.Name != "TIMEOUT" || res.ExitCode != 128+9 {
			t.Fatalf("result %+v (error %+v)", res, res.Error)
		}
	})
	t.Run("cancel", func(t *testing.T) { t.Parallel(); testCancel(t, a, id) })
}

func testStreaming(t *testing.T, a *Agent, id string) {
	var mu sync.Mutex
	var chunks []agentapi.OutputChunk
	var first time.Time
	res, err := a.Execute(context.Background(), id, agentapi.ExecRequest{Language: agentapi.Python,
		Code: "import time, sys\nprint('a')\ntime.sleep(0.3)\nprint('b')\nprint('c', file=sys.stderr)"},
		func(c agentapi.OutputChunk) {
			mu.Lock()
			defer mu.Unlock()
			if len(chunks) == 0 {
				first = time.Now()
			}
			chunks = append(chunks, c)
		})
	done := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// Unbuffered Python may write "a" and "\n" separately: either way the
	// first chunk starts with "a" and arrives before the 300 ms sleep.
	if len(chunks) < 3 || !strings.HasPrefix(string(chunks[0].Data), "a") || chunks[0].Stream != agentapi.Stdout {
		t.Fatalf("chunks %+v", chunks)
	}
	if gap := done.Sub(first); gap < 250*time.Millisecond {
		t.Fatalf("first chunk arrived only %v before the result: output is not streamed", gap)
	}
	for i, c := range chunks {
		if c.Seq != int64(i+1) {
			t.Fatalf("chunk %d has seq %d", i, c.Seq)
		}
	}
	var stdout, stderr strings.Builder
	for _, c := range chunks {
		if c.Stream == agentapi.Stderr {
			stderr.Write(c.Data)
		} else {
			stdout.Write(c.Data)
		}
	}
	// Order across stdout and stderr is the order envd read the two pipes:
	// writes microseconds apart ("b", then "c") may swap, so only each
	// stream's own order is checked.
	if stdout.String() != "a\nb\n" || stderr.String() != "c\n" {
		t.Fatalf("chunks %+v", chunks)
	}
	if res.Stdout != "a\nb\n" || res.Stderr != "c\n" {
		t.Fatalf("result %+v", res)
	}
}

func testCancel(t *testing.T, a *Agent, id string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	begin := time.Now()
	_, err := a.Execute(ctx, id, agentapi.ExecRequest{Language: agentapi.Python,
		Code: "import os, time\nopen('/tmp/cancel.pid', 'w').write(str(os.getpid()))\nprint('started', flush=True)\ntime.sleep(30)"},
		func(c agentapi.OutputChunk) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Fatalf("cancel took %v", took)
	}
	res := run(t, a, id, agentapi.ExecRequest{Language: agentapi.Bash, Code: `p=$(cat /tmp/cancel.pid)
for i in $(seq 50); do kill -0 "$p" 2>/dev/null || { echo gone; exit 0; }; sleep 0.1; done; echo alive`})
	if res.Stdout != "gone\n" {
		t.Fatalf("cancelled process: %q", res.Stdout)
	}
}

// etcListing is what `echo /etc/*` shows in a sandbox: the files the bundle
// writes and the host entries it binds (a JDK's config dir and
// matplotlibrc and fontconfig's /etc/fonts when the host has them).
func etcListing() string {
	names := []string{"/etc/alternatives", "/etc/group", "/etc/hostname", "/etc/hosts", "/etc/ld.so.cache",
		"/etc/nsswitch.conf", "/etc/passwd", "/etc/resolv.conf"}
	jdks, _ := filepath.Glob("/etc/java-*-openjdk")
	names = append(names, jdks...)
	for _, p := range []string{"/etc/matplotlibrc", "/etc/fonts"} {
		if _, err := os.Stat(p); err == nil {
			names = append(names, p)
		}
	}
	sort.Strings(names)
	return strings.Join(names, " ") + "\n"
}
