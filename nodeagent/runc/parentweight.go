package runc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	cgroups "github.com/containerd/cgroups/v3"
)

// DefaultParentCPUWeight is the CPU weight of the cgroup parent of every
// sandbox, in cgroup v2 units (1–10000; a process or cgroup has 100 by
// default). Sandboxes compete for CPU with the platform on the same host:
// the agent, a control-plane server in `codeint dev`, the runtime it runs
// for starts and teardowns, and the kernel workers that finish their
// I/O. At the lowest weight, the sandboxes together yield to any of
// those that wants a CPU, and still take every cycle nobody else wants
// (a weight is a share under contention, never a cap; each sandbox's own
// limit is its CPU quota). On a 2-vCPU node creating sandboxes back to
// back, this took the warm create's p99 from 22–30 ms to 11 ms.
const DefaultParentCPUWeight = 1

// MaxParentCPUWeight is the highest CPU weight (cgroup v2's bound).
const MaxParentCPUWeight = 10000

// CheckParentCPUWeight refuses a weight outside 1..MaxParentCPUWeight.
func CheckParentCPUWeight(weight uint64) error {
	if weight < 1 || weight > MaxParentCPUWeight {
		return fmt.Errorf("CPU weight %d of the sandboxes' cgroup: want 1..%d", weight, MaxParentCPUWeight)
	}
	return nil
}

// sharesOfWeight converts a cgroup v2 cpu.weight to the v1 cpu.shares the
// kernel treats alike (the conversion runc and systemd use, inverted).
func sharesOfWeight(w uint64) uint64 { return 2 + (w-1)*262142/9999 }

// setParentCPUWeight creates the sandboxes' cgroup parent in the CPU
// controller's hierarchy and sets its weight: cpu.weight on a unified
// (v2) host, cpu.shares in the cpu hierarchy on a v1 or hybrid host.
// The runtime creates the parent in the other hierarchies with the
// first container, as before.
func setParentCPUWeight(parent string, weight uint64) error {
	if err := CheckParentCPUWeight(weight); err != nil {
		return fmt.Errorf("runc: %w", err)
	}
	if cgroups.Mode() == cgroups.Unified {
		// The cpu controller must be enabled for the root's children to
		// have cpu.weight; systemd hosts have it, others may not.
		if err := enableController(cgroupRoot, "cpu"); err != nil {
			return err
		}
		dir := filepath.Join(cgroupRoot, parent)
		return writeCgroupFile(dir, "cpu.weight", weight)
	}
	return writeCgroupFile(filepath.Join(cgroupRoot, "cpu", parent), "cpu.shares", sharesOfWeight(weight))
}

// enableController enables a v2 controller for the children of dir,
// unless it already is.
func enableController(dir, name string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("runc: read %s: %w", filepath.Join(dir, "cgroup.subtree_control"), err)
	}
	for _, c := range strings.Fields(string(b)) {
		if c == name {
			return nil
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+name), 0); err != nil {
		return fmt.Errorf("runc: enable the %s controller in %s: %w", name, dir, err)
	}
	return nil
}

func writeCgroupFile(dir, file string, v uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("runc: create cgroup %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(strconv.FormatUint(v, 10)), 0); err != nil {
		return fmt.Errorf("runc: set %s of %s: %w", file, dir, err)
	}
	return nil
}
