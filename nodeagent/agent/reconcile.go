package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// Reconcile removes what a previous agent process left on this data
// directory and cgroup parent: it kills and deletes every runc container in
// the runc root, and removes every bundle directory and every cgroup
// directory of a sandbox this agent does not run. It returns the ids it
// cleaned, sorted; the control plane marks them STOPPED with reason
// AGENT_RESTART. Call it before serving.
func (a *Agent) Reconcile(ctx context.Context) ([]string, error) {
	ctx, span := tracer.Start(ctx, "agent.Reconcile")
	var err error
	defer endSpan(span, &err)

	found := make(map[string]bool)
	var errs []error
	states, lerr := a.rt.List(ctx)
	if lerr != nil {
		errs = append(errs, lerr)
	}
	for _, s := range states {
		found[s.ID] = true
	}
	bundles, berr := a.rt.Bundles()
	if berr != nil {
		errs = append(errs, berr)
	}
	cgroups, cerr := a.rt.CgroupIDs()
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
		if cerr := a.rt.Cleanup(ctx, id); cerr != nil {
			errs = append(errs, fmt.Errorf("agent: reconcile %s: %w", id, cerr))
		}
		cleaned = append(cleaned, id)
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
