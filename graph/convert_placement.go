package graph

import (
	"context"

	"github.com/hashicorp/serf/coordinate"

	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/controlplane/structs"
	"github.com/codeint/codeint/graph/model"
)

// createRequest is the calling team and the converted input of a create
// or a placement preview.
func createRequest(ctx context.Context, input model.CreateSandboxInput) (string, sandboxes.CreateInput, error) {
	team, err := teamID(ctx)
	if err != nil {
		return "", sandboxes.CreateInput{}, err
	}
	in, err := toCreateInputChecked(input)
	return team, in, err
}

// toCreateInputChecked converts a create's input; a client coordinate
// that is not one is INVALID_ARGUMENT.
func toCreateInputChecked(in model.CreateSandboxInput) (sandboxes.CreateInput, error) {
	out := sandboxes.CreateInput{
		Template:       deref(in.Template),
		Region:         deref(in.Region),
		Regions:        in.Regions,
		Runtime:        string(deref(in.Runtime)),
		TimeoutSeconds: in.TimeoutSeconds,
		VCPUs:          in.Vcpus,
		MemoryMB:       in.MemoryMb,
		DiskMB:         in.DiskMb,
		Env:            toEnv(in.Env),
		Metadata:       in.Metadata,
		MaxLatencyMs:   deref(in.MaxLatencyMs),
	}
	for _, l := range in.NodeSelector {
		if l.Key == "" {
			return out, apperr.New(apperr.InvalidArgument, "nodeSelector has a label without a key")
		}
		if out.Labels == nil {
			out.Labels = map[string]string{}
		}
		out.Labels[l.Key] = l.Value
	}
	if c := in.ClientCoordinate; c != nil {
		coord, err := toCoordinate(c)
		if err != nil {
			return out, err
		}
		out.ClientCoord = coord
	}
	return out, nil
}

// toCoordinate checks a client's coordinate: as many dimensions as the
// servers' (serf's default, 8) and finite values.
func toCoordinate(in *model.CoordinateInput) (*coordinate.Coordinate, error) {
	c := coordinate.NewCoordinate(coordinate.DefaultConfig())
	if len(in.Vec) != len(c.Vec) {
		return nil, apperr.New(apperr.InvalidArgument, "clientCoordinate.vec has %d dimensions; the servers' coordinates have %d", len(in.Vec), len(c.Vec))
	}
	copy(c.Vec, in.Vec)
	c.Error = derefOr(in.Error, c.Error)
	c.Height = derefOr(in.Height, c.Height)
	c.Adjustment = derefOr(in.Adjustment, c.Adjustment)
	if !c.IsValid() {
		return nil, apperr.New(apperr.InvalidArgument, "clientCoordinate has a value that is not a finite number")
	}
	return c, nil
}

func derefOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func toPlacement(p *structs.Placement) *model.Placement {
	if p == nil {
		return nil
	}
	out := &model.Placement{Region: p.Region, NodeID: optString(p.NodeID), Score: p.Score, Examined: p.Examined,
		Feasible: p.Feasible, Attempts: p.Attempts, Excluded: p.Excluded, Explanation: p.Explain(),
		Scores: []*model.PlacementScore{}, RunnersUp: []*model.PlacementCandidate{}, Regions: []*model.PlacementRegion{}}
	if out.Excluded == nil {
		out.Excluded = []string{}
	}
	for _, s := range p.Scores {
		out.Scores = append(out.Scores, &model.PlacementScore{Name: s.Name, Value: s.Value, Weight: s.Weight})
	}
	for _, c := range p.RunnersUp {
		out.RunnersUp = append(out.RunnersUp, &model.PlacementCandidate{NodeID: c.NodeID, Score: c.Score})
	}
	for _, r := range p.Regions {
		out.Regions = append(out.Regions, &model.PlacementRegion{Region: r.Region, LatencyMs: r.LatencyMs, Score: r.Score,
			Reason: optString(r.Reason), Chosen: r.Chosen})
	}
	return out
}
