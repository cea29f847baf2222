package runc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	cgroups "github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
)

// Cgroup is the agent's handle on one sandbox's cgroup, which the runtime
// created from the bundle's linux.resources and cgroupsPath. It reads and
// acts through github.com/containerd/cgroups/v3, so the same code serves
// cgroup v1 (one directory per hierarchy) and v2 (one unified directory).
// Its methods are safe for concurrent use.
type Cgroup struct {
	path string           // "/<parent>/<id>", relative to every hierarchy
	v1   cgroup1.Cgroup   // nil on a unified (v2) host
	v2   *cgroup2.Manager // nil on a v1 or hybrid host
	// pidsEvents is the pids controller's event file: cgroups/v3 does
	// not expose its "max" counter.
	pidsEvents string
	// oomEvents is the memory controller's file with the "oom_kill"
	// counter: memory.events (v2) or memory.oom_control (v1).
	oomEvents string
	// The directories Usage reads: the memory and cpuacct hierarchies'
	// (v1), or both the unified one (v2).
	memDir, cpuDir string
}

// LimitCounters are the two counters that say a sandbox-wide limit struck.
type LimitCounters struct {
	OOMKills      uint64 // processes the OOM killer took in this cgroup
	PidsLimitHits uint64 // forks refused by the pids limit
}

// CgroupStats is what the agent reads from a sandbox's cgroup.
type CgroupStats struct {
	OOMKills      uint64        // processes the OOM killer took in this cgroup
	PidsLimitHits uint64        // forks refused by the pids limit ("max" in pids.events)
	MemoryBytes   uint64        // memory charged now (processes, page cache, tmpfs)
	CPU           time.Duration // CPU time used so far by every process, ever
	Pids          uint64        // processes (tasks) now
	// PeakMemoryBytes is the highest MemoryBytes since the cgroup was
	// created, as the kernel keeps it: memory.max_usage_in_bytes (v1),
	// memory.peak (v2, Linux 5.19 on); 0 where there is no such file.
	PeakMemoryBytes uint64
}

// v1Controllers are the hierarchies the agent reads or acts on. The others
// (cpu, cpuset, blkio, devices, systemd, …) are runc's to configure;
// removing them all is RemoveCgroups's job.
func v1Controllers() []cgroup1.Name {
	return []cgroup1.Name{cgroup1.Memory, cgroup1.Pids, cgroup1.Cpuacct, cgroup1.Freezer}
}

// openCgroup loads the existing cgroup /<parent>/<id>.
func openCgroup(parent, id string) (*Cgroup, error) {
	path := "/" + parent + "/" + id
	if cgroups.Mode() == cgroups.Unified {
		m, err := cgroup2.Load(path)
		if err != nil {
			return nil, fmt.Errorf("runc: load cgroup %s: %w", path, err)
		}
		dir := filepath.Join(cgroupRoot, path)
		return &Cgroup{path: path, v2: m, pidsEvents: filepath.Join(dir, "pids.events"),
			oomEvents: filepath.Join(dir, "memory.events"), memDir: dir, cpuDir: dir}, nil
	}
	hierarchy := func() ([]cgroup1.Subsystem, error) {
		all, err := cgroup1.Default()
		if err != nil {
			return nil, err
		}
		var keep []cgroup1.Subsystem
		for _, s := range all {
			for _, n := range v1Controllers() {
				if s.Name() == n {
					keep = append(keep, s)
				}
			}
		}
		return keep, nil
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath(path), cgroup1.WithHierarchy(hierarchy))
	if err != nil {
		return nil, fmt.Errorf("runc: load cgroup %s: %w", path, err)
	}
	c := &Cgroup{path: path, v1: cg}
	for _, s := range cg.Subsystems() {
		p, ok := s.(interface{ Path(string) string })
		switch {
		case ok && s.Name() == cgroup1.Pids:
			c.pidsEvents = filepath.Join(p.Path(path), "pids.events")
		case ok && s.Name() == cgroup1.Memory:
			c.oomEvents = filepath.Join(p.Path(path), "memory.oom_control")
			c.memDir = p.Path(path)
		case ok && s.Name() == cgroup1.Cpuacct:
			c.cpuDir = p.Path(path)
		}
	}
	return c, nil
}

// Path is the cgroup's path below each hierarchy's root.
func (c *Cgroup) Path() string { return c.path }

