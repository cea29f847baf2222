package runc_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/envdclient"
	"github.com/codeint/codeint/nodeagent/runc"
)

const runcPath = "/usr/local/bin/runc"

// envdPath is the envd binary TestMain builds.
var envdPath string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "codeint-runc-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// The container's root (host uid 100000) must reach the bind source.
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

// newRuntime returns a runtime on a data dir the container's uid can
// traverse, with a cgroup parent of its own so tests never touch the
// cgroups of another agent on this host.
func newRuntime(t *testing.T) *runc.Runtime {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("these tests run runc for real and need root (run them as root on a Linux host)")
	}
	if _, err := os.Stat(runcPath); err != nil {
		t.Fatalf("runc not found at %s: install runc >= 1.3 (go install github.com/opencontainers/runc@v1.3.4 with libseccomp-dev, -tags seccomp): %v", runcPath, err)
	}
	dir := t.TempDir()
	// t.TempDir() is 0700 and so is its parent: open both for traversal.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	parent := fmt.Sprintf("codeint-runctest-%d", os.Getpid())
	rt, err := runc.New(runc.Config{RuncPath: runcPath, DataDir: dir, CgroupParent: parent})
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
	rt := newRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := "rt-" + strings.ToLower(t.Name())
	c, err := rt.Start(runc.Options{ID: id, EnvdPath: envdPath, MemoryMB: 256})
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
	if res.Stdout != "hi 0\n" || res.ExitCode != 0 {
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
	t.Logf("cgroup dirs: %v", dirs)

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

func assertGone(t *testing.T, rt *runc.Runtime, id string) {
	t.Helper()
	states, err := rt.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if s.ID == id {
			t.Errorf("runc still lists %s: %+v", id, s)
		}
	}
	if _, err := os.Stat(rt.BundleDir(id)); !os.IsNotExist(err) {
		t.Errorf("bundle dir of %s still there (%v)", id, err)
	}
	if dirs, err := rt.CgroupDirs(id); err != nil || len(dirs) != 0 {
		t.Errorf("cgroup dirs of %s left: %v %v", id, dirs, err)
	}
}
