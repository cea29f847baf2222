package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
)

const (
	runcPath  = "/usr/local/bin/runc"
	runscPath = "/usr/bin/runsc"
)

// testEnv is what TestMain prepares for every test of this package.
type testEnv struct {
	envdPath     string // the envd binary, built once
	binDir       string // 0711 directory for test binaries
	cgroupParent string // this test process's own cgroup parent
	uidBase      uint32 // this test process's own window of uid ranges
}

// Uid windows. Every test agent gets a window of testUIDRanges ranges of
// its own, inside a window of its test process (chosen from the pid), so
// two agents never hand out the same host uids, tests of other packages on
// this host (which use the default base) never share one with these, and
// counting "processes of an agent's uid ranges" sees only that agent's.
const (
	testUIDRanges     = 32
	agentsPerProcess  = 64
	processWindowUIDs = agentsPerProcess * testUIDRanges * 65536 // 2^27
)

var (
	agentWindows atomic.Int32 // uid windows handed out so far by this test process
	agentParents atomic.Int32 // cgroup parents handed out so far
)

func uidWindow(pid int) uint32 {
	return uint32(1_000_000_000 + pid%24*processWindowUIDs) // below 2^32 - 1
}

// nextUIDBase returns the base of a fresh agent window.
func nextUIDBase(t testing.TB) uint32 {
	n := agentWindows.Add(1) - 1
	if n >= agentsPerProcess {
		t.Fatalf("more than %d test agents in one process: raise agentsPerProcess", agentsPerProcess)
	}
	return env.uidBase + uint32(n)*testUIDRanges*65536
}

// nextCgroupParent returns a cgroup parent of a test agent's own, so that
// what its sandboxes leave can be told from other agents'.
func nextCgroupParent() string {
	return fmt.Sprintf("%s-%d", env.cgroupParent, agentParents.Add(1))
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
	if _, err := os.Stat(runscPath); err != nil {
		fmt.Fprintf(os.Stderr, "runsc not found at %s: install gVisor's runsc (Debian: apt-get install runsc): %v\n", runscPath, err)
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
		uidBase:      uidWindow(os.Getpid()),
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
	return newAgentWith(t, Config{DataDir: dir, OnExit: onExit})
}

// newAgentWith fills in what cfg leaves zero with the test defaults (a
// fresh data dir, its own uid window and the test process's cgroup
// parent) and returns the agent, closed and checked for leftovers when the
// test ends.
func newAgentWith(t testing.TB, cfg Config) *Agent {
	t.Helper()
	if cfg.NodeID == "" {
		cfg.NodeID = "node-test"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = dataDir(t)
	}
	if cfg.RuncPath == "" {
		cfg.RuncPath = runcPath
	}
	if cfg.RunscPath == "" {
		cfg.RunscPath = runscPath
	}
	if cfg.EnvdPath == "" {
		cfg.EnvdPath = env.envdPath
	}
	if cfg.UIDBase == 0 {
		cfg.UIDBase, cfg.UIDRanges = nextUIDBase(t), testUIDRanges
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = nextCgroupParent()
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		// Close stops everything.
		for _, rt := range a.runtimes() {
			states, err := rt.List(context.Background())
			if err != nil || len(states) > 0 {
				t.Errorf("after Close: %s containers %+v (%v)", rt.Kind(), states, err)
			}
		}
		if bundles, _ := a.Runtime().Bundles(); len(bundles) > 0 {
			t.Errorf("after Close: bundles %v", bundles)
		}
		if used, q := a.uids.counts(); used+q > 0 {
			t.Errorf("after Close: %d uid ranges in use, %d quarantined", used, q)
		}
		if ids, err := a.Runtime().CgroupIDs(); err != nil || len(ids) > 0 {
			t.Errorf("after Close: cgroups left under %s: %v (%v)", cfg.CgroupParent, ids, err)
		}
		if cfg.CgroupParent != env.cgroupParent {
			removeCgroupParent(cfg.CgroupParent)
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

// runtimes are the OCI runtimes every runtime-dependent test runs under.
func runtimes() []agentapi.Runtime {
	return []agentapi.Runtime{agentapi.RuntimeRunc, agentapi.RuntimeGVisor}
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
	for _, rt := range a.runtimes() {
		states, err := rt.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range states {
			if s.ID == id {
				t.Errorf("%s still lists %s (%s)", rt.Kind(), id, s.Status)
			}
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
