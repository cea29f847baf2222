package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codeint/codeint/sdk/go/codeint"
)

// warmSlots lists the warm-pool containers runc knows.
func (d *devProc) warmSlots(t testing.TB) []string {
	var slots []string
	for _, id := range strings.Fields(d.runcContainers(t)) {
		if strings.HasPrefix(id, "warm-") {
			slots = append(slots, id)
		}
	}
	return slots
}

// hostClean asserts that nothing of any sandbox is left on the host: no
// runc container, bundle, cgroup below the parent, or mount under the data
// dir.
func (d *devProc) hostClean(t testing.TB) {
	t.Helper()
	if left := d.runcContainers(t); left != "" {
		t.Fatalf("runc still knows containers: %s", left)
	}
	if entries, _ := os.ReadDir(filepath.Join(d.dataDir, "agent", "bundles")); len(entries) > 0 {
		t.Fatalf("%d bundle dirs left", len(entries))
	}
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + d.cgroupParent + "/*")
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			t.Fatalf("cgroup left: %s", dir)
		}
	}
	if m := d.mounts(t); len(m) > 0 {
		t.Fatalf("mounts left: %v", m)
	}
}

// TestWarmPool: creates are served from pre-started sandboxes, each to one
// caller only, the pool refills, and a graceful stop leaves nothing.
func TestWarmPool(t *testing.T) {
	d := startDev(t, newDataDir(t), "--pool-size", "2")
	c := d.client()
	ctx := ctxT(t, 2*time.Minute)
	waitUntil(t, "two warm slots ready", func() bool { return d.metric(t, "warm_pool_ready") == 2 })
	before := d.warmSlots(t)

	var ids []string
	for i := 0; i < 2; i++ {
		sb, err := c.CreateSandbox(ctx, codeint.CreateSandboxInput{Env: []codeint.EnvVar{{Name: "N", Value: fmt.Sprint(i)}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sb.ID)
		// Placement saw the warm slot (dev's live view of its own node).
		if w, ok := scoreOf(sb.Placement, "warm"); !ok || w != 1 {
			t.Fatalf("sandbox %d placed without seeing the warm slot:\n%s", i, sb.Placement.Explanation)
		}
		if slices.Contains(strings.Fields(d.runcContainers(t)), sb.ID) {
			t.Fatalf("sandbox %d was started cold (runc knows %s) although slots were warm", i, sb.ID)
		}
	}
	// Each sandbox is its own: a file written in one is not in the other,
	// and each sees its own env.
	for i, id := range ids {
		res, err := c.Execute(ctx, id, codeint.ExecuteInput{Language: codeint.Bash,
			Code: `ls /tmp/mine-* 2>/dev/null; echo "n=$N"; touch /tmp/mine-$N`})
		if err != nil {
			t.Fatal(err)
		}
		if res.Stdout != fmt.Sprintf("n=%d\n", i) {
			t.Fatalf("sandbox %d saw %q: slots shared or env lost", i, res.Stdout)
		}
	}
	// The pool refills with new slots; the claimed ones are never reused.
	waitUntil(t, "refill", func() bool { return d.metric(t, "warm_pool_ready") == 2 && len(d.warmSlots(t)) == 4 })
	if hits := d.metric(t, `warm_pool_claims_total{pool="base/RUNC/1cpu/512MB/512MB",result="hit"}`); hits != 2 {
		t.Fatalf("warm pool hits = %v, want 2", hits)
	}
	for _, id := range ids {
		if _, err := c.TerminateSandbox(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	after := d.warmSlots(t)
	if len(after) != 2 {
		t.Fatalf("after terminating the claimed slots runc knows warm slots %v, want the 2 new ones", after)
	}
	for _, s := range after {
		if slices.Contains(before, s) {
			t.Fatalf("slot %s was claimed and is still warm", s)
		}
	}
	d.stop(t, syscall.SIGTERM)
	d.hostClean(t)
}

// metric returns the value of the first /metrics sample whose name (and
// labels, when given) starts with prefix.
func (d *devProc) metric(t testing.TB, prefix string) float64 {
	t.Helper()
	resp, err := http.Get(d.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, prefix) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return v
		}
	}
	return -1
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
