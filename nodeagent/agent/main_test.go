package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

const runcPath = "/usr/local/bin/runc"

// testEnv is what TestMain prepares for every test of this package.
type testEnv struct {
	envdPath     string // the envd binary, built once
	binDir       string // 0711 directory for test binaries
	cgroupParent string // this test process's own cgroup parent
}

var env testEnv // written once by TestMain before any test runs

func TestMain(m *testing.M) {
	if os.Getenv(crashHelperEnv) != "" {
		runCrashHelper() // never returns
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "nodeagent/agent tests run runc for real: run them as root on Linux")
		return 1
	}
	if _, err := os.Stat(runcPath); err != nil {
		fmt.Fprintf(os.Stderr, "runc not found at %s: install runc >= 1.3 (go install github.com/opencontainers/runc@v1.3.4 with libseccomp-dev, -tags seccomp): %v\n", runcPath, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "codeint-agent-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o711); err != nil { // the sandbox's uid reaches the bind sources
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env = testEnv{
		envdPath:     filepath.Join(dir, "envd"),
		binDir:       dir,
		cgroupParent: fmt.Sprintf("codeint-agenttest-%d", os.Getpid()),
	}
	build := exec.Command("go", "build", "-o", env.envdPath, "github.com/codeint/codeint/cmd/envd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build envd: %v\n%s", err, out)
		return 1
	}
	code := m.Run()
	removeCgroupParent(env.cgroupParent)
	return code
}

func removeCgroupParent(parent string) {
	matches, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", parent))
	for _, m := range append(matches, filepath.Join("/sys/fs/cgroup", parent)) {
		os.Remove(m)
	}
}

// dataDir returns a fresh data dir the sandbox's uid can traverse:
// t.TempDir() and its parent are 0700, so both are opened to 0711.
func dataDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// exitRecorder records OnExit calls.
type exitRecorder struct {
	mu    sync.Mutex
	calls []string // "id reason"
	ch    chan string
}

func newExitRecorder() *exitRecorder { return &exitRecorder{ch: make(chan string, 16)} }

func (r *exitRecorder) onExit(id, reason string) {
	r.mu.Lock()
	r.calls = append(r.calls, id+" "+reason)
	r.mu.Unlock()
	r.ch <- id + " " + reason
}

func (r *exitRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// newAgent returns an agent on a fresh data dir, closed (and checked for
// leftovers) when the test ends.
func newAgent(t testing.TB, onExit agentapi.ExitFunc) *Agent {
	t.Helper()
	return newAgentOn(t, dataDir(t), onExit)
}

func newAgentOn(t testing.TB, dir string, onExit agentapi.ExitFunc) *Agent {
	t.Helper()
	a, err := New(Config{
		NodeID:       "node-test",
		DataDir:      dir,
		RuncPath:     runcPath,
		EnvdPath:     env.envdPath,
		CgroupParent: env.cgroupParent,
		Logger:       testLogger(t),
		OnExit:       onExit,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		// Close stops everything.
		states, err := a.Runtime().List(context.Background())
		bundles, _ := a.Runtime().Bundles()
		if err != nil || len(states) > 0 || len(bundles) > 0 {
			t.Errorf("after Close: containers %+v, bundles %v (%v)", states, bundles, err)
		}
	})
	return a
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("CODEINT_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

// startSandbox starts a sandbox with a unique id.
func startSandbox(t testing.TB, a *Agent, req agentapi.StartRequest) string {
	t.Helper()
	if req.SandboxID == "" {
		req.SandboxID = fmt.Sprintf("sb-%d", time.Now().UnixNano())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := a.StartSandbox(ctx, req); err != nil {
		t.Fatalf("StartSandbox: %v", err)
	}
	return req.SandboxID
}

// run executes code and fails the test on an API error.
func run(t testing.TB, a *Agent, id string, req agentapi.ExecRequest) agentapi.ExecResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := a.Execute(ctx, id, req, nil)
	if err != nil {
		t.Fatalf("Execute(%s): %v", req.Language, err)
	}
	return res
}

// assertNoTrace checks that nothing of sandbox id is left on the host.
func assertNoTrace(t testing.TB, a *Agent, id string) {
	t.Helper()
	states, err := a.Runtime().List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if s.ID == id {
			t.Errorf("runc still lists %s (%s)", id, s.Status)
		}
	}
	if _, err := os.Stat(a.Runtime().BundleDir(id)); !os.IsNotExist(err) {
		t.Errorf("bundle of %s left (%v)", id, err)
	}
	dirs, err := a.Runtime().CgroupDirs(id)
	if err != nil || len(dirs) > 0 {
		t.Errorf("cgroup dirs of %s left: %v (%v)", id, dirs, err)
	}
}
