package runc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	cgroupRoot        = "/sys/fs/cgroup"
	cgroup2SuperMagic = 0x63677270
)

// cgroupBases returns the directories under which a runtime puts the cgroup
// parent: /sys/fs/cgroup on a unified (v2) host, every mounted hierarchy
// (/sys/fs/cgroup/memory, …/unified, …/systemd) on a v1 or hybrid host.
// Removal walks them all: runc and runsc create the container's directory
// in every hierarchy, named ones included, not only in the controllers
// the agent reads.
func cgroupBases() ([]string, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(cgroupRoot, &st); err != nil {
		return nil, fmt.Errorf("runc: statfs %s: %w", cgroupRoot, err)
	}
	if st.Type == cgroup2SuperMagic {
		return []string{cgroupRoot}, nil
	}
	entries, err := os.ReadDir(cgroupRoot)
	if err != nil {
		return nil, fmt.Errorf("runc: list cgroup hierarchies: %w", err)
	}
	var bases []string
	for _, e := range entries {
		// Comounted controllers (cpu,cpuacct) show up as a directory and
		// symlinks to it; the directory suffices.
		if e.IsDir() {
			bases = append(bases, filepath.Join(cgroupRoot, e.Name()))
		}
	}
	return bases, nil
}

// CgroupDirs returns the cgroup directories of container id that exist.
func (r *Runtime) CgroupDirs(id string) ([]string, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	bases, err := cgroupBases()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, b := range bases {
		d := filepath.Join(b, r.cgroup, id)
		if _, err := os.Stat(d); err == nil {
			dirs = append(dirs, d)
		}
	}
	return dirs, nil
}

// CgroupIDs returns the ids that have a cgroup directory under the
// runtime's cgroup parent in any hierarchy.
func (r *Runtime) CgroupIDs() ([]string, error) {
	bases, err := cgroupBases()
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool)
	var ids []string
	for _, b := range bases {
		entries, err := os.ReadDir(filepath.Join(b, r.cgroup))
		if err != nil {
			continue // the parent does not exist in this hierarchy
		}
		for _, e := range entries {
			if e.IsDir() && ValidateID(e.Name()) == nil && !seen[e.Name()] {
				seen[e.Name()] = true
				ids = append(ids, e.Name())
			}
		}
	}
	return ids, nil
}

// removeCgroups removes the cgroup directories of id in every hierarchy,
// children first. A cgroup that still holds processes has them killed
// first; that happens only when the runtime did not clean up.
func (r *Runtime) removeCgroups(ctx context.Context, id string) error {
	dirs, err := r.CgroupDirs(id)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		if err := removeCgroupTree(ctx, d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func removeCgroupTree(ctx context.Context, dir string) error {
	var subdirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			subdirs = append(subdirs, p)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("runc: walk cgroup %s: %w", dir, err)
	}
	for i := len(subdirs) - 1; i >= 0; i-- { // deepest first
		if err := removeCgroup(ctx, subdirs[i]); err != nil {
			return err
		}
	}
	return nil
}

// removeCgroup rmdirs one cgroup, killing what is left in it and retrying
// for a short while: the kernel frees a cgroup only once its last task has
// exited.
func removeCgroup(ctx context.Context, dir string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("runc: remove cgroup %s: %w", dir, err)
		}
		killCgroupProcs(dir)
		select {
		case <-ctx.Done():
			return fmt.Errorf("runc: remove cgroup %s: %w", dir, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func killCgroupProcs(dir string) {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
