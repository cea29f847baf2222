package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// binDir holds the codeint and envd binaries built once for the package.
var binDir string

func TestMain(m *testing.M) {
	code, err := buildAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func buildAndRun(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "codeint-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		return 0, err
	}
	for _, b := range []struct{ out, pkg string }{{"codeint", "."}, {"envd", "../envd"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+map[bool]string{true: "0", false: "1"}[b.out == "envd"])
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	binDir = dir
	code := m.Run()
	// The sandboxes' cgroups are gone; remove the (empty) parents too,
	// the regions' and labs' (cgroupParent()-<name>) included.
	for _, pattern := range []string{"/sys/fs/cgroup/*/" + cgroupParent(), "/sys/fs/cgroup/" + cgroupParent(),
		"/sys/fs/cgroup/*/" + cgroupParent() + "-*", "/sys/fs/cgroup/" + cgroupParent() + "-*"} {
		dirs, _ := filepath.Glob(pattern)
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	}
	return code, nil
}

// cgroupParent is this test process's own cgroup parent, so that its dev
// processes never reconcile away another agent's sandboxes.
func cgroupParent() string { return fmt.Sprintf("codeint-e2e-%d", os.Getpid()) }

// requireRoot fails (never skips) when the test cannot run sandboxes.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("these tests run real runc sandboxes and need root (CI runs as root)")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Fatal("runc is not installed: run `make deps` (it installs runc v1.3.4)")
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// devProc is a running `codeint dev` process.
type devProc struct {
	cmd          *exec.Cmd
	url          string
	key          string
	dataDir      string
	cgroupParent string
	logs         *lockedBuffer
	stdout       *lockedBuffer
	done         chan error
}

// newDataDir makes a data dir whose path the sandboxes' mapped root can
// traverse (t.TempDir is 0700).
func newDataDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "codeint-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startDev starts `codeint dev` on a free port and waits until it serves.
func startDev(t testing.TB, dataDir string, extra ...string) *devProc {
	t.Helper()
	requireRoot(t)
	d := &devProc{dataDir: dataDir, cgroupParent: cgroupParent(),
		logs: &lockedBuffer{}, stdout: &lockedBuffer{}, done: make(chan error, 1)}
	args := append([]string{"dev", "--listen", "127.0.0.1:0", "--data-dir", dataDir,
		"--cgroup-parent", d.cgroupParent}, extra...)
	d.cmd = exec.Command(filepath.Join(binDir, "codeint"), args...)
	d.cmd.Env = os.Environ()
	d.cmd.Stderr = d.logs
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			d.stdout.Write(append(sc.Bytes(), '\n'))
			lines <- sc.Text()
		}
		close(lines)
		d.done <- d.cmd.Wait()
	}()
	// A graceful stop: the agent kills its sandboxes and removes what they
	// left (a SIGKILL would leave them for the next start to reconcile).
	t.Cleanup(func() { d.stop(t, syscall.SIGTERM) })
	deadline := time.After(30 * time.Second)
	for d.url == "" || d.key == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("codeint dev exited before it served; logs:\n%s", d.logs.String())
			}
			f := strings.Fields(line)
			switch {
			case len(f) >= 2 && f[0] == "GraphQL":
				d.url = strings.TrimSuffix(f[1], "/graphql")
			case len(f) >= 3 && f[0] == "Admin" && f[1] == "key":
				d.key = f[2]
			}
		case <-deadline:
			t.Fatalf("codeint dev did not start within 30s; logs:\n%s", d.logs.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return d
}

// stop signals the process and waits for it to exit.
func (d *devProc) stop(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if d.cmd.ProcessState != nil {
		return
	}
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		t.Errorf("codeint dev did not exit within 30s of %v", sig)
		<-d.done
	}
}

func (d *devProc) client() *codeint.Client { return codeint.New(d.url, d.key) }

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// wantCode asserts err carries the GraphQL extensions.code.
func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if got := codeint.CodeOf(err); got != code {
		t.Fatalf("error %q has code %q, want %q", err, got, code)
	}
}

// leftovers lists what the platform left on the host for a sandbox: runc
// state, the bundle dir, cgroup dirs and mounts under the data dir.
func (d *devProc) leftovers(t testing.TB, id string) []string {
	t.Helper()
	var found []string
	for _, p := range []string{
		filepath.Join(d.dataDir, "agent", "runc", id),
		filepath.Join(d.dataDir, "agent", "bundles", id),
	} {
		if _, err := os.Lstat(p); err == nil {
			found = append(found, p)
		}
	}
	for _, pattern := range []string{"/sys/fs/cgroup/*/" + d.cgroupParent + "/" + id, "/sys/fs/cgroup/" + d.cgroupParent + "/" + id} {
		m, _ := filepath.Glob(pattern)
		found = append(found, m...)
	}
	return append(found, d.mounts(t)...)
}

// mounts lists the mounts under the data dir.
func (d *devProc) mounts(t testing.TB) []string {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, line := range strings.Split(string(mi), "\n") {
		if strings.Contains(line, d.dataDir) {
			found = append(found, "mount: "+line)
		}
	}
	return found
}

// runcContainers lists the containers runc knows in the agent's root.
func (d *devProc) runcContainers(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("runc", "--root", filepath.Join(d.dataDir, "agent", "runc"), "list", "-q").CombinedOutput()
	if err != nil && !strings.Contains(string(out), "no such file") {
		t.Fatalf("runc list: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// stranger returns a client of a new team of its own, named name.
func (d *devProc) stranger(t testing.TB, name string) *codeint.Client {
	t.Helper()
	ctx := ctxT(t, time.Minute)
	c := d.client()
	team, err := c.CreateTeam(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateAPIKey(ctx, team.ID, name+"-key")
	if err != nil {
		t.Fatal(err)
	}
	return codeint.New(d.url, k.Secret)
}
