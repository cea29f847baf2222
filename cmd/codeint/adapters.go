package main

import (
	"context"
	"time"

	"github.com/codeint/codeint/controlplane/sandboxes"
	"github.com/codeint/codeint/controlplane/usage"
	"github.com/codeint/codeint/graph"
)

// catalog is the single-region catalog of `codeint dev`.
type catalog struct {
	region    string
	leader    string
	templates []sandboxes.Template
}

func (c catalog) Regions(context.Context) ([]graph.Region, error) {
	return []graph.Region{{Name: c.region, Leader: c.leader, Healthy: true}}, nil
}

func (c catalog) Templates(context.Context) ([]graph.Template, error) {
	out := make([]graph.Template, 0, len(c.templates))
	for _, t := range c.templates {
		g := graph.Template{Name: t.Name, Description: t.Description, Languages: t.Languages}
		for _, tc := range t.Toolchains {
			g.Toolchains = append(g.Toolchains, graph.Toolchain{Language: tc.Language, Version: tc.Version, Compiled: tc.Compiled})
		}
		out = append(out, g)
	}
	return out, nil
}

// usageAdapter serves the usage service's reports to the GraphQL layer.
type usageAdapter struct{ svc *usage.Service }

func (u usageAdapter) Usage(ctx context.Context, teamID string, from, to time.Time) (graph.UsageReport, error) {
	r, err := u.svc.Usage(ctx, teamID, from, to)
	if err != nil {
		return graph.UsageReport{}, err
	}
	return graph.UsageReport{From: r.From, To: r.To, SandboxSeconds: r.SandboxSeconds, Sandboxes: r.Sandboxes,
		VCPUSeconds: r.VCPUSeconds, GiBSeconds: r.GiBSeconds, CostMicros: r.CostMicros}, nil
}
