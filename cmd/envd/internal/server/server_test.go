package server

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/cmd/envd/internal/reaper"
	"github.com/codeint/codeint/nodeagent/envdproto"
	"github.com/hashicorp/yamux"
)

// TestMain makes the test process the reaper of what its executions
// orphan (as envd is, PID 1 of its sandbox): the executions run outside a
// container here, and their orphans would otherwise go to the host's init.
func TestMain(m *testing.M) {
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		fmt.Fprintln(os.Stderr, "prctl(PR_SET_CHILD_SUBREAPER):", errno)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// newSession serves a Server over an in-memory connection and returns the
// client side.
func newSession(t *testing.T) *yamux.Session {
	t.Helper()
	return newSessionWith(t, Config{RunDir: t.TempDir(), WorkDir: t.TempDir(), Env: []string{"PATH=/usr/bin:/bin", "BASE=1"}})
}

// newSessionWith is newSession for cfg, for tests and benchmarks alike;
// it sets cfg.Reaper.
func newSessionWith(t testing.TB, cfg Config) *yamux.Session {
	t.Helper()
	r := reaper.New()
	cfg.Reaper = r
	srv := New(cfg)
	a, b := net.Pipe()
	ycfg := yamux.DefaultConfig()
	ycfg.LogOutput = os.Stderr
	server, err := yamux.Server(a, ycfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := yamux.Client(b, ycfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(server)
	}()
	t.Cleanup(func() {
		client.Close()
		server.Close()
		<-served
		r.Close()
	})
	return client
}

type reply struct {
	stdout, stderr string
	frames         int
	result         *envdproto.Result
	err            *envdproto.Error
}

// call sends one request and collects the answer until envd closes.
func call(t *testing.T, sess *yamux.Session, typ envdproto.FrameType, req any) reply {
	t.Helper()
	st, err := sess.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if req == nil {
		err = envdproto.WriteFrame(st, typ, nil)
	} else {
		err = envdproto.WriteJSON(st, typ, req)
	}
	if err != nil {
		t.Fatal(err)
	}
	var rep reply
	for {
		ft, payload, err := envdproto.ReadFrame(st)
		if err != nil {
			return rep
		}
		rep.frames++
		switch ft {
		case envdproto.FrameOutput:
			s, data, _ := envdproto.DecodeOutput(payload)
			if s == envdproto.StreamStderr {
				rep.stderr += string(data)
			} else {
				rep.stdout += string(data)
			}
		case envdproto.FrameResult:
			rep.result = &envdproto.Result{}
			envdproto.DecodeJSON(ft, payload, rep.result)
		case envdproto.FrameError:
			rep.err = &envdproto.Error{}
			envdproto.DecodeJSON(ft, payload, rep.err)
		}
	}
}

func TestServer(t *testing.T) {
	sess := newSession(t)
	t.Run("ping", func(t *testing.T) {
		if rep := call(t, sess, envdproto.FramePing, nil); rep.frames != 1 {
			t.Fatalf("ping: %+v", rep)
		}
	})
	t.Run("exec", func(t *testing.T) {
		rep := call(t, sess, envdproto.FrameExecRequest, &envdproto.ExecRequest{Language: envdproto.LangBash,
			Code: `echo "$BASE $X $(pwd)"; echo e >&2; kill -TERM $$`, Env: map[string]string{"X": "2"}})
		if rep.result == nil || !strings.HasPrefix(rep.stdout, "1 2 /") || rep.stderr != "e\n" || rep.result.ExitCode != 128+15 ||
			rep.result.Error == nil || rep.result.Error.Name != envdproto.ErrNameKilled {
			t.Fatalf("exec: %+v %+v", rep, rep.result)
		}
	})
	t.Run("output cap", func(t *testing.T) {
		rep := call(t, sess, envdproto.FrameExecRequest, &envdproto.ExecRequest{Language: envdproto.LangBash,
			Code: `head -c 200000 /dev/zero | tr '\0' x`, MaxOutputBytes: 1000})
		if rep.result == nil || len(rep.stdout) != 1000 || !rep.result.Truncated {
			t.Fatalf("cap: %d bytes, %+v", len(rep.stdout), rep.result)
		}
	})
	t.Run("timeout kills the group", func(t *testing.T) {
		begin := time.Now()
		rep := call(t, sess, envdproto.FrameExecRequest, &envdproto.ExecRequest{Language: envdproto.LangBash,
			Code: "sleep 20 & sleep 20; echo never", TimeoutMS: 300})
		if rep.result == nil || !rep.result.TimedOut || rep.stdout != "" || time.Since(begin) > 3*time.Second {
			t.Fatalf("timeout: %+v %+v after %v", rep, rep.result, time.Since(begin))
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		for _, req := range []*envdproto.ExecRequest{
			{Language: "COBOL"},
			{Language: envdproto.LangBash, Env: map[string]string{"A=B": "x"}},
		} {
			if rep := call(t, sess, envdproto.FrameExecRequest, req); rep.err == nil || rep.err.Code != envdproto.CodeInvalidArgument {
				t.Errorf("%+v: %+v", req, rep)
			}
		}
	})
}

// TestRunAsKillsExecutionGroup runs executions as an unprivileged uid (the
// test runs as root, as envd does) and checks that a timeout kills a
// process that left the execution's process group and session.
func TestRunAsKillsExecutionGroup(t *testing.T) {
	sess := newSessionWith(t, runAsConfig(t))
	rep := call(t, sess, envdproto.FrameExecRequest, &envdproto.ExecRequest{Language: envdproto.LangBash,
		Code: "id -u; id -G; setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $!; sleep 30", TimeoutMS: 1000})
	lines := strings.Fields(rep.stdout)
	if rep.result == nil || !rep.result.TimedOut || len(lines) != 4 || lines[0] != "65534" || lines[1] != "65534" {
		t.Fatalf("exec: %+v %+v", rep, rep.result)
	}
	if gid, _ := strconv.Atoi(lines[2]); gid < execGroupFirst || gid >= execGroupFirst+execGroupCount {
		t.Fatalf("execution group %q out of range", lines[2])
	}
	escapee := lines[3]
	for i := 0; ; i++ {
		data, err := os.ReadFile("/proc/" + escapee + "/status")
		if err != nil || strings.Contains(string(data), "State:\tZ") {
			break
		}
		if i == 50 {
			t.Fatalf("the setsid'd process %s survived the timeout", escapee)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runAsConfig is a Config that runs as uid and gid 65534, with a run dir
// and a work dir that user may use (and the temp dirs above them
// traversable). It needs root, as envd runs.
func runAsConfig(t testing.TB) Config {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test switches uids and needs root (run it as root, as envd runs)")
	}
	base := t.TempDir()
	for _, d := range []string{base, filepath.Dir(base)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	runDir, workDir := filepath.Join(base, "run"), filepath.Join(base, "work")
	if err := os.Mkdir(runDir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(workDir, 0o777); err != nil {
		t.Fatal(err)
	}
	return Config{RunDir: runDir, WorkDir: workDir, Env: []string{"PATH=/usr/bin:/bin"},
		RunAs: &Credential{UID: 65534, GID: 65534}}
}
