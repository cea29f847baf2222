package sandboxes

import (
	"context"
	"errors"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/hashicorp/serf/coordinate"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/placement"
)

// Leader reaches the region's leader from a server that is not it: the
// leader places on its live view, so creates go there.
type Leader interface {
	IsLeader() bool
	Create(ctx context.Context, teamID string, in CreateInput, preview bool) (*structs.Sandbox, *structs.Placement, error)
}

// LiveNode is what a node's heartbeats say of it now, beyond its record.
type LiveNode struct {
	Warm  map[placement.PoolKey]int // ready warm sandboxes
	Coord *coordinate.Coordinate    // nil when not measured
}

type toLeaderKey struct{}

// ToLeader marks a create another server of this region sent to this one
// as the leader: it is placed here, never forwarded again.
func ToLeader(ctx context.Context) context.Context {
	return context.WithValue(ctx, toLeaderKey{}, true)
}

func forwarded(ctx context.Context) bool { return ctx.Value(toLeaderKey{}) != nil }

// reservation holds a node's resources for a create between its placement
// and its commit, so that creates placed meanwhile do not count them free.
type reservation struct {
	node, team string
	res        placement.Resources
}

// liveView is what one placement decides on: the Raft state, what the
// heartbeats say (on the leader) and the other regions.
type liveView struct {
	s     *Service
	state *state.Snapshot
}

func (s *Service) liveView(context.Context) liveView {
	return liveView{s: s, state: s.cfg.Store.State().Snapshot()}
}

// snapshot builds placement's view: this region's nodes, with what the
// sandboxes that are not over and the reservations take on them, their
// warm slots and coordinates; and the other regions, with their
// coordinates and capacity summaries.
func (v liveView) snapshot(reserved map[string]reservation) *placement.Snapshot {
	cfg := v.s.cfg
	var nodes []placement.Node
	for _, n := range v.state.Nodes() {
		if n.Region != cfg.Region {
			continue
		}
		pn := placement.Node{ID: n.ID, Region: n.Region, Ready: n.Status == structs.NodeReady, Draining: n.Draining,
			Templates: n.Templates, Runtimes: n.Runtimes, Labels: n.Labels,
			Capacity: placement.Resources{VCPUs: n.VCPUs, MemoryMB: n.MemoryMB, DiskMB: n.DiskMB}}
		if cfg.Live != nil {
			if live, ok := cfg.Live(n.ID); ok {
				pn.Warm, pn.Coord = live.Warm, live.Coord
			}
		}
		nodes = append(nodes, pn)
	}
	regions := []placement.Region{{Name: cfg.Region}}
	if cfg.Regions != nil {
		regions = cfg.Regions()
	}
	ps := placement.NewSnapshot(cfg.Placement, regions, nodes)
	for _, sb := range v.state.SandboxesNonTerminal() {
		if n, ok := ps.Node(sb.NodeID); ok {
			take(n, sb.TeamID, placement.Resources{VCPUs: sb.VCPUs, MemoryMB: sb.MemoryMB, DiskMB: sb.DiskMB},
				sb.State == structs.SandboxCreating)
		}
	}
	for id, r := range reserved {
		if n, ok := ps.Node(r.node); ok && v.state.SandboxByID(id) == nil {
			take(n, r.team, r.res, true)
		}
	}
	return ps
}

// take counts a sandbox's resources on a node before the snapshot is used.
func take(n *placement.Node, team string, res placement.Resources, starting bool) {
	n.Allocated = n.Allocated.Add(res)
	if starting {
		n.InFlight++
	}
	if n.Teams == nil {
		n.Teams = map[string]int{}
	}
	n.Teams[team]++
}

// PoolKeyOf turns an agent's warm-pool key ("template/runtime/…") into
// placement's.
func PoolKeyOf(key string) (placement.PoolKey, bool) {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) < 2 {
		return placement.PoolKey{}, false
	}
	return placement.PoolKey{Template: parts[0], Runtime: parts[1]}, true
}

