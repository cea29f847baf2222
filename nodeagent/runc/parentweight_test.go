package runc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cgroups "github.com/containerd/cgroups/v3"
)

// TestParentCPUWeight: the sandboxes' cgroup parent gets the weight asked
// (cpu.weight on v2, the equivalent cpu.shares on v1), a second agent on
// the same parent sets it again, and a weight out of range is refused.
func TestParentCPUWeight(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test writes cgroups and needs root")
	}
	if got := []uint64{sharesOfWeight(1), sharesOfWeight(10000)}; got[0] != 2 || got[1] != 262144 {
		t.Fatalf("shares of weights 1 and 10000: %v, want [2 262144]", got)
	}
	parent := fmt.Sprintf("codeint-weighttest-%d", os.Getpid())
	file, want := filepath.Join(cgroupRoot, "cpu", parent, "cpu.shares"), map[uint64]string{1: "2", 50: "1286"}
	if cgroups.Mode() == cgroups.Unified {
		file, want = filepath.Join(cgroupRoot, parent, "cpu.weight"), map[uint64]string{1: "1", 50: "50"}
	}
	t.Cleanup(func() { _ = os.Remove(filepath.Dir(file)) })
	for _, w := range []uint64{50, 1} {
		if err := setParentCPUWeight(parent, w); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(b)); got != want[w] {
			t.Fatalf("weight %d: %s holds %s, want %s", w, file, got, want[w])
		}
	}
	for _, w := range []uint64{0, 10001} {
		if err := setParentCPUWeight(parent, w); err == nil || !strings.Contains(err.Error(), "want 1..10000") {
			t.Fatalf("weight %d: %v, want an error naming the range", w, err)
		}
	}
}
