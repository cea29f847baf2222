package usage

import (
	"fmt"
	"slices"
	"time"

	"github.com/codeint/codeint/billing"
	"github.com/codeint/codeint/controlplane/state"
	"github.com/codeint/codeint/controlplane/structs"
)

// Account is a team's billing account as it stands: its plan, its balance
// once the ledger's usage is charged, and the verdict of its limits.
type Account struct {
	billing.Account
	Plan    billing.Plan // the account's, or the deployment's default
	Balance billing.Balance
	Budget  billing.BudgetState
}

// accountOf is a team's account, or the empty one of a team that has none
// (the default plan, no limits, no credits).
func accountOf(snap *state.Snapshot, teamID string) billing.Account {
	if a := snap.AccountByTeam(teamID); a != nil {
		return *a
	}
	return billing.Account{TeamID: teamID}
}

// planOf is the plan a team is billed under.
func (s *Service) planOf(snap *state.Snapshot, teamID string) billing.Plan {
	return accountOf(snap, teamID).PlanOr(s.plan)
}

// Account reports a team's account. Usage is charged as this region's
// ledger holds it plus what the other regions last reported (see
// months), calendar month (UTC) by calendar month, the plan's free
// allowance taken from each month first.
func (s *Service) Account(teamID string) (Account, error) {
	snap := s.state.Snapshot()
	return s.view(accountOf(snap, teamID), s.months(snap, teamID))
}

// AccountAs reports a team's account as acct says it is (a change just
// committed, perhaps in another region and not yet copied here), with the
// usage as this server holds it (see Account).
func (s *Service) AccountAs(acct billing.Account) (Account, error) {
	return s.view(acct, s.months(s.state.Snapshot(), acct.TeamID))
}

// view is the account acct once the team's usage, months, is charged.
func (s *Service) view(acct billing.Account, months []*structs.UsageMonth) (Account, error) {
	teamID := acct.TeamID
	plan := acct.PlanOr(s.plan)
	charged, err := charges(plan, months)
	if err != nil {
		return Account{}, fmt.Errorf("account of team %s: %w", teamID, err)
	}
	bal, budget, err := acct.Budget(charged)
	if err != nil {
		return Account{}, fmt.Errorf("account of team %s: %w", teamID, err)
	}
	return Account{Account: acct, Plan: plan, Balance: bal, Budget: budget}, nil
}

// months is a team's usage by calendar month in every region: this
// region's ledger plus the totals the other regions reported (their own
// reports, in the authoritative region; elsewhere, the authoritative
// region's copies). A month's total is summed over the regions before it
// is charged, so that the free allowance is taken once.
func (s *Service) months(snap *state.Snapshot, teamID string) []*structs.UsageMonth {
	local := snap.UsageMonths(teamID)
	reported := snap.RegionUsages(teamID)
	if len(reported) == 0 {
		return local
	}
	byMonth := make(map[int64]*structs.UsageMonth, len(local)) // by the month's first second
	out := make([]*structs.UsageMonth, 0, len(local))
	for _, m := range local {
		c := *m
		byMonth[m.Month.Unix()] = &c
		out = append(out, &c)
	}
	for _, r := range reported {
		if r.Region == s.region {
			continue // this region's own report: its ledger is newer
		}
		m := byMonth[r.Month.Unix()]
		if m == nil {
			m = structs.NewUsageMonth(teamID, r.Month)
			byMonth[r.Month.Unix()] = m
			out = append(out, m)
		}
		m.Plus(r.UsageTotals, 1)
	}
	slices.SortFunc(out, func(a, b *structs.UsageMonth) int { return a.Month.Compare(b.Month) })
	return out
}

// charges is what a team's months cost under the plan, the free
// allowance taken from each month.
func charges(plan billing.Plan, months []*structs.UsageMonth) (int64, error) {
	var total int64
	for _, m := range months {
		c, err := plan.PeriodCharge(quantity(plan, m.UsageTotals))
		if err != nil {
			return 0, fmt.Errorf("month %s: %w", m.Month.Format("2006-01"), err)
		}
		if total+c < total {
			return 0, fmt.Errorf("month %s: %w", m.Month.Format("2006-01"), billing.ErrOverflow)
		}
		total += c
	}
	return total, nil
}

// Budget is where a team stands against its spend limits
// (sandboxes.Budgets).
func (s *Service) Budget(teamID string) (billing.BudgetState, error) {
	a, err := s.Account(teamID)
	return a.Budget, err
}

// Live is a team's cost as it stands at At: the ledger's account plus what
// its running sandboxes have cost since their last metered record, for
// what they hold: what that time adds to the current month's charge, so
// that what is left of the free allowance is taken first. The ledger
// catches up with the estimate as the nodes' records arrive.
type Live struct {
	Account
	At                  time.Time
	RunningSandboxes    int
	UnmeteredMicros     int64 // the running sandboxes' time not yet in the ledger
	LiveBalanceMicros   int64 // the balance less UnmeteredMicros
	BurnMicrosPerSecond int64 // what the running sandboxes cost per second at list price
}

// Live reports a team's cost now.
func (s *Service) Live(teamID string) (Live, error) {
	snap := s.state.Snapshot()
	months := s.months(snap, teamID)
	view, err := s.view(accountOf(snap, teamID), months)
	if err != nil {
		return Live{}, err
	}
	now := s.now()
	l := Live{Account: view, At: now}
	var unmetered, perSecond billing.Quantity
	for _, sb := range snap.SandboxesByTeam(teamID) {
		if sb.State.Terminal() || sb.StartedAt.IsZero() {
			continue
		}
		l.RunningSandboxes++
		from := sb.StartedAt
		if su := snap.SandboxUsage(sb.ID); su != nil && su.Last.After(from) {
			from = su.Last
		}
		ms := max(0, now.Sub(from).Milliseconds())
		unmetered.VCPUMicroseconds += int64(sb.VCPUs*1000) * ms
		unmetered.MiBMilliseconds += int64(sb.MemoryMB) * ms
		perSecond.VCPUMicroseconds += int64(sb.VCPUs * 1e6)
		perSecond.MiBMilliseconds += int64(sb.MemoryMB) * 1000
	}
	if l.UnmeteredMicros, err = addedCharge(view.Plan, months, now, unmetered); err != nil {
		return Live{}, fmt.Errorf("live cost of team %s: %w", teamID, err)
	}
	if l.BurnMicrosPerSecond, err = view.Plan.Price(perSecond); err != nil {
		return Live{}, fmt.Errorf("live cost of team %s: %w", teamID, err)
	}
	l.LiveBalanceMicros = view.Balance.Micros - l.UnmeteredMicros
	return l, nil
}

// addedCharge is what q adds to the charge of the month of now among
// months: nothing while the month's free allowance covers it.
func addedCharge(plan billing.Plan, months []*structs.UsageMonth, now time.Time, q billing.Quantity) (int64, error) {
	var month billing.Quantity
	for _, m := range months {
		if m.Month.Equal(structs.MonthOf(now)) {
			month = quantity(plan, m.UsageTotals)
		}
	}
	before, err := plan.PeriodCharge(month)
	if err != nil {
		return 0, err
	}
	month.VCPUMicroseconds += q.VCPUMicroseconds
	month.MiBMilliseconds += q.MiBMilliseconds
	after, err := plan.PeriodCharge(month)
	if err != nil {
		return 0, err
	}
	return after - before, nil
}
