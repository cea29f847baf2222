package graph

import (
	"context"
	"fmt"
	"time"
)

// Region is one region of a deployment, as a Catalog reports it.
type Region struct {
	Name          string
	Leader        string   // address of the region's Raft leader; empty when none
	Authoritative bool     // owns the global state
	LatencyMs     *float64 // RTT from the answering server to the region; nil until measured
	LatencySource string   // "vivaldi" or "probe"; "" with no latency
	Healthy       bool
}

// Template is an image sandboxes start from, as a Catalog reports it.
type Template struct {
	Name        string
	Description string
	Languages   []string // values of the Language enum, e.g. "PYTHON"
	// Toolchains say, per language of Languages, its version and whether
	// it compiles.
	Toolchains []Toolchain
}

// Toolchain is one language of a template.
type Toolchain struct {
	Language string
	Version  string
	Compiled bool
}

// UsageReport is a team's usage over [From, To).
type UsageReport struct {
	From, To       time.Time
	SandboxSeconds float64
	Sandboxes      int
	VCPUSeconds    float64
	GiBSeconds     float64
	CostMicros     int64
	Groups         []UsageGroup // with a groupBy
}

// UsageGroup is metered usage of one group of usage(groupBy:).
type UsageGroup struct {
	Key                                                 string
	SandboxSeconds, VCPUSeconds, GiBSeconds, CPUSeconds float64
	CostMicros                                          int64
	Records                                             int
}

// SandboxUsage is what the ledger holds of one sandbox.
type SandboxUsage struct {
	SandboxSeconds, VCPUSeconds, GiBSeconds, CPUSeconds float64
	PeakMemoryBytes, CostMicros                         int64
	Final                                               bool
}

// templates lists the catalog's templates for an authenticated caller:
// what the templates and languages queries both read.
func (r *Resolver) templates(ctx context.Context) ([]Template, error) {
	if _, err := teamID(ctx); err != nil {
		return nil, err
	}
	if r.Catalog == nil {
		return nil, errNotConfigured("the template list")
	}
	templates, err := r.Catalog.Templates(ctx)
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	return templates, nil
}
