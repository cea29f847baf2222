package codeint

import "context"

// Placement says where a sandbox was (or would be) placed and why.
type Placement struct {
	Region      string               `json:"region"`
	NodeID      string               `json:"nodeId"` // "" in a preview of another region
	Score       float64              `json:"score"`
	Scores      []PlacementScore     `json:"scores"`
	RunnersUp   []PlacementCandidate `json:"runnersUp"`
	Regions     []PlacementRegion    `json:"regions"`
	Examined    int                  `json:"examined"`
	Feasible    int                  `json:"feasible"`
	Attempts    int                  `json:"attempts"`
	Excluded    []string             `json:"excluded"`
	Explanation string               `json:"explanation"`
}

// PlacementScore is one scorer's verdict in [0, 1] and its weight.
type PlacementScore struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Weight float64 `json:"weight"`
}

// PlacementCandidate is a node compared and not chosen.
type PlacementCandidate struct {
	NodeID string  `json:"nodeId"`
	Score  float64 `json:"score"`
}

// PlacementRegion is one region of the region step.
type PlacementRegion struct {
	Region    string   `json:"region"`
	LatencyMs *float64 `json:"latencyMs"`
	Score     float64  `json:"score"`
	Reason    string   `json:"reason"`
	Chosen    bool     `json:"chosen"`
}

// Coordinate is a network coordinate (Vivaldi, vec in seconds).
type Coordinate struct {
	Vec        []float64 `json:"vec"`
	Error      float64   `json:"error,omitempty"`
	Height     float64   `json:"height,omitempty"`
	Adjustment float64   `json:"adjustment,omitempty"`
}

const placementFields = `fragment PlacementFields on Placement {
  region nodeId score examined feasible attempts excluded explanation
  scores { name value weight }
  runnersUp { nodeId score }
  regions { region latencyMs score reason chosen }
}`

// PlacementPreview places a sandbox without creating it: where it would
// go, and why.
func (c *Client) PlacementPreview(ctx context.Context, in CreateSandboxInput) (*Placement, error) {
	var data struct {
		Placement Placement `json:"placementPreview"`
	}
	q := `query ($input: CreateSandboxInput!) { placementPreview(input: $input) { ...PlacementFields } } ` + placementFields
	if err := c.Do(ctx, q, map[string]any{"input": in}, &data); err != nil {
		return nil, err
	}
	return &data.Placement, nil
}
