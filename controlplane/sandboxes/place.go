package sandboxes

import (
	"errors"
	"hash/fnv"
	"slices"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/placement"
)

// placementRequest is the placement request for a resolved create.
func placementRequest(teamID, sandboxID string, r resolved) placement.Request {
	h := fnv.New64a()
	h.Write([]byte(sandboxID))
	return placement.Request{Team: teamID, Template: r.template.Name, Runtime: r.runtime,
		Resources: placement.Resources{VCPUs: r.vcpus, MemoryMB: r.memoryMB, DiskMB: r.diskMB},
		Location:  placement.Location{Regions: []string{r.region}}, Seed: h.Sum64()}
}

// snapshot builds placement's view of the region from the Raft state: the
// nodes and what the sandboxes that are not over take on them.
func (s *Service) snapshot(snap *state.Snapshot) *placement.Snapshot {
	var nodes []placement.Node
	for _, n := range snap.Nodes() {
		nodes = append(nodes, placement.Node{ID: n.ID, Region: n.Region, Ready: n.Status == structs.NodeReady,
			Templates: n.Templates, Runtimes: n.Runtimes,
			Capacity: placement.Resources{VCPUs: n.VCPUs, MemoryMB: n.MemoryMB, DiskMB: n.DiskMB}})
	}
	ps := placement.NewSnapshot(s.cfg.Placement, []placement.Region{{Name: s.cfg.Region}}, nodes)
	for _, sb := range snap.SandboxesNonTerminal() {
		n, ok := ps.Node(sb.NodeID)
		if !ok {
			continue
		}
		n.Allocated = n.Allocated.Add(placement.Resources{VCPUs: sb.VCPUs, MemoryMB: sb.MemoryMB, DiskMB: sb.DiskMB})
		if sb.State == structs.SandboxCreating {
			n.InFlight++
		}
		if n.Teams == nil {
			n.Teams = map[string]int{}
		}
		n.Teams[sb.TeamID]++
	}
	return ps
}

// place chooses the node of a create in this region.
func (s *Service) place(req placement.Request, r resolved) (placement.Decision, error) {
	snap := s.cfg.Store.State().Snapshot()
	if err := checkFits(r, snap.Nodes()); err != nil {
		return placement.Decision{}, err
	}
	d, err := placement.Place(req, s.snapshot(snap))
	return d, placementError(err)
}

// placementError gives placement's typed errors their API codes.
func placementError(err error) error {
	var inv *placement.InvalidError
	var short *placement.NoCapacityError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &inv):
		return apperr.New(apperr.InvalidArgument, "%v", err)
	case errors.As(err, &short):
		return apperr.New(apperr.ResourceExhausted, "%v", err)
	}
	return err
}

// checkFits tells apart requests no node of the region could ever take —
// a runtime not installed (FAILED_PRECONDITION: install it) or resources
// above every node's size (INVALID_ARGUMENT naming the limit) — from a
// region that is only full now (RESOURCE_EXHAUSTED, from placement).
func checkFits(r resolved, nodes []*structs.Node) error {
	var withRuntime []*structs.Node
	for _, n := range nodes {
		if n.Region == r.region && n.Status == structs.NodeReady && slices.Contains(n.Runtimes, r.runtime) {
			withRuntime = append(withRuntime, n)
		}
	}
	if len(withRuntime) == 0 {
		hint := ""
		if r.runtime == RuntimeGVisor {
			hint = ": install gVisor's runsc on the nodes (Debian package runsc) and restart their agents"
		}
		return apperr.New(apperr.FailedPrecondition, "no ready node in region %s has the runtime %s%s", r.region, r.runtime, hint)
	}
	var maxVCPUs float64
	var maxMem, maxDisk int
	for _, n := range withRuntime {
		maxVCPUs, maxMem, maxDisk = max(maxVCPUs, n.VCPUs), max(maxMem, n.MemoryMB), max(maxDisk, n.DiskMB)
	}
	switch {
	case r.vcpus > maxVCPUs:
		return invalid("vcpus %g is more than the largest node in region %s offers (%g)", r.vcpus, r.region, maxVCPUs)
	case r.memoryMB > maxMem:
		return invalid("memoryMB %d is more than the largest node in region %s offers (%d)", r.memoryMB, r.region, maxMem)
	case r.diskMB > maxDisk:
		return invalid("diskMB %d is more than the largest node in region %s offers (%d)", r.diskMB, r.region, maxDisk)
	}
	return nil
}
