package meter

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/codeint/codeint/nodeagent/agentapi"
	"github.com/codeint/codeint/nodeagent/envdclient"
	"github.com/codeint/codeint/nodeagent/runc"
)

const testRuncPath = "/usr/local/bin/runc"

// TestCgroupSampler meters a real runc sandbox through CgroupSampler: the
// CPU time a program burns and the memory it held and freed before the
// sample (seen only through the kernel's peak) are in its Final record.
// It needs root and runc, and fails without them, as the project's other
// tests that run real sandboxes do.
func TestCgroupSampler(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("TestCgroupSampler runs a runc sandbox for real and needs root (run it as root on a Linux host)")
	}
	if _, err := os.Stat(testRuncPath); err != nil {
		t.Fatalf("TestCgroupSampler needs runc at %s (make test installs it): %v", testRuncPath, err)
	}
	dir := t.TempDir()
	// The sandbox's root (an unprivileged host uid) must reach the bundle
	// and envd: open the temp dir and its parent for traversal.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	envd := filepath.Join(dir, "envd")
	build := exec.Command("go", "build", "-o", envd, "github.com/codeint/codeint/cmd/envd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build envd: %v\n%s", err, out)
	}
	if err := runc.SetChildSubreaper(); err != nil {
		t.Fatal(err)
	}
	parent := fmt.Sprintf("codeint-metertest-%d", os.Getpid())
	rt, err := runc.New(runc.Config{Kind: runc.KindRunc, Path: testRuncPath, DataDir: filepath.Join(dir, "data"),
		CgroupParent: parent, UIDBase: uint32(310_000_000 + os.Getpid()%1000*65536)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		matches, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", parent))
		for _, m := range append(matches, filepath.Join("/sys/fs/cgroup", parent)) {
			os.Remove(m)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const id = "meter-cg"
	c, err := rt.Start(ctx, runc.Options{ID: id, EnvdPath: envd, MemoryMB: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Stop(context.Background(), c)
	client, err := envdclient.New(c.Conn(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Ping(ctx); err != nil {
		t.Fatalf("ping: %v (stderr %s)", err, c.StderrTail())
	}

	sampler := CgroupSampler(func(sid string) (*runc.Cgroup, bool) {
		if sid != id {
			return nil, false
		}
		return c.Cgroup(), true
	})
	if _, err := sampler.Sample("other"); err == nil {
		t.Fatal("a sandbox the lookup does not know was sampled")
	}
	l := openLog(t, filepath.Join(dir, "meter"))
	defer l.Close()
	clock := newFakeClock()
	m := newMeter(t, l, clock, sampler, nil, Config{})
	if err := m.Start(SandboxInfo{ID: id, TeamID: "t", VCPUs: 1, MemoryMB: 512}); err != nil {
		t.Fatal(err)
	}
	before, err := sampler.Sample(id)
	if err != nil {
		t.Fatal(err)
	}
	const burn, hold = 700 * time.Millisecond, 160 << 20
	code := fmt.Sprintf(`
import time
b = bytearray(%d)
for i in range(0, len(b), 4096): b[i] = 1
del b
t = time.process_time()
while time.process_time() - t < %f: pass
`, hold, burn.Seconds())
	res, err := client.Exec(ctx, agentapi.ExecRequest{Language: agentapi.Python, Code: code}, nil)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("exec: %+v, %v", res, err)
	}
	after, err := sampler.Sample(id)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := c.Cgroup().Stats()
	t.Logf("before %+v, after %+v, cgroup %+v", before, after, st)
	if after.CPU-before.CPU < burn || after.PeakMemoryBytes < hold || after.PeakMemoryBytes < after.MemoryBytes {
		t.Fatalf("samples before %+v and after %+v the program", before, after)
	}
	clock.Advance(2 * time.Second)
	m.tick()
	rec, err := m.Stop(id, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("final record %+v", rec)
	if !rec.Final || rec.CPUSeconds < burn.Seconds() || rec.PeakMemoryBytes < hold || rec.Seq != 1 {
		t.Fatalf("final record %+v", rec)
	}
	if err := rt.Stop(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := sampler.Sample(id); err == nil {
		t.Error("a stopped sandbox's cgroup still samples")
	}
}