// Usage reads only what metering samples every second: CPU time, memory
// now and its peak (0 where the kernel keeps none) — three small files,
// where Stats parses every counter of every controller.
func (c *Cgroup) Usage() (CgroupStats, error) {
	var st CgroupStats
	if c.v2 != nil {
		usec, err := readKeyed(filepath.Join(c.cpuDir, "cpu.stat"), "usage_usec")
		if err != nil {
			return st, err
		}
		st.CPU = time.Duration(usec) * time.Microsecond
		if st.MemoryBytes, err = readUint(filepath.Join(c.memDir, "memory.current")); err != nil {
			return st, err
		}
		st.PeakMemoryBytes, _ = readUint(filepath.Join(c.memDir, "memory.peak")) // Linux 5.19 on
		return st, nil
	}
	ns, err := readUint(filepath.Join(c.cpuDir, "cpuacct.usage"))
	if err != nil {
		return st, err
	}
	st.CPU = time.Duration(ns)
	if st.MemoryBytes, err = readUint(filepath.Join(c.memDir, "memory.usage_in_bytes")); err != nil {
		return st, err
	}
	if st.PeakMemoryBytes, err = readUint(filepath.Join(c.memDir, "memory.max_usage_in_bytes")); err != nil {
		return st, err
	}
	return st, nil
}

// readUint reads a file holding one number.
func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("runc: cgroup usage: %w", err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("runc: cgroup usage %s: %w", path, err)
	}
	return v, nil
}

