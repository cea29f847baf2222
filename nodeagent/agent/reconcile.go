package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"

	"github.com/codeint/codeint/nodeagent/runc"
)

// Reconcile removes what a previous agent process left on this data
// directory and cgroup parent, under every installed runtime: it kills
// every container in the runtimes' state roots and every process in a
// leftover cgroup, and removes every bundle directory and every cgroup
// directory of a sandbox this agent does not run. It returns the ids it
// cleaned, sorted; the control plane marks them STOPPED with reason
// AGENT_RESTART. Call it before serving.
//
// It also rebuilds the uid-range allocator from what exists: a leftover's
// range is claimed while it is cleaned up and freed once nothing of it is
// left; a range that some live process of the host still uses (a leftover
// whose cgroup is gone, a teardown that failed) stays quarantined.
func (a *Agent) Reconcile(ctx context.Context) ([]string, error) {
	ctx, span := tracer.Start(ctx, "agent.Reconcile")
	var err error
	defer endSpan(span, &err)

	found := make(map[string]bool)
	var errs []error
	for _, rt := range a.runtimes() {
		states, lerr := rt.List(ctx)
		if lerr != nil {
			errs = append(errs, lerr)
		}
		for _, s := range states {
			found[s.ID] = true
		}
	}
	bundles, berr := a.runc.Bundles()
	if berr != nil {
		errs = append(errs, berr)
	}
	cgroups, cerr := a.runc.CgroupIDs()
	if cerr != nil {
		errs = append(errs, cerr)
	}
	for _, id := range append(bundles, cgroups...) {
		found[id] = true
	}

	var cleaned []string
	for id := range found {
		if a.owns(id) {
			continue
		}
		a.logger.Warn("removing leftover sandbox", "sandbox_id", id, "event", "reconcile")
		if base, err := runc.BundleUIDBase(a.runc.BundleDir(id)); err == nil {
			a.uids.claim(base, id) // settled below, once the leftover is gone
		}
		for _, rt := range a.runtimes() {
			if cerr := rt.Cleanup(ctx, id); cerr != nil {
				errs = append(errs, fmt.Errorf("agent: reconcile %s: %w", id, cerr))
			}
		}
		cleaned = append(cleaned, id)
	}
	runc.ReapZombies()
	if n := a.uids.settle(a.busyUIDSlots(), a.owns); n > 0 {
		a.logger.Warn("uid ranges still used by live processes: kept out of use", "event", "uid_quarantine", "ranges", n)
	}
	sort.Strings(cleaned)
	err = errors.Join(errs...)
	return cleaned, err
}

// owns reports whether id is a sandbox of this agent (started or starting).
func (a *Agent) owns(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sandboxes[id] != nil
}

// busyUIDSlots returns the slots of the uid ranges that live processes of
// the host run in.
func (a *Agent) busyUIDSlots() map[int]bool {
	busy := make(map[int]bool)
	first, last := a.uids.window()
	for _, uid := range processUIDs() {
		if uid >= first && uid <= last {
			if i, ok := a.uids.slotOfUID(uid); ok {
				busy[i] = true
			}
		}
	}
	return busy
}

// processUIDs returns the real uid of every live process of the host.
func processUIDs() []uint32 {
	dir, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer dir.Close()
	names, _ := dir.Readdirnames(-1)
	var uids []uint32
	for _, name := range names {
		if _, err := strconv.Atoi(name); err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + name + "/status")
		if err != nil {
			continue
		}
		if uid, ok := statusUID(data); ok {
			uids = append(uids, uid)
		}
	}
	return uids
}

// statusUID reads the real uid of a live process from /proc/PID/status.
func statusUID(data []byte) (uint32, bool) {
	live := true
	var uid uint64
	found := false
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("State:")); ok {
			live = !bytes.HasPrefix(bytes.TrimSpace(rest), []byte("Z"))
		}
		if rest, ok := bytes.CutPrefix(line, []byte("Uid:")); ok {
			if f := bytes.Fields(rest); len(f) > 0 {
				n, err := strconv.ParseUint(string(f[0]), 10, 32)
				uid, found = n, err == nil
			}
		}
	}
	return uint32(uid), found && live
}
