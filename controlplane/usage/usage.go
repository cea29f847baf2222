package usage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

// Service reports usage.
type Service struct {
	state  *state.Store
	region string // this region: the other regions' reports are added to its ledger
	plan   billing.Plan
	now    func() time.Time
}

// New returns a service over the state st of region that prices with plan.
func New(st *state.Store, region string, plan billing.Plan, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{state: st, region: region, plan: plan, now: now}
}

// Report is a team's usage in a window and what it costs.
type Report struct {
	billing.Report
	CostMicros int64
}

// maxWindow bounds a usage query.
const maxWindow = 366 * 24 * time.Hour

// Usage reports a team's usage in [from, to).
func (s *Service) Usage(_ context.Context, teamID string, from, to time.Time) (Report, error) {
	if to.Sub(from) > maxWindow {
		return Report{}, apperr.New(apperr.InvalidArgument, "the usage window may span at most 366 days")
	}
	var ivs []billing.Interval
	for _, sb := range s.state.Snapshot().SandboxesByTeam(teamID) {
		if iv, ok := interval(sb); ok {
			ivs = append(ivs, iv)
		}
	}
	r, err := billing.Summarize(ivs, from, to, s.now())
	if errors.Is(err, billing.ErrBadWindow) {
		return Report{}, apperr.New(apperr.InvalidArgument, "the usage window must end after it starts (from %s, to %s)",
			from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if err != nil {
		return Report{}, fmt.Errorf("usage of team %s: %w", teamID, err)
	}
	cost, err := s.planOf(s.state.Snapshot(), teamID).Cost(r)
	if err != nil {
		return Report{}, fmt.Errorf("usage of team %s: %w", teamID, err)
	}
	return Report{Report: r, CostMicros: cost}, nil
}

// interval is the time a sandbox held its allocation: from RUNNING until it
// stopped (or now).
func interval(sb *structs.Sandbox) (billing.Interval, bool) {
	if sb.StartedAt.IsZero() {
		return billing.Interval{}, false
	}
	return billing.Interval{SandboxID: sb.ID, TeamID: sb.TeamID, VCPUs: sb.VCPUs, MemoryMB: sb.MemoryMB,
		Start: sb.StartedAt, End: sb.StoppedAt}, true
}

// SandboxUsage is what the ledger holds of one sandbox: its metered
// totals and their cost at list price (no allowance). ok is false before
// its first record, or for another team's sandbox.
func (s *Service) SandboxUsage(_ context.Context, teamID, sandboxID string) (SandboxUsage, bool, error) {
	snap := s.state.Snapshot()
	su := snap.SandboxUsage(sandboxID)
	if su == nil || su.TeamID != teamID {
		return SandboxUsage{}, false, nil
	}
	cost, err := price(s.planOf(snap, teamID), su.UsageTotals)
	if err != nil {
		return SandboxUsage{}, false, fmt.Errorf("usage of sandbox %s: %w", sandboxID, err)
	}
	return SandboxUsage{SandboxUsage: *su, CostMicros: cost}, true, nil
}

// SandboxUsage is a sandbox's ledger total and its cost.
type SandboxUsage struct {
	structs.SandboxUsage
	CostMicros int64
}
