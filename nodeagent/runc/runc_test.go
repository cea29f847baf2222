package runc_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/envdclient"
	"github.com/codeint/codeint/nodeagent/runc"
)

const (
	runcPath  = "/usr/local/bin/runc"
	runscPath = "/usr/bin/runsc"
)

// envdPath is the envd binary TestMain builds.
var envdPath string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	// Detached containers are re-parented to this process, which reaps
	// them, as the agent does.
	if err := runc.SetChildSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "codeint-runc-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// The container's root (an unprivileged host uid) must reach the bind
	// source.
	if err := os.Chmod(dir, 0o711); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	envdPath = filepath.Join(dir, "envd")
	build := exec.Command("go", "build", "-o", envdPath, "github.com/codeint/codeint/cmd/envd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build envd: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// binaryOf returns the runtime binary of kind, failing the test with how
// to install it when it is missing.
func binaryOf(t *testing.T, kind runc.Kind) string {
	t.Helper()
	path := runcPath
	hint := "install runc >= 1.3 (go install github.com/opencontainers/runc@v1.3.4 with libseccomp-dev, -tags seccomp)"
	if kind == runc.KindRunsc {
		path, hint = runscPath, "install gVisor's runsc (apt-get install runsc)"
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s not found at %s: %s: %v", kind, path, hint, err)
	}
	return path
}

// newRuntime returns a runtime on a data dir the container's uid can
// traverse, with a cgroup parent of its own so tests never touch the
// cgroups of another agent on this host.
func newRuntime(t *testing.T, kind runc.Kind) *runc.Runtime {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("these tests run runc and runsc for real and need root (run them as root on a Linux host)")
	}
	bin := binaryOf(t, kind)
	dir := t.TempDir()
	// t.TempDir() is 0700 and so is its parent: open both for traversal.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	parent := fmt.Sprintf("codeint-runctest-%d", os.Getpid())
	rt, err := runc.New(runc.Config{Kind: kind, Path: bin, DataDir: dir, CgroupParent: parent,
		UIDBase: uint32(300_000_000 + os.Getpid()%1000*65536)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Best effort: the parent itself, in every hierarchy.
		matches, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", parent))
		for _, m := range append(matches, filepath.Join("/sys/fs/cgroup", parent)) {
			os.Remove(m)
		}
	})
	return rt
}

func TestStartExecStop(t *testing.T) {
	for _, kind := range []runc.Kind{runc.KindRunc, runc.KindRunsc} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			testStartExecStop(t, kind)
		})
	}
}

func testStartExecStop(t *testing.T, kind runc.Kind) {
	rt := newRuntime(t, kind)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := "rt-" + strings.ToLower(string(kind))
	c, err := rt.Start(ctx, runc.Options{ID: id, EnvdPath: envdPath, MemoryMB: 256})
	if err != nil {
		t.Fatal(err)
	}
	client, err := envdclient.New(c.Conn(), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := client.Ping(ctx); err != nil {
		t.Fatalf("ping: %v\nstderr: %s", err, c.StderrTail())
	}
	t.Logf("first ping after %v", time.Since(start))
	res, err := client.Exec(ctx, agentapi.ExecRequest{Language: agentapi.Python, Code: "import os; print('hi', os.getuid())"}, nil)
	if err != nil {
		t.Fatalf("exec: %v\nstderr: %s", err, c.StderrTail())
	}
	if res.Stdout != "hi 1000\n" || res.ExitCode != 0 {
		t.Fatalf("exec result %+v", res)
	}

	states, err := rt.List(ctx)
	if err != nil || len(states) != 1 || states[0].ID != id || states[0].Status != "running" {
		t.Fatalf("List = %+v, %v", states, err)
	}
	dirs, err := rt.CgroupDirs(id)
	if err != nil || len(dirs) == 0 {
		t.Fatalf("CgroupDirs while running = %v, %v", dirs, err)
	}
	st, err := c.Cgroup().Stats()
	if err != nil || st.Pids == 0 || st.MemoryBytes == 0 {
		t.Fatalf("cgroup stats %+v, %v", st, err)
	}
	// No runtime process stays behind: what the agent adopted is the
	// init (runc) or the sandbox and gofer (runsc).
	if pids := c.RuntimePids(); len(pids) == 0 || kind == runc.KindRunc && !slices.Equal(pids, []int{c.Pid()}) {
		t.Fatalf("runtime pids %v, init %d", pids, c.Pid())
	}

	if err := rt.Stop(ctx, c); err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case <-client.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("envd session still open after Stop")
	}
	assertGone(t, rt, id)
}

func TestNotInstalled(t *testing.T) {
	_, err := runc.New(runc.Config{Kind: runc.KindRunsc, Path: "/nonexistent/runsc", DataDir: t.TempDir()})
	if !errors.Is(err, runc.ErrNotInstalled) || !strings.Contains(err.Error(), "runsc") {
		t.Fatalf("New with a missing binary: %v", err)
	}
}

func assertGone(t *testing.T, rt *runc.Runtime, id string) {
	t.Helper()
	states, err := rt.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if s.ID == id {
			t.Errorf("%s still lists %s: %+v", rt.Kind(), id, s)
		}
	}
	if _, err := os.Stat(rt.BundleDir(id)); !os.IsNotExist(err) {
		t.Errorf("bundle dir of %s still there (%v)", id, err)
	}
	if dirs, err := rt.CgroupDirs(id); err != nil || len(dirs) != 0 {
		t.Errorf("cgroup dirs of %s left: %v %v", id, dirs, err)
	}
}
