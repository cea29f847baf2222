package usage

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/apperr"
	"github.com/codeint/codeint/controlplane/structs"
)

// Group is metered usage of one group of a grouped report.
type Group struct {
	Key string
	structs.UsageTotals
	CostMicros int64
}

// Ways to group metered usage.
const (
	ByHour     = "HOUR"
	ByDay      = "DAY"
	BySandbox  = "SANDBOX"
	ByTemplate = "TEMPLATE"
)

// Groups reports a team's metered usage from the ledger, grouped: by HOUR
// or DAY, the hours that start in [from, to); by SANDBOX or TEMPLATE, the
// whole metered lives of the sandboxes with usage in [from, to). Groups
// come by key.
func (s *Service) Groups(teamID string, from, to time.Time, by string) ([]Group, error) {
	snap := s.state.Snapshot()
	groups := map[string]*Group{}
	add := func(key string, t structs.UsageTotals) {
		g := groups[key]
		if g == nil {
			g = &Group{Key: key}
			groups[key] = g
		}
		g.Plus(t, 1)
	}
	switch by {
	case ByHour, ByDay:
		for _, b := range snap.UsageBuckets(teamID, from, to) {
			key := b.Hour.UTC().Format(time.RFC3339)
			if by == ByDay {
				key = b.Hour.UTC().Truncate(24 * time.Hour).Format(time.RFC3339)
			}
			add(key, b.UsageTotals)
		}
	case BySandbox, ByTemplate:
		for _, su := range snap.SandboxUsages(teamID) {
			if !su.Last.After(from) || !su.First.Before(to) {
				continue
			}
			key := su.ID
			if by == ByTemplate {
				key = su.Template
			}
			add(key, su.UsageTotals)
		}
	default:
		return nil, apperr.New(apperr.InvalidArgument, "groupBy %q: want HOUR, DAY, SANDBOX or TEMPLATE", by)
	}
	plan := s.planOf(snap, teamID)
	out := make([]Group, 0, len(groups))
	for _, g := range groups {
		cost, err := price(plan, g.UsageTotals)
		if err != nil {
			return nil, fmt.Errorf("usage of team %s by %s: %w", teamID, by, err)
		}
		g.CostMicros = cost
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b Group) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// price rates metered totals at list price under the plan.
func price(plan billing.Plan, t structs.UsageTotals) (int64, error) {
	return plan.Price(quantity(plan, t))
}

// quantity is what the plan bills of metered totals: the allocated
// amounts, or the larger of allocated and used when the plan says so.
func quantity(plan billing.Plan, t structs.UsageTotals) billing.Quantity {
	vcpu, gib := t.VCPUSeconds, t.GiBSeconds
	if plan.OnMaxOfUsed {
		vcpu, gib = t.MaxVCPUSeconds, t.MaxGiBSeconds
	}
	return billing.Quantity{VCPUMicroseconds: int64(math.Round(vcpu * 1e6)),
		MiBMilliseconds: int64(math.Round(gib * 1024 * 1000))}
}