// placementRequest is the placement request for a resolved create.
func placementRequest(teamID, sandboxID string, r resolved, in CreateInput) placement.Request {
	h := fnv.New64a()
	h.Write([]byte(sandboxID))
	return placement.Request{Team: teamID, Template: r.template.Name, Runtime: r.runtime,
		Resources:    placement.Resources{VCPUs: r.vcpus, MemoryMB: r.memoryMB, DiskMB: r.diskMB},
		Labels:       in.Labels,
		Location:     placement.Location{Regions: r.regions, Origin: in.Origin, Coord: in.ClientCoord},
		MaxLatencyMs: in.MaxLatencyMs, Seed: h.Sum64()}
}

// regionStep records the region step for the sandbox's explanation.
func regionStep(c placement.RegionChoice) []structs.PlacementRegion {
	out := make([]structs.PlacementRegion, 0, len(c.Ranked)+len(c.Rejected))
	for _, list := range [][]placement.RegionCandidate{c.Ranked, c.Rejected} {
		for _, r := range list {
			pr := structs.PlacementRegion{Region: r.Region, Score: r.Final, Reason: r.Reason}
			if r.LatencyKnown {
				ms := r.LatencyMs
				pr.LatencyMs = &ms
			}
			out = append(out, pr)
		}
	}
	return out
}

// chosen returns step with region marked as the one tried.
func chosen(step []structs.PlacementRegion, region string) []structs.PlacementRegion {
	out := slices.Clone(step)
	for i := range out {
		out[i].Chosen = out[i].Region == region
	}
	return out
}

// passedOver records in step why a ranked region did not take the
// sandbox after all (its nodes were full when its leader placed).
func passedOver(step []structs.PlacementRegion, region string, err error) []structs.PlacementRegion {
	out := slices.Clone(step)
	for i := range out {
		if out[i].Region == region {
			out[i].Reason = "tried, full: " + err.Error()
		}
	}
	return out
}

// placementInfo is the explanation kept on the sandbox.
func placementInfo(d placement.Decision, step []structs.PlacementRegion) *structs.Placement {
	p := &structs.Placement{Region: d.Region, NodeID: d.NodeID, Score: d.Final, Regions: step,
		Examined: d.Examined, Feasible: d.Feasible, Attempts: 1}
	for _, sc := range d.Scores {
		p.Scores = append(p.Scores, structs.PlacementScore{Name: sc.Name, Value: sc.Value, Weight: sc.Weight})
	}
	for _, c := range d.RunnersUp {
		p.RunnersUp = append(p.RunnersUp, structs.PlacementCandidate{NodeID: c.NodeID, Score: c.Final})
	}
	return p
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
func checkFits(r resolved, region string, nodes []*structs.Node) error {
	var withRuntime []*structs.Node
	for _, n := range nodes {
		if n.Region == region && n.Status == structs.NodeReady && slices.Contains(n.Runtimes, r.runtime) {
			withRuntime = append(withRuntime, n)
		}
	}
	if len(withRuntime) == 0 {
		hint := ""
		if r.runtime == RuntimeGVisor {
			hint = ": install gVisor's runsc on the nodes (Debian package runsc) and restart their agents"
		}
		return apperr.New(apperr.FailedPrecondition, "no ready node in region %s has the runtime %s%s", region, r.runtime, hint)
	}
	var maxVCPUs float64
	var maxMem, maxDisk int
	for _, n := range withRuntime {
		maxVCPUs, maxMem, maxDisk = max(maxVCPUs, n.VCPUs), max(maxMem, n.MemoryMB), max(maxDisk, n.DiskMB)
	}
	switch {
	case r.vcpus > maxVCPUs:
		return invalid("vcpus %g is more than the largest node in region %s offers (%g)", r.vcpus, region, maxVCPUs)
	case r.memoryMB > maxMem:
		return invalid("memoryMB %d is more than the largest node in region %s offers (%d)", r.memoryMB, region, maxMem)
	case r.diskMB > maxDisk:
		return invalid("diskMB %d is more than the largest node in region %s offers (%d)", r.diskMB, region, maxDisk)
	}
	return nil
}

// Summary is this region's capacity as placement sees it now, from the
// Raft state and (on the leader) the heartbeats: what other regions are
// told, and what a scaler scales on.
func (s *Service) Summary() placement.Summary {
	r, _ := s.liveView(context.Background()).snapshot(nil).Region(s.cfg.Region)
	return r.Summary
}