// readKeyed reads the value of key in a file of "key value" lines.
func readKeyed(path, key string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("runc: cgroup usage: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok && k == key {
			return strconv.ParseUint(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("runc: cgroup usage: no %s in %s", key, path)
}

// Stats reads the cgroup's counters and usage.
func (c *Cgroup) Stats() (CgroupStats, error) {
	var st CgroupStats
	if c.v2 != nil {
		m, err := c.v2.StatFiltered(cgroup2.StatPids | cgroup2.StatCPU | cgroup2.StatMemory | cgroup2.StatMemoryEvents)
		if err != nil {
			return st, fmt.Errorf("runc: cgroup stats: %w", err)
		}
		if m.MemoryEvents != nil {
			st.OOMKills = m.MemoryEvents.OomKill
		}
		if m.Memory != nil {
			st.MemoryBytes = m.Memory.Usage
			st.PeakMemoryBytes = m.Memory.MaxUsage // 0 without memory.peak
		}
		if m.CPU != nil {
			st.CPU = time.Duration(m.CPU.UsageUsec) * time.Microsecond
		}
		if m.Pids != nil {
			st.Pids = m.Pids.Current
		}
	} else {
		m, err := c.v1.Stat(cgroup1.IgnoreNotExist)
		if err != nil {
			return st, fmt.Errorf("runc: cgroup stats: %w", err)
		}
		if m.MemoryOomControl != nil {
			st.OOMKills = m.MemoryOomControl.OomKill
		}
		if m.Memory != nil && m.Memory.Usage != nil {
			st.MemoryBytes = m.Memory.Usage.Usage
			st.PeakMemoryBytes = m.Memory.Usage.Max
		}
		if m.CPU != nil && m.CPU.Usage != nil {
			st.CPU = time.Duration(m.CPU.Usage.Total)
		}
		if m.Pids != nil {
			st.Pids = m.Pids.Current
		}
	}
	hits, err := readEventCounter(c.pidsEvents, "max")
	if err != nil {
		return st, err
	}
	st.PidsLimitHits = hits
	return st, nil
}

// Limits reads the OOM-kill and pids-limit counters alone: two small
// files, where Stats reads every controller's statistics. Executions read
// them before and after, so this is on every execution's path.
func (c *Cgroup) Limits() (LimitCounters, error) {
	oom, err := readEventCounter(c.oomEvents, "oom_kill")
	if err != nil {
		return LimitCounters{}, err
	}
	hits, err := readEventCounter(c.pidsEvents, "max")
	if err != nil {
		return LimitCounters{}, err
	}
	return LimitCounters{OOMKills: oom, PidsLimitHits: hits}, nil
}

// readEventCounter reads one "key value" line of a cgroup events file.
func readEventCounter(file, key string) (uint64, error) {
	if file == "" {
		return 0, nil // no such controller
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("runc: read %s: %w", file, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(" "))
		if ok && string(k) == key {
			return strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
		}
	}
	return 0, nil
}

// Procs returns the pids (host view) of every process in the cgroup.
func (c *Cgroup) Procs() ([]int, error) {
	var pids []int
	if c.v2 != nil {
		ps, err := c.v2.Procs(true)
		if err != nil {
			return nil, fmt.Errorf("runc: cgroup procs: %w", err)
		}
		for _, p := range ps {
			pids = append(pids, int(p))
		}
		return pids, nil
	}
	ps, err := c.v1.Processes(cgroup1.Pids, true)
	if err != nil {
		return nil, fmt.Errorf("runc: cgroup procs: %w", err)
	}
	for _, p := range ps {
		pids = append(pids, p.Pid)
	}
	return pids, nil
}

// KillAll sends SIGKILL to every process of the cgroup, leaving nothing a
// fork could add: cgroup.kill on v2, freeze → kill → thaw on v1.
func (c *Cgroup) KillAll() error {
	if c.v2 != nil {
		if err := c.v2.Kill(); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("runc: kill cgroup %s: %w", c.path, err)
		}
		return nil
	}
	return c.frozen(func(pid int) bool { return true })
}

// KillUID sends SIGKILL to every process of the cgroup whose real uid (host
// view) is uid, with the cgroup frozen so none forks meanwhile.
func (c *Cgroup) KillUID(uid uint32) error {
	return c.frozen(func(pid int) bool {
		owner, err := procUID(pid)
		return err == nil && owner == uid
	})
}

// freezeWait bounds how long a freeze may take before killing goes ahead
// unfrozen (and retries until the processes are gone).
const freezeWait = time.Second

// frozen freezes the cgroup, kills the processes match selects, and thaws
// it: the killed processes die once thawed, and none could fork between
// the listing and the kill. Without a freezer it kills in rounds.
func (c *Cgroup) frozen(match func(pid int) bool) error {
	froze := c.freeze()
	defer func() {
		if froze {
			c.thaw()
		}
	}()
	for round := 0; round < 100; round++ {
		pids, err := c.Procs()
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		n := 0
		for _, pid := range pids {
			if match(pid) {
				n++
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if n == 0 || froze {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("runc: processes of cgroup %s keep appearing", c.path)
}

// freeze freezes the cgroup and reports whether it got frozen within
// freezeWait. It writes the freezer files itself rather than calling the
// cgroups library's Freeze, which retries until the state is reached: a
// task that cannot freeze (one in the middle of an exec, waiting for its
// frozen sibling threads) would keep that call, and the cgroup, FREEZING
// for ever. A freeze that does not complete is undone.
func (c *Cgroup) freeze() bool {
	if err := c.setFrozen(true); err != nil {
		return false
	}
	for deadline := time.Now().Add(freezeWait); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if frozen, err := c.isFrozen(); err == nil && frozen {
			return true
		}
	}
	c.thaw()
	return false
}

func (c *Cgroup) thaw() { _ = c.setFrozen(false) }

// setFrozen writes the freezer's wanted state: freezer.state on v1,
// cgroup.freeze on v2.
func (c *Cgroup) setFrozen(frozen bool) error {
	if c.v2 != nil {
		v := map[bool]string{true: "1", false: "0"}[frozen]
		return os.WriteFile(filepath.Join(cgroupRoot, c.path, "cgroup.freeze"), []byte(v), 0)
	}
	v := map[bool]string{true: "FROZEN", false: "THAWED"}[frozen]
	return os.WriteFile(filepath.Join(cgroupRoot, "freezer", c.path, "freezer.state"), []byte(v), 0)
}

// isFrozen reports whether every task of the cgroup is frozen.
func (c *Cgroup) isFrozen() (bool, error) {
	if c.v2 != nil {
		data, err := os.ReadFile(filepath.Join(cgroupRoot, c.path, "cgroup.events"))
		return bytes.Contains(data, []byte("frozen 1")), err
	}
	data, err := os.ReadFile(filepath.Join(cgroupRoot, "freezer", c.path, "freezer.state"))
	return string(bytes.TrimSpace(data)) == "FROZEN", err
}

// procUID reads the real uid of pid from /proc.
func procUID(pid int) (uint32, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("Uid:")); ok {
			f := bytes.Fields(rest)
			if len(f) == 0 {
				break
			}
			n, err := strconv.ParseUint(string(f[0]), 10, 32)
			return uint32(n), err
		}
	}
	return 0, fmt.Errorf("runc: no Uid line in /proc/%d/status", pid)
}
